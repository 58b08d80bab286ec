"""Decision deadlines: reminders, and what happens when nobody decides in time.

The policy gives each decision kind `remind_after` and `expire_after` with `on_expire`
(`reject` or `pause`); the rule travels in the pending decision's payload (`approval`).
When a run starts waiting, each pending decision is stamped with when it was asked
(`requested_at`, kept across crashes and restarts, reset by a resume) and the times that
follow from it (`remind_at`, `expire_at`); the run row keeps the earliest one still to come
(`deadline_at`), so the watch reads only the runs that are due.

The watch (the manager's, every second) moves a due run's `deadline_at` on with a
compare-and-set before acting, so on PostgreSQL exactly one worker acts on each deadline,
and a run whose deadline another worker moved is left alone. Then, per decision:

- reminder due and not sent since the decision was asked: a `decision.reminder` event (which
  notifies the same channels as the request);
- expiry due: a `decision.expired` event by "deadline", then `reject` answers the decision
  as a rejection by "deadline" (the run's audit records it like any decision), or `pause`
  pauses the run; a resume asks again, with fresh deadlines.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from enigma.runs.decisions import DecisionError, decide
from enigma.runs.models import PendingDecision, RunRecord
from enigma.runs.store import IllegalTransition, StoreUnavailable

if TYPE_CHECKING:
    from enigma.runs.manager import RunManager

__all__ = ["check_deadlines", "clear_deadlines", "next_deadline", "stamp_deadlines"]

log = logging.getLogger("enigma.runs")

DEADLINE_ACTOR = "deadline"
_STAMPS = ("requested_at", "remind_at", "expire_at")


def stamp_deadlines(
    pending: list[PendingDecision], before: list[PendingDecision], now: float
) -> tuple[list[PendingDecision], float | None]:
    """Pending decisions with their deadlines, and the run's next one (None: no deadline).

    A decision that was already waiting (`before`) keeps the time it was first asked.
    """
    asked = {p.interrupt_id: p.payload.get("requested_at") for p in before}
    stamped = []
    for p in pending:
        rule = p.payload.get("approval") or {}
        requested = float(asked.get(p.interrupt_id) or now)
        payload: dict[str, Any] = {**p.payload, "requested_at": requested}
        if rule.get("remind_after"):
            payload["remind_at"] = requested + float(rule["remind_after"])
        if rule.get("expire_after") and rule.get("on_expire"):
            payload["expire_at"] = requested + float(rule["expire_after"])
        stamped.append(p.model_copy(update={"payload": payload}))
    return stamped, next_deadline(stamped, set())


def clear_deadlines(pending: list[PendingDecision]) -> list[PendingDecision]:
    """Pending decisions without their stamps: they are asked afresh (a resume)."""
    return [
        p.model_copy(update={"payload": {k: v for k, v in p.payload.items() if k not in _STAMPS}})
        for p in pending
    ]


def next_deadline(pending: list[PendingDecision], reminded: set[str]) -> float | None:
    """The earliest reminder not yet sent, or expiry, among `pending`."""
    moments = [
        float(p.payload["remind_at"])
        for p in pending
        if p.payload.get("remind_at") and p.interrupt_id not in reminded
    ]
    moments += [float(p.payload["expire_at"]) for p in pending if p.payload.get("expire_at")]
    return min(moments, default=None)


async def check_deadlines(manager: RunManager, now: float | None = None) -> int:
    """Send due reminders and expire due decisions; returns how many runs were acted on."""
    now = time.time() if now is None else now
    try:
        due = await manager.store.due_deadlines(now)
    except StoreUnavailable:
        return 0  # the outage is reported elsewhere; deadlines wait for the store
    acted = 0
    for run in due:
        try:
            acted += await _act(manager, run, now)
        except StoreUnavailable:
            return acted
        except Exception:  # one run's trouble must not stop the others' deadlines
            log.exception("run %s: acting on its decision deadline failed", run.id)
    return acted


async def _act(manager: RunManager, run: RunRecord, now: float) -> int:
    reminded = await _reminded(manager, run)
    expired = [p for p in run.pending if float(p.payload.get("expire_at") or now + 1) <= now]
    remind = [
        p
        for p in run.pending
        if p not in expired
        and float(p.payload.get("remind_at") or now + 1) <= now
        and p.interrupt_id not in reminded
    ]
    rest = [p for p in run.pending if p not in expired]
    upcoming = next_deadline(rest, reminded | {p.interrupt_id for p in remind})
    assert run.deadline_at is not None  # due_deadlines returns only runs that have one
    if not await manager.store.move_deadline(run.id, run.deadline_at, upcoming):
        return 0  # another worker (or a decision) moved it first
    for p in remind:
        await manager.hub.emit(
            run.id,
            "decision.reminder",
            {
                "kind": p.kind,
                "interrupt_id": p.interrupt_id,
                "expire_at": p.payload.get("expire_at"),
            },
            actor=DEADLINE_ACTOR,
        )
    for p in expired:
        await _expire(manager, run, p)
    return 1


async def _reminded(manager: RunManager, run: RunRecord) -> set[str]:
    """Decisions already reminded of since they were (last) asked."""
    asked = {p.interrupt_id: float(p.payload.get("requested_at") or 0) for p in run.pending}
    events = await manager.store.events(run.id, limit=100_000, types={"decision.reminder"})
    return {
        str(e.data.get("interrupt_id"))
        for e in events
        if e.at >= asked.get(str(e.data.get("interrupt_id")), float("inf"))
    }


async def _expire(manager: RunManager, run: RunRecord, pending: PendingDecision) -> None:
    rule = pending.payload.get("approval") or {}
    action = str(rule.get("on_expire") or "reject")
    after = float(rule.get("expire_after") or 0)
    why = f"no decision on the {pending.kind} within {after:g}s"
    await manager.hub.emit(
        run.id,
        "decision.expired",
        {"kind": pending.kind, "interrupt_id": pending.interrupt_id, "action": action},
        actor=DEADLINE_ACTOR,
    )
    try:
        if action == "pause":
            await manager.set_status(
                run.id, "paused", actor=DEADLINE_ACTOR, reason=f"{why}; resume to ask again"
            )
        else:
            await decide(
                manager,
                run.id,
                "reject",
                DEADLINE_ACTOR,
                comment=why,
                interrupt_id=pending.interrupt_id,
            )
    except DecisionError as exc:  # answered or cancelled meanwhile: nothing left to expire
        log.info("run %s: %s expired but %s", run.id, pending.kind, exc.message)
    except IllegalTransition:
        log.info("run %s: %s expired as the run moved on", run.id, pending.kind)

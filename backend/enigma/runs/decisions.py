"""Decisions: which pending question an action answers, and answers that survive crashes.

A decision is recorded in the event log first (`decision.made`, with the interrupt id), then
sent with `Command(resume={interrupt_id: answer})`. LangGraph keeps a resume value only once
the resumed node has finished, so after a crash in between the interrupt is pending again;
every execution therefore re-sends the recorded answers of the interrupts that are still
pending (`recorded_answers`), and a decision survives any crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from enigma.runs.models import PendingDecision, RunRecord

if TYPE_CHECKING:
    from enigma.runs.manager import RunManager

__all__ = [
    "ACTION_KINDS",
    "DecisionError",
    "UnknownRun",
    "decide",
    "pending_from",
    "recorded_answers",
]

# Which pending decision each API action answers, and the value the graph receives.
ACTION_KINDS: dict[str, dict[str, str]] = {
    "approve": {"plan_approval": "approve", "release_approval": "approve"},
    "reject": {
        "plan_approval": "reject",
        "release_approval": "reject",
        "conflict": "abort",
        "error": "abort",
    },
    "amend": {"plan_approval": "amend"},
    "retry": {"error": "retry"},
    "skip": {"error": "skip", "conflict": "skip"},
    "abort": {"error": "abort", "conflict": "abort"},
}


class UnknownRun(KeyError):
    """No run has that id."""


class DecisionError(Exception):
    """A command the run cannot take now (`status` says which HTTP answer fits)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


async def decide(
    manager: RunManager,
    run_id: str,
    action: str,
    actor: str,
    comment: str = "",
    exclude: dict[str, list[str]] | None = None,
    interrupt_id: str | None = None,
) -> RunRecord:
    """Answer a pending decision (approve, reject, amend, retry, skip, abort)."""
    run = await manager.get(run_id)
    if not run.pending or run.status not in ("waiting_for_approval", "queued", "running"):
        raise DecisionError(
            409, f"run {run_id} is {run.status}; there is no decision waiting for {action}"
        )
    accepted = ACTION_KINDS.get(action)
    if accepted is None:
        raise DecisionError(422, f"action {action!r} is not one of {sorted(ACTION_KINDS)}")
    pending = _pick(run, action, accepted, interrupt_id)
    value = accepted[pending.kind]
    if value not in pending.choices:
        raise DecisionError(
            409, f"the pending {pending.kind} decision accepts {pending.choices}, not {value}"
        )
    approving = pending.kind.endswith("approval") and action == "approve"
    if manager.limits.four_eyes and approving and actor == run.actor:
        raise DecisionError(
            403, f"four-eyes rule: {actor} started run {run_id} and may not approve it"
        )
    answer = {"action": value, "actor": actor, "comment": comment, "exclude": exclude or {}}
    await manager.hub.emit(
        run_id,
        "decision.made",
        {
            "kind": pending.kind,
            "action": value,
            "comment": comment,
            "interrupt_id": pending.interrupt_id,
            "exclude": exclude or {},
        },
        actor=actor,
    )
    # The answer is in the log: whichever execution (of whichever worker) comes next sends it.
    # The status is read again *after* that write: an execution that is settling writes
    # "waiting" first and reads the log second, so one of the two always sees the other.
    fresh = await manager.get(run_id)
    rest = [p for p in fresh.pending if p.interrupt_id != pending.interrupt_id]
    if fresh.status == "waiting_for_approval":
        queued = await manager.set_status(
            run_id, "queued", actor=actor, reason=f"{pending.kind}: {value}", pending=rest
        )
        await manager.scheduler.schedule(run_id, {pending.interrupt_id: answer})
        return queued
    # executing (or about to): the execution resumes this answer when it next settles
    await manager.store.update(run_id, pending=rest)
    return await manager.get(run_id)


def _pick(
    run: RunRecord, action: str, accepted: dict[str, str], interrupt_id: str | None
) -> PendingDecision:
    for pending in run.pending:
        if interrupt_id is not None and pending.interrupt_id != interrupt_id:
            continue
        if pending.kind in accepted:
            return pending
    if interrupt_id is not None and all(p.interrupt_id != interrupt_id for p in run.pending):
        raise DecisionError(409, f"run {run.id} has no pending decision {interrupt_id}")
    kinds = ", ".join(p.kind for p in run.pending)
    raise DecisionError(409, f"run {run.id} waits for {kinds}; {action} does not answer it")


async def recorded_answers(manager: RunManager, run_id: str, pending: set[str]) -> dict[str, Any]:
    """Decisions in the event log for interrupts the checkpoint still shows as pending."""
    if not pending:
        return {}
    answers: dict[str, Any] = {}
    for event in await manager.store.events(run_id, limit=1_000_000, types={"decision.made"}):
        interrupt_id = event.data.get("interrupt_id")
        if event.type == "decision.made" and interrupt_id in pending:
            answers[str(interrupt_id)] = {
                "action": event.data.get("action"),
                "actor": event.actor or "someone",
                "comment": event.data.get("comment") or "",
                "exclude": event.data.get("exclude") or {},
            }
    return answers


def pending_from(interrupt_id: str, value: Any) -> PendingDecision:
    """The pending decision an interrupt's value describes."""
    if not isinstance(value, dict):
        return PendingDecision(
            interrupt_id=interrupt_id, kind="decision", choices=[], payload={"value": value}
        )
    return PendingDecision(
        interrupt_id=interrupt_id,
        kind=str(value.get("kind", "decision")),
        choices=[str(c) for c in value.get("choices", [])],
        payload=value,
    )

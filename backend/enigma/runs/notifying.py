"""Which events tell people something, and the outbox rows that carry it.

The event hub asks `Notifications.rows_for` before it appends an event; what comes back (a
function of the stored event) gives the outbox rows, which the store writes in the same
transaction as the event. So a notification exists exactly when its event does: none is lost
to a crash between the two, and none is sent for an event that was never recorded.

Events that notify:

- `decision.requested` -> decision.requested (what, who may decide, the deadline);
- `decision.reminder` / `decision.expired` (written by the deadline watch, `deadlines.py`);
- `decision.made`, when it settles the decision (not each approval short of the number);
- `run.finished` -> run.finished, or run.failed for a failed outcome;
- `run.status` to failed without an outcome (the run stopped on an error) -> run.failed.

The notification's id is the event's (`{run id}.{event id}`): stable, so the outbox insert is
idempotent and receivers de-duplicate on it.

`StoreOutbox` is the run store seen as the sender's `Outbox` (claims with a lease, results);
`Delivery` switches it all on for a manager: the hub's notifications and this process's
sender (on PostgreSQL every worker runs one; claims make each row go out from one worker).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from enigma.notify.channels import build_notifiers, check_labels, fan_out
from enigma.notify.config import ChannelConfig
from enigma.notify.message import (
    DecisionInfo,
    Notification,
    Outcome,
    OutcomeStatus,
    RunRef,
    decision_expired,
    decision_made,
    decision_reminder,
    decision_requested,
    pending_decision,
    run_failed,
    run_finished,
)
from enigma.notify.outbox import OutboxEntry, OutboxItem
from enigma.notify.sender import RetryPolicy, Sender
from enigma.runs.models import EventRecord, PendingDecision, RunRecord
from enigma.runs.store import Notify, RunStore

if TYPE_CHECKING:
    from enigma.runs.hub import EventHub

__all__ = ["Delivery", "Notifications", "StoreOutbox", "decision_summary"]

Build = Callable[[str, float], Notification]
"""A notification from the event's id and time (known once the event is written)."""

log = logging.getLogger("enigma.notify")

NOTIFYING = frozenset(
    {
        "decision.requested",
        "decision.reminder",
        "decision.made",
        "decision.expired",
        "run.finished",
        "run.status",
    }
)
"""Event types that may notify (the rest never cost a read)."""

_OUTCOMES = frozenset(
    {"succeeded", "partial", "planned", "failed", "rejected", "refused", "cancelled"}
)


def decision_summary(kind: str, payload: dict[str, Any], fix_version: str) -> str:
    """One line saying what a pending decision is about."""
    if kind == "plan_approval":
        plan = payload.get("plan") or {}
        repos = len(plan.get("repositories") or [])
        tickets = len(plan.get("tickets") or [])
        return (
            f"Approve the release plan for {fix_version}: {repos} repositories, {tickets} tickets"
        )
    if kind == "release_approval":
        will = payload.get("will") or {}
        merges = len(will.get("merge") or [])
        tickets = len(will.get("tickets") or [])
        left = len(will.get("left_out") or [])
        text = f"Approve releasing {fix_version}: {merges} pull requests, {tickets} tickets"
        return text + (f"; {left} left out" if left else "")
    if kind == "conflict":
        return (
            f"Merge conflict in {payload.get('repo')}: {payload.get('branch')} does not merge "
            f"into {payload.get('release_branch')}; skip it or abort"
        )
    if kind == "error":
        error = payload.get("error") or {}
        return f"{error.get('step', 'a step')} failed: {error.get('message', 'an error')}"
    return f"{kind} for {fix_version}"


def decision_info(run: RunRecord, pending: PendingDecision) -> DecisionInfo:
    """The decision as notifications describe it: from the run's pending decision."""
    rule = pending.payload.get("approval") or {}
    on_expire = rule.get("on_expire")
    return pending_decision(
        pending.kind,
        decision_summary(pending.kind, pending.payload, run.fix_version),
        list(pending.choices),
        roles=[str(r) for r in rule.get("roles") or []] or ["approver"],
        required=int(rule.get("approvers") or 1),
        deadline=pending.payload.get("expire_at"),
        on_expiry=on_expire if on_expire in ("reject", "pause") else None,
    )


def _outcome(status: str, data: dict[str, Any]) -> Outcome:
    detail = data.get("detail") or {}
    left = [
        f"{s.get('repo')}: {s.get('branch') or 'the repository'} ({s.get('reason')})"
        for s in detail.get("left_out") or []
        if isinstance(s, dict)
    ]
    left += [f"ticket {k} not shipped" for k in detail.get("not_shipped") or []]
    return Outcome(
        status=cast(OutcomeStatus, status),
        reason=str(data.get("reason") or ""),
        pull_requests={str(k): str(v) for k, v in (detail.get("pull_requests") or {}).items()},
        notes_url=detail.get("notes"),
        left_out=left,
    )


class Notifications:
    """The configured channels, and what each event tells them (see the module docstring)."""

    def __init__(self, channels: Sequence[ChannelConfig], base_url: str):
        self.channels = list(channels)
        self.base_url = base_url

    def __bool__(self) -> bool:
        return bool(self.channels)

    async def rows_for(
        self,
        store: RunStore,
        run_id: str,
        type: str,
        data: dict[str, Any],
        actor: str | None,
    ) -> Notify | None:
        """The outbox rows an event about to be appended causes, as a function of the event."""
        if not self.channels or type not in NOTIFYING:
            return None
        if type == "run.status" and data.get("to") != "failed":
            return None
        if type == "decision.made" and data.get("partial"):
            return None
        run = await store.get(run_id)
        if run is None:
            return None
        build = self._builder(run, type, data, actor)
        if build is None:
            return None

        def rows(event: EventRecord) -> list[OutboxEntry]:
            notification = build(f"{event.run_id}.{event.id}", event.at)
            return fan_out(notification, self.channels)

        return rows

    def _builder(
        self, run: RunRecord, type: str, data: dict[str, Any], actor: str | None
    ) -> Build | None:
        ref = RunRef(
            run_id=run.id,
            fix_version=run.fix_version,
            release_type=run.release_type,
            repositories=list(run.repositories),
        )
        base = self.base_url
        if type.startswith("decision."):
            found = next(
                (p for p in run.pending if p.interrupt_id == data.get("interrupt_id")), None
            )
            if found is None:
                return None
            info = decision_info(run, found)
            if type == "decision.requested":
                return lambda eid, at: decision_requested(eid, at, ref, info, base_url=base)
            if type == "decision.reminder":
                return lambda eid, at: decision_reminder(eid, at, ref, info, base_url=base)
            if type == "decision.expired":
                action = cast(Literal["reject", "pause"], data.get("action", "reject"))
                return lambda eid, at: decision_expired(
                    eid, at, ref, info, action=action, base_url=base
                )
            return lambda eid, at: decision_made(
                eid,
                at,
                ref,
                info,
                action=str(data.get("action")),
                actor=actor or "unknown",
                comment=str(data.get("comment") or "") or None,
                base_url=base,
            )
        if type == "run.status":  # failed without an outcome: stopped on an error
            if run.outcome is not None:
                return None  # the run.finished event that follows says it
            failed = Outcome(status="failed", reason=run.error or str(data.get("reason") or ""))
            return lambda eid, at: run_failed(eid, at, ref, failed, base_url=base)
        status = str(data.get("outcome"))
        if status not in _OUTCOMES:
            return None
        outcome = _outcome(status, data)
        if status == "failed":
            return lambda eid, at: run_failed(eid, at, ref, outcome, base_url=base)
        return lambda eid, at: run_finished(eid, at, ref, outcome, actor=actor, base_url=base)


class StoreOutbox:
    """The run store as the sender's `Outbox`: due rows claimed for `lease` seconds."""

    def __init__(self, store: RunStore, lease: float):
        self.store = store
        self.lease = lease

    async def due(self, now: float, limit: int) -> list[OutboxItem]:
        return await self.store.outbox_due(now, limit, self.lease)

    async def delivered(self, item_id: str, attempts: int, at: float) -> None:
        await self.store.outbox_result(item_id, "delivered", attempts, at=at)

    async def retry_later(self, item_id: str, attempts: int, next_at: float, error: str) -> None:
        await self.store.outbox_result(item_id, "pending", attempts, next_at=next_at, error=error)

    async def undeliverable(self, item_id: str, attempts: int, error: str) -> None:
        await self.store.outbox_result(item_id, "undeliverable", attempts, error=error)


class Delivery:
    """Notifications switched on: the hub writes outbox rows, a sender delivers them."""

    def __init__(
        self,
        channels: Sequence[ChannelConfig],
        base_url: str,
        *,
        retry: RetryPolicy | None = None,
        poll_interval: float = 5.0,
    ):
        check_labels(channels)
        self.notifications = Notifications(channels, base_url)
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.sender: Sender | None = None

    def start(self, store: RunStore, hub: EventHub) -> None:
        """Write outbox rows from now on, and deliver them (this process's sender)."""
        notifiers = build_notifiers(self.notifications.channels)
        outbox = StoreOutbox(store, lease=30.0)
        self.sender = Sender(outbox, notifiers, policy=self.retry, poll_interval=self.poll_interval)
        outbox.lease = max(outbox.lease, 2 * self.sender.max_send_seconds)
        hub.notifications = self.notifications
        hub.outbox_written = self.sender.wake
        self.sender.start()

    async def stop(self) -> None:
        """Finish the sends in flight; what is left goes out after the next start."""
        if self.sender is not None:
            await self.sender.stop()

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
from enigma.runs.store import WAITING, IllegalTransition

if TYPE_CHECKING:
    from enigma.runs.manager import RunManager

__all__ = [
    "ACTION_KINDS",
    "DecisionError",
    "UnknownRun",
    "approvals_so_far",
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
    roles: frozenset[str] | None = None,
) -> RunRecord:
    """Answer a pending decision (approve, reject, amend, retry, skip, abort).

    The pending decision says, from the run's policy, which roles may answer it, whether the
    starter may approve (four-eyes), and how many distinct people must approve: each approval
    short of that number is recorded (and shown on the pending decision) and the run waits on;
    the last one resumes the run with every approver named. Any allowed person's rejection
    resumes it at once.
    """
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
    rule = pending.payload.get("approval") or {}
    allowed = [str(r) for r in rule.get("roles") or []]
    # amending sends the plan back for planning: not an answer the policy's roles govern
    if roles is not None and allowed and action != "amend" and roles.isdisjoint(allowed):
        raise DecisionError(
            403,
            f"{actor} ({', '.join(sorted(roles)) or 'no role'}) may not answer the "
            f"{pending.kind}; the release policy lets {', '.join(allowed)} answer it",
        )
    approving = pending.kind.endswith("approval") and action == "approve"
    four_eyes = bool(rule.get("four_eyes", manager.limits.four_eyes))
    if four_eyes and approving and actor == run.actor:
        raise DecisionError(
            403, f"four-eyes rule: {actor} started run {run_id} and may not approve it"
        )
    answer: dict[str, Any] = {
        "action": value,
        "actor": actor,
        "comment": comment,
        "exclude": exclude or {},
    }
    needed = int(rule.get("approvers") or 1)
    if approving and needed > 1:
        before = (await approvals_so_far(manager, run_id)).get(pending.interrupt_id, [])
        if actor in before:
            raise DecisionError(
                409,
                f"{actor} already approved this {pending.kind}; it takes {needed} different "
                f"approvers ({', '.join(before)} so far)",
            )
        answer["approvers"] = [*before, actor]
        if len(answer["approvers"]) < needed:
            return await _one_more_approval(manager, run, pending, answer, needed)
    await manager.hub.emit(
        run_id,
        "decision.made",
        {
            "kind": pending.kind,
            "action": value,
            "comment": comment,
            "interrupt_id": pending.interrupt_id,
            "exclude": exclude or {},
            "approvers": answer.get("approvers") or [actor],
        },
        actor=actor,
    )
    # The answer is in the log: whichever execution (of whichever worker) comes next sends it.
    # The status is read again *after* that write: an execution that is settling writes
    # "waiting" first and reads the log second, so one of the two always sees the other.
    # Both may see the other (settle wrote "waiting" and then read this answer): the move
    # from "waiting" is then raced for, and only its winner sends the answer on.
    fresh = await manager.get(run_id)
    rest = [p for p in fresh.pending if p.interrupt_id != pending.interrupt_id]
    if fresh.status == "waiting_for_approval":
        try:
            queued = await manager.set_status(
                run_id,
                "queued",
                actor=actor,
                reason=f"{pending.kind}: {value}",
                only_from=WAITING,
                pending=rest,
            )
        except IllegalTransition:
            pass  # the settling execution took the answer up itself
        else:
            await manager.scheduler.schedule(run_id, {pending.interrupt_id: answer})
            return queued
    # executing (or about to): the execution resumes this answer when it next settles
    await manager.store.update(run_id, pending=rest)
    return await manager.get(run_id)


async def _one_more_approval(
    manager: RunManager,
    run: RunRecord,
    pending: PendingDecision,
    answer: dict[str, Any],
    needed: int,
) -> RunRecord:
    """Record an approval short of the number the policy asks for; the run waits on."""
    approvers = list(answer["approvers"])
    await manager.hub.emit(
        run.id,
        "decision.made",
        {
            "kind": pending.kind,
            "action": answer["action"],
            "comment": answer["comment"],
            "interrupt_id": pending.interrupt_id,
            "partial": True,
            "approvers": approvers,
            "required": needed,
        },
        actor=answer["actor"],
    )
    updated = [
        p.model_copy(update={"payload": {**p.payload, "approved_by": approvers}})
        if p.interrupt_id == pending.interrupt_id
        else p
        for p in run.pending
    ]
    await manager.store.update(run.id, pending=updated)
    return await manager.get(run.id)


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
        if interrupt_id in pending and not event.data.get("partial"):
            answers[str(interrupt_id)] = {
                "action": event.data.get("action"),
                "actor": event.actor or "someone",
                "comment": event.data.get("comment") or "",
                "exclude": event.data.get("exclude") or {},
                "approvers": event.data.get("approvers") or [],
            }
    return answers


async def approvals_so_far(manager: RunManager, run_id: str) -> dict[str, list[str]]:
    """Per pending interrupt, who has approved it so far (decisions that take several people)."""
    found: dict[str, list[str]] = {}
    for event in await manager.store.events(run_id, limit=1_000_000, types={"decision.made"}):
        if event.data.get("partial"):
            found[str(event.data.get("interrupt_id"))] = list(event.data.get("approvers") or [])
    return found


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

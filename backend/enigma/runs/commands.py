"""Commands on runs: start, pause, resume, cancel, re-run, history.

Each command writes what it decided to the run's record and the event log before it asks the
scheduler to act, so whichever execution (of whichever worker) comes next finds it there.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from enigma.runs.deadlines import clear_deadlines
from enigma.runs.decisions import DecisionError
from enigma.runs.execution import thread_config
from enigma.runs.models import ACTIVE, RunRecord, RunRequest
from enigma.runs.store import VersionBusy

if TYPE_CHECKING:
    from enigma.runs.manager import RunManager

__all__ = ["cancel", "history", "pause", "rerun", "resume", "start"]


async def start(
    m: RunManager, request: RunRequest, actor: str, idempotency_key: str | None = None
) -> tuple[RunRecord, bool]:
    """Create a run and queue it; the same idempotency key returns the same run.

    Keys are scoped to the caller (one user's key never returns another user's run), and a
    key reused with a different request is refused (409) rather than silently answered with
    a run that is not the one asked for.
    """
    if m.limits.four_eyes and request.policy.auto_approve:
        raise DecisionError(
            403,
            "four-eyes rule: policy.auto_approve would let the starter's run approve "
            "itself; start it without auto_approve and let someone else approve",
        )
    if m.repositories is not None:
        unknown = [r for r in request.repositories if r not in m.repositories]
        if unknown:
            raise DecisionError(
                422,
                f"repositories: unknown repository {', '.join(unknown)}; "
                f"configured: {', '.join(m.repositories)}",
            )
    now = time.time()
    policy_hash = await m.keep_policy()
    run = RunRecord(
        id=f"run-{uuid.uuid4().hex[:12]}",
        status="queued",
        fix_version=request.fix_version,
        release_type=request.release_type,
        repositories=request.repositories,
        sprint_name=request.sprint_name,
        dry_run=request.dry_run,
        actor=actor,
        created_at=now,
        updated_at=now,
        request=request.model_dump(),
        policy_hash=policy_hash,
    )
    key = None if idempotency_key is None else f"{actor}\n{idempotency_key}"
    try:
        run, created = await m.store.create(run, key)
    except VersionBusy as busy:
        raise DecisionError(409, _busy(busy)) from None
    if not created:
        if run.request != request.model_dump():
            raise DecisionError(
                409,
                f"Idempotency-Key {idempotency_key!r} was used for run {run.id} with a "
                "different request; use a new key for a new run",
            )
        return run, False
    await m.hub.emit(run.id, "run.created", {"request": run.request}, actor=actor)
    await m.scheduler.schedule(run.id)
    return run, True


async def pause(m: RunManager, run_id: str, actor: str) -> RunRecord:
    """Stop at the next step boundary (a queued run simply does not start)."""
    run = await m.get(run_id)
    if run.status == "queued":  # an execution about to start finds it paused and does nothing
        return await m.set_status(run_id, "paused", actor=actor, reason="paused before start")
    if run.status != "running":
        raise DecisionError(
            409, f"run {run_id} is {run.status}; only a running or queued run can be paused"
        )
    await m.hub.emit(run_id, "run.pause_requested", actor=actor)
    await m.scheduler.pause(run_id)
    return await m.get(run_id)


async def resume(m: RunManager, run_id: str, actor: str) -> RunRecord:
    """Continue a paused (or failed) run from its last checkpoint."""
    run = await m.get(run_id)
    if run.status not in ("paused", "failed"):
        raise DecisionError(
            409, f"run {run_id} is {run.status}; only a paused or failed run can be resumed"
        )
    if run.outcome is not None:
        raise DecisionError(
            409,
            f"run {run_id} ended ({run.outcome}: {run.error}); "
            "re-run it from a checkpoint of its history instead",
        )
    try:
        queued = await m.set_status(
            run_id,
            "queued",
            actor=actor,
            reason="resumed",
            error=None,
            pending=clear_deadlines(run.pending),  # asked again, with fresh deadlines
        )
    except VersionBusy as busy:
        raise DecisionError(409, _busy(busy)) from None
    await m.scheduler.schedule(run_id)
    return queued


async def cancel(m: RunManager, run_id: str, actor: str) -> RunRecord:
    """Stop the run now and for good: once this returns, no new external call starts."""
    run = await m.get(run_id)
    if run.status in ("succeeded", "cancelled") or run.outcome is not None:
        raise DecisionError(409, f"run {run_id} is {run.status}; it cannot be cancelled")
    in_flight = m.scheduler.pool.get(run_id)
    steps = in_flight.in_flight() if in_flight is not None else []
    await m.scheduler.cancel(run_id)
    run = await m.get(run_id)
    if run.status == "cancelled":
        return run
    when = time.time()
    reason = f"cancelled by {actor}"
    if steps:
        reason += f" while {', '.join(steps)} {'was' if len(steps) == 1 else 'were'} in flight"
    detail: dict[str, Any] = {"by": actor, "at": when, "in_flight": steps}
    run = await m.set_status(
        run_id,
        "cancelled",
        actor=actor,
        reason=reason,
        finished_at=when,
        pending=[],
        outcome="cancelled",
        error=None,
        detail=detail,
    )
    await m.hub.emit(run_id, "run.finished", {"outcome": "cancelled", "reason": reason, **detail})
    return run


async def history(m: RunManager, run_id: str) -> list[dict[str, Any]]:
    """The run's checkpoints, newest first."""
    await m.get(run_id)
    out = []
    async for snap in m.graph.aget_state_history(thread_config(run_id)):
        metadata = snap.metadata or {}
        out.append(
            {
                "checkpoint_id": snap.config["configurable"]["checkpoint_id"],
                "step": metadata.get("step"),
                "source": metadata.get("source"),
                "created_at": snap.created_at,
                "next": list(snap.next),
                "current_step": snap.values.get("current_step"),
            }
        )
    return out


async def rerun(
    m: RunManager, run_id: str, checkpoint_id: str, reason: str, actor: str
) -> RunRecord:
    """Run again from a chosen checkpoint (a durable fork of the thread), with a reason.

    The fork (`aupdate_state`) is written before the run is queued, so a crash cannot lose
    where to start from.
    """
    run = await m.get(run_id)
    if run.status in ACTIVE:
        raise DecisionError(409, f"run {run_id} is {run.status}; pause or cancel it first")
    if checkpoint_id not in {h["checkpoint_id"] for h in await history(m, run_id)}:
        raise DecisionError(404, f"run {run_id} has no checkpoint {checkpoint_id}")
    config = thread_config(run_id)
    config["configurable"].update(checkpoint_ns="", checkpoint_id=checkpoint_id)
    forked = await m.graph.aupdate_state(config, None)
    await m.hub.emit(
        run_id,
        "run.rerun",
        {
            "checkpoint_id": checkpoint_id,
            "fork": forked["configurable"].get("checkpoint_id"),
            "reason": reason,
        },
        actor=actor,
    )
    try:
        queued = await m.set_status(
            run_id,
            "queued",
            actor=actor,
            reason=f"re-run: {reason}",
            pending=[],
            error=None,
            finished_at=None,
            outcome=None,
            detail={},
        )
    except VersionBusy as busy:
        raise DecisionError(409, _busy(busy)) from None
    await m.scheduler.schedule(run_id)
    return queued


def _busy(busy: VersionBusy) -> str:
    return (
        f"run {busy.run_id} is already releasing {busy.fix_version} ({busy.status}); "
        f"follow it (GET /api/runs/{busy.run_id}), or cancel it before starting another"
    )

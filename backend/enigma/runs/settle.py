"""After the graph stopped: the run waits for a human, ended, or stopped early; write it down.

A run waiting for decisions gets them listed (`pending`) with their deadlines stamped
(`deadlines.py`), and a `decision.requested` event for each that was not asked yet (after a
resume it is asked again; after a crash recovery nobody is asked twice). A run that ended gets
its outcome and a `run.finished` event; a graph that stopped short leaves the run failed with
"resume to continue".
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from enigma.runs.deadlines import stamp_deadlines
from enigma.runs.decisions import approvals_so_far, pending_from, recorded_answers
from enigma.runs.store import WAITING, IllegalTransition

if TYPE_CHECKING:
    from enigma.runs.manager import RunManager

__all__ = ["OUTCOME_STATUS", "settle"]

OUTCOME_STATUS = {
    "succeeded": "succeeded",
    "partial": "succeeded",
    "planned": "succeeded",
    "cancelled": "cancelled",
    "rejected": "cancelled",
    "refused": "cancelled",
    "failed": "failed",
}


async def settle(m: RunManager, run_id: str) -> bool:
    """After the graph stopped: waiting for a human, finished, or stopped early.

    Returns True when a pending decision was already answered (while the graph ran):
    then the run goes on at once instead of waiting.
    """
    snapshot = await m.graph.aget_state({"configurable": {"thread_id": run_id}})
    if snapshot.interrupts:
        run = await m.get(run_id)
        so_far = await approvals_so_far(m, run_id)
        pending, deadline = stamp_deadlines(
            [
                pending_from(i.id, {**i.value, "approved_by": so_far[i.id]})
                if i.id in so_far and isinstance(i.value, dict)
                else pending_from(i.id, i.value)
                for i in snapshot.interrupts
            ],
            run.pending,
            time.time(),
        )
        await m.set_status(
            run_id,
            "waiting_for_approval",
            reason=", ".join(p.kind for p in pending),
            pending=pending,
            deadline_at=deadline,
        )
        asked = await _requested(m, run_id)
        for p in pending:
            # asked again after a resume (fresh stamps); a crash recovery asks nobody twice
            if asked.get(p.interrupt_id, -1.0) < p.payload["requested_at"]:
                await m.hub.emit(
                    run_id,
                    "decision.requested",
                    {"kind": p.kind, "choices": p.choices, "interrupt_id": p.interrupt_id},
                )
        # read the log only after "waiting" is written (see decisions.decide)
        answered = await recorded_answers(m, run_id, {p.interrupt_id for p in pending})
        if not answered:
            return False
        rest = [p for p in pending if p.interrupt_id not in answered]
        try:  # raced with the decider (decisions.decide): one of the two sends the answer on
            await m.set_status(
                run_id, "queued", reason="answered meanwhile", only_from=WAITING, pending=rest
            )
        except IllegalTransition:
            return False  # the decider queued it: whoever claims it executes it, once
        await m.set_status(run_id, "running", reason="executing")
        return True
    values = snapshot.values
    outcome = values.get("outcome")
    if snapshot.next or outcome not in OUTCOME_STATUS:
        await m.set_status(
            run_id,
            "failed",
            reason="stopped",
            error="the run stopped before it finished; resume to continue",
        )
        return False
    reason = values.get("outcome_reason") or outcome
    await m.set_status(
        run_id,
        OUTCOME_STATUS[outcome],
        reason=reason,
        outcome=outcome,
        finished_at=time.time(),
        pending=[],
        current_step=values.get("current_step"),
        error=values.get("outcome_reason") if outcome == "failed" else None,
        detail=values.get("outcome_detail") or {},
    )
    await m.hub.emit(
        run_id,
        "run.finished",
        {"outcome": outcome, "reason": reason, "detail": values.get("outcome_detail") or {}},
    )
    return False


async def _requested(m: RunManager, run_id: str) -> dict[str, float]:
    """When each interrupt's `decision.requested` was last written to the log."""
    events = await m.store.events(run_id, limit=1_000_000, types={"decision.requested"})
    return {str(e.data.get("interrupt_id")): e.at for e in events}

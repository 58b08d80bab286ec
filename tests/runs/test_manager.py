"""The run manager in-process over the real graph, SQLite files and the sandbox.

"Crash" here means: the manager's tasks are cancelled without any shutdown code (the way a
SIGKILL leaves things: rows say queued or running, nothing drained), its files are closed,
and a new manager opens the same files and recovers.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from enigma.policy import parse_policy, policy_hash
from enigma.runs.manager import DecisionError, Limits
from enigma.runs.models import RunRecord, RunRequest
from enigma.sandbox.core import FaultRule
from enigma.sandbox.server import SandboxServer
from tests.runs.conftest import open_manager, run_async

REPOS = ["payments-api", "web-app", "notifications"]


def _request(**overrides: Any) -> RunRequest:
    return RunRequest.model_validate(
        {"fix_version": "2.4.0", "repositories": ["web-app"]} | overrides
    )


def _pending_kinds(run: RunRecord) -> list[str]:
    return [p.kind for p in run.pending]


@pytest.mark.slow
@run_async
async def test_a_decision_survives_a_crash_before_the_graph_takes_it(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    async with open_manager(tmp_path, sandbox) as manager:
        run, _ = await manager.start(_request(), actor="alice")
        waiting = await manager.wait_for(run.id, {"waiting_for_approval"})
        assert _pending_kinds(waiting) == ["plan_approval"]
        await manager.decide(run.id, "approve", actor="bob", comment="go")
        # the process dies before the resumed graph took a step
    async with open_manager(tmp_path, sandbox) as manager:
        # queued, or running if its execution began before the crash: either way not yet resumed
        assert (await manager.get(run.id)).status in ("queued", "running")
        await manager.start_background()
        after = await manager.wait_for(run.id, {"waiting_for_approval", "failed"}, timeout=90)
        assert _pending_kinds(after) == ["release_approval"], "the approval was lost"
        made = [e for e in await manager.store.events(run.id) if e.type == "decision.made"]
        assert [(e.actor, e.data["kind"]) for e in made] == [("bob", "plan_approval")]


@pytest.mark.slow
@run_async
async def test_a_decision_survives_a_crash_while_the_resumed_step_runs(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # LangGraph keeps a resume value only once the resumed node finished: killed while
    # approve_plan re-runs, the interrupt is pending again and the answer must be re-sent
    async with open_manager(tmp_path, sandbox) as manager:
        run, _ = await manager.start(_request(), actor="alice")
        await manager.wait_for(run.id, {"waiting_for_approval"})
        await manager.decide(run.id, "approve", actor="bob")
        started = time.monotonic()
        while (
            sum(
                e.type == "step.started" and e.step == "approve_plan"
                for e in await manager.store.events(run.id)
            )
            < 2  # the resumed run of approve_plan has started
        ):
            assert time.monotonic() - started < 30
            await asyncio.sleep(0)
    async with open_manager(tmp_path, sandbox) as manager:
        await manager.start_background()
        after = await manager.wait_for(run.id, {"waiting_for_approval", "failed"}, timeout=90)
        assert _pending_kinds(after) == ["release_approval"], (after.status, after.error)


@pytest.mark.slow
@run_async
async def test_pause_then_resume_of_a_run_waiting_for_a_slot(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.faults.add(
        [FaultRule(kind="latency", route="/search", latency_ms=1500, count=1)]
    )
    async with open_manager(tmp_path, sandbox, max_concurrent=1) as manager:
        busy, _ = await manager.start(_request(dry_run=True), actor="alice")
        queued, _ = await manager.start(_request(fix_version="2.5.0", dry_run=True), actor="alice")
        await asyncio.sleep(0.2)
        assert (await manager.get(queued.id)).status == "queued"
        assert manager.metrics.queue_depth._value.get() == 1
        assert (await manager.pause(queued.id, actor="alice")).status == "paused"
        resumed = await manager.resume(queued.id, actor="alice")  # was a 409 before
        assert resumed.status == "queued"
        for run_id in (busy.id, queued.id):
            done = await manager.wait_for(run_id, {"succeeded", "failed"}, timeout=60)
            assert (done.status, done.outcome) == ("succeeded", "planned")
        statuses = [
            e.data["to"] for e in await manager.store.events(queued.id) if e.type == "run.status"
        ]
        assert statuses == ["paused", "queued", "running", "succeeded"]


@pytest.mark.slow
@run_async
async def test_rerun_forks_at_the_checkpoint_durably(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    async with open_manager(tmp_path, sandbox) as manager:
        run, _ = await manager.start(_request(dry_run=True), actor="alice")
        await manager.wait_for(run.id, {"succeeded"})
        with pytest.raises(DecisionError, match="only a paused or failed run"):
            await manager.resume(run.id, actor="alice")
        history = await manager.history(run.id)
        before_plan = next(h for h in history if h["next"] == ["plan_release"])
        with pytest.raises(DecisionError, match="has no checkpoint"):
            await manager.rerun(run.id, "nope", "why", actor="alice")
        rerun = await manager.rerun(run.id, before_plan["checkpoint_id"], "plan again", "alice")
        assert rerun.status == "queued" and rerun.outcome is None
        # crash before the re-run took a step
    async with open_manager(tmp_path, sandbox) as manager:
        await manager.start_background()
        done = await manager.wait_for(run.id, {"succeeded", "failed"}, timeout=60)
        assert done.outcome == "planned"
        attempts = await manager.store.step_attempts(run.id)
        assert attempts[("plan_release", None)] == 2 and attempts[("fetch_tickets", None)] == 1
        rerun_event = next(e for e in await manager.store.events(run.id) if e.type == "run.rerun")
        assert rerun_event.actor == "alice" and rerun_event.data["reason"] == "plan again"


@run_async
async def test_a_run_that_cannot_even_begin_fails_instead_of_hanging(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    async with open_manager(tmp_path, sandbox) as manager:
        now = time.time()
        broken = RunRecord(
            id="run-broken",
            status="queued",
            fix_version="2.4.0",
            release_type="minor",
            repositories=["web-app"],
            actor="alice",
            created_at=now,
            updated_at=now,
            request={"fix_version": "not a version"},
        )
        await manager.store.create(broken, None)
        await manager.start_background()
        failed = await manager.wait_for("run-broken", {"failed"}, timeout=10)
        assert "ValidationError" in (failed.error or "")


@run_async
async def test_retention_deletes_old_finished_runs_with_their_checkpoints(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    async with open_manager(tmp_path, sandbox) as manager:
        old, _ = await manager.start(_request(dry_run=True), actor="alice")
        await manager.wait_for(old.id, {"succeeded"})
        await manager.store.update(old.id, finished_at=time.time() - 100 * 86_400)
        kept, _ = await manager.start(_request(fix_version="2.5.0", dry_run=True), actor="alice")
        await manager.wait_for(kept.id, {"succeeded"})
        assert await manager.purge(90 * 86_400) == [old.id]
        assert await manager.store.get(old.id) is None and await manager.store.events(old.id) == []
        assert (
            await manager.graph.aget_state({"configurable": {"thread_id": old.id}})
        ).values == {}
        assert await manager.store.get(kept.id) is not None


@pytest.mark.slow
@run_async
async def test_graceful_shutdown_drains_at_a_step_boundary_and_the_next_start_continues(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.faults.add(
        [FaultRule(kind="latency", route="/merges$", methods=["POST"], latency_ms=300)]
    )
    policy = {"auto_approve": True, "on_conflict": "skip"}
    async with open_manager(tmp_path, sandbox) as manager:
        run, _ = await manager.start(_request(policy=policy), actor="alice")
        while not (await manager.store.step_attempts(run.id)).get(
            ("merge_feature_branches", "web-app")
        ):
            await asyncio.sleep(0.05)
        await manager.shutdown(timeout=30)
        stopped = await manager.get(run.id)
        assert stopped.status == "queued"
        last = [e for e in await manager.store.events(run.id) if e.type == "run.status"][-1]
        assert last.data["reason"] == "stopped at a step boundary (shutdown)"
        finished = [e.step for e in await manager.store.events(run.id) if e.type == "step.finished"]
        assert finished[-1] == "merge_feature_branches", "the step in flight was cut short"
    sandbox.sandbox.faults.clear()
    async with open_manager(tmp_path, sandbox) as manager:
        await manager.start_background()
        done = await manager.wait_for(run.id, {"succeeded", "failed"}, timeout=90)
        assert done.status == "succeeded"
        assert (await manager.store.step_attempts(run.id))[
            ("merge_feature_branches", "web-app")
        ] == 1


@pytest.mark.slow
@run_async
async def test_a_step_over_its_timeout_fails_the_run_and_resume_retries_it(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.faults.add(
        [FaultRule(kind="latency", route="/search", latency_ms=2500, count=1)]
    )
    async with open_manager(tmp_path, sandbox, step_timeout=0.5) as manager:
        await manager.start_background()
        run, _ = await manager.start(_request(dry_run=True), actor="alice")
        failed = await manager.wait_for(run.id, {"failed"}, timeout=30)
        assert failed.error is not None
        assert failed.error.startswith("timeout: step fetch_tickets ran over 0.5s")
        manager.limits = Limits(step_timeout=60)
        await manager.resume(run.id, actor="alice")
        done = await manager.wait_for(run.id, {"succeeded"}, timeout=60)
        assert done.outcome == "planned"
        # the search on the wire was let finish, and with it the step, which the checkpoint
        # kept: the resumed run goes on from the next step
        attempts = await manager.store.step_attempts(run.id)
        assert attempts[("fetch_tickets", None)] == 1 and attempts[("plan_release", None)] == 1


@pytest.mark.slow
@run_async
async def test_a_major_release_waits_for_two_distinct_approvers(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    two = parse_policy("[approvals.plan_approval.by_release_type]\nmajor = 2\n")
    async with open_manager(tmp_path, sandbox, rules=two) as manager:
        run, _ = await manager.start(_request(release_type="major", dry_run=False), "alice")
        waiting = await manager.wait_for(run.id, {"waiting_for_approval"})
        assert waiting.pending[0].payload["approval"]["approvers"] == 2
        approver = frozenset({"approver"})
        with pytest.raises(DecisionError, match="may not answer the plan_approval"):
            await manager.decide(run.id, "approve", "rita", roles=frozenset({"release_manager"}))
        once = await manager.decide(run.id, "approve", "bob", "looks right", roles=approver)
        assert once.status == "waiting_for_approval"
        assert once.pending[0].payload["approved_by"] == ["bob"]
        with pytest.raises(DecisionError, match="bob already approved this plan_approval"):
            await manager.decide(run.id, "approve", "bob", roles=approver)
        await manager.decide(run.id, "approve", "carol", "me too", roles=approver)
        after = await manager.wait_for(run.id, {"waiting_for_approval", "failed"}, timeout=90)
        assert [p.kind for p in after.pending] == ["release_approval"]
        snapshot = await manager.graph.aget_state({"configurable": {"thread_id": run.id}})
        plan_approvals = [a for a in snapshot.values["approvals"] if a["kind"] == "plan_approval"]
        assert [(a["actor"], a["action"]) for a in plan_approvals] == [
            ("bob", "approve"),
            ("carol", "approve"),
        ]
        assert {a["policy_hash"] for a in plan_approvals} == {policy_hash(two)}
        await manager.cancel(run.id, "alice")

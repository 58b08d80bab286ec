"""Steering a run over HTTP: pause / resume, cancel, reject, amend."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.api.conftest import Stack
from tests.api.harness import effect_keys, wait_until


def _started(events: list[dict[str, object]], step: str) -> bool:
    return any(e["type"] == "step.started" and e["step"] == step for e in events)


@pytest.mark.slow
def test_pause_stops_at_a_step_boundary_and_resume_finishes_the_release(stack: Stack) -> None:
    alice, bob = stack.manager, stack.approver
    run_id = alice.start(fix_version="2.4.0", repositories=["web-app", "notifications"])["id"]
    alice.wait_decision(run_id, "plan_approval")
    # slow merges, so the pause arrives while both repositories are merging
    stack.sandbox.add_faults(
        {"kind": "latency", "route": "/merges$", "methods": ["POST"], "latency_ms": 250}
    )
    bob.act(run_id, "approve")
    wait_until(
        lambda: _started(alice.events(run_id), "merge_feature_branches"), 30, "merges to start"
    )

    answer = alice.act(run_id, "pause")
    assert answer["status"] == "running"  # cooperative: it stops at the next step boundary
    paused = alice.wait_status(run_id, "paused", timeout=30)
    assert paused["pending"] == []
    events = alice.events(run_id)
    asked = next(e["id"] for e in events if e["type"] == "run.pause_requested")
    assert next(e for e in events if e["type"] == "run.pause_requested")["actor"] == "alice"
    late = [e for e in events if e["id"] > asked and e["type"] == "step.started"]
    assert late == [], f"steps started after the pause was asked for: {late}"
    # the merges in flight finished; nothing moves while paused
    assert [
        e["repo"]
        for e in events
        if e["type"] == "step.finished" and e["step"] == "merge_feature_branches"
    ]
    time.sleep(1.0)
    assert alice.events(run_id, after=events[-1]["id"]) == []
    alice.act(run_id, "pause", expect=409)

    stack.sandbox.clear_faults()
    assert alice.act(run_id, "resume")["status"] == "queued"
    alice.wait_decision(run_id, "release_approval")
    bob.act(run_id, "approve")
    alice.wait_status(run_id, "succeeded")

    events = alice.events(run_id)
    merges = Counter(
        e["repo"]
        for e in events
        if e["type"] == "step.started" and e["step"] == "merge_feature_branches"
    )
    assert merges == {"web-app": 1, "notifications": 1}, "a finished step ran again after resume"
    keys = effect_keys(stack.sandbox.effects())
    assert len(keys) == len(set(keys)), "a side effect happened twice"
    assert Counter(kind for _, kind, _ in keys)["merge"] == 6


@pytest.mark.slow
def test_cancel_stops_a_running_run_at_once(shared_stack: Stack) -> None:
    alice, bob = shared_stack.manager, shared_stack.approver
    run_id = alice.start(fix_version="2.5.0", repositories=["payments-api"])["id"]
    alice.wait_decision(run_id, "plan_approval")
    shared_stack.sandbox.add_faults(
        {
            "kind": "latency",
            "route": "payments-api/merges$",
            "methods": ["POST"],
            "latency_ms": 3000,
        }
    )
    try:
        bob.act(run_id, "approve")
        wait_until(lambda: _started(alice.events(run_id), "merge_feature_branches"), 30, "merges")
        began = time.monotonic()
        cancelled = alice.act(run_id, "cancel", expect=200)
        assert time.monotonic() - began < 2.0, "cancel waited for the step in flight"
    finally:
        shared_stack.sandbox.clear_faults()
    assert cancelled["status"] == "cancelled" and cancelled["outcome"] == "cancelled"
    assert cancelled["finished_at"] is not None
    events = alice.events(run_id)
    last = events[-1]
    assert last["type"] == "run.finished"
    assert last["data"]["reason"].startswith("cancelled by alice while merge_feature_branches")
    assert last["data"]["in_flight"] == ["merge_feature_branches (payments-api)"]
    status = [e for e in events if e["type"] == "run.status"][-1]
    assert status["data"]["to"] == "cancelled" and status["actor"] == "alice"
    time.sleep(1.5)
    assert alice.events(run_id, after=last["id"]) == [], "the cancelled run kept going"
    assert alice.run(run_id)["status"] == "cancelled"
    for action in ("cancel", "resume", "pause"):
        alice.act(run_id, action, expect=409)
    refused = bob.http.post(f"/api/runs/{run_id}/approve", json={})
    assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]


@pytest.mark.slow
def test_reject_the_plan_ends_the_run_rejected_with_who_and_why(shared_stack: Stack) -> None:
    alice, bob = shared_stack.manager, shared_stack.approver
    before = len(shared_stack.sandbox.effects())
    run_id = alice.start(
        fix_version="2.3.1", release_type="hotfix", repositories=["payments-api", "web-app"]
    )["id"]
    alice.wait_decision(run_id, "plan_approval")
    bob.act(run_id, "reject", comment="not this week")
    run = alice.wait_status(run_id, "cancelled")
    assert run["outcome"] == "rejected"
    assert run["state"]["outcome_reason"] == "plan rejected by bob: not this week"
    assert (run["detail"]["rejected"], run["detail"]["by"]) == ("plan", "bob")
    assert run["detail"]["comment"] == "not this week" and run["detail"]["at"]
    finished = alice.events(run_id)[-1]
    assert finished["type"] == "run.finished"
    assert finished["data"]["outcome"] == "rejected"
    assert finished["data"]["reason"] == "plan rejected by bob: not this week"
    assert finished["data"]["detail"]["by"] == "bob"
    assert len(shared_stack.sandbox.effects()) == before, "a rejected plan wrote something"
    again = bob.http.post(f"/api/runs/{run_id}/approve")
    assert again.status_code == 409
    assert f"run {run_id} is cancelled" in again.json()["detail"]


@pytest.mark.slow
def test_amend_drops_a_branch_replans_and_releases_without_it(stack: Stack) -> None:
    alice, bob = stack.manager, stack.approver
    run_id = alice.start(fix_version="2.4.0", repositories=["web-app"])["id"]
    first = alice.wait_decision(run_id, "plan_approval")
    branches = {b["branch"] for b in first["payload"]["plan"]["repositories"][0]["branches"]}
    assert "feature/ENG-104-dark-mode" in branches

    alice.act(
        run_id,
        "amend",
        comment="dark mode waits",
        exclude={"branches": ["web-app:feature/ENG-104-dark-mode"]},
    )
    second = alice.wait_decision(run_id, "plan_approval")
    assert second["interrupt_id"] != first["interrupt_id"]
    replanned = {b["branch"] for b in second["payload"]["plan"]["repositories"][0]["branches"]}
    assert replanned == branches - {"feature/ENG-104-dark-mode"}
    assert second["payload"]["plan_hash"] != first["payload"]["plan_hash"]

    bob.act(run_id, "approve", interrupt_id=second["interrupt_id"])
    alice.wait_decision(run_id, "release_approval")
    bob.act(run_id, "approve")
    alice.wait_status(run_id, "succeeded")

    made = [
        (e["data"]["action"], e["actor"])
        for e in alice.events(run_id)
        if e["type"] == "decision.made"
    ]
    assert made == [("amend", "alice"), ("approve", "bob"), ("approve", "bob")]
    merged = {e["key"].rpartition("<-")[2] for e in stack.sandbox.effects() if e["kind"] == "merge"}
    assert merged == replanned

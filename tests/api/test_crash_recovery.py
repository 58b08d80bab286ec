"""SIGKILL the service mid-run, three times, and start it again: nothing lost, nothing twice."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Stack, StackFactory
from tests.api.harness import Api, wait_until
from tests.api.test_release_flow import REPOS, assert_effects_once
from tests.conftest import PG_DSN


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, stack_factory: StackFactory) -> Stack:
    """The service on the embedded SQLite default, and on PostgreSQL (leases, 2 s)."""
    if request.param == "sqlite":
        return stack_factory()
    return stack_factory(
        ENIGMA_DATABASE_URL=PG_DSN,
        ENIGMA_DATABASE_SCHEMA=request.getfixturevalue("pg_schema"),
        ENIGMA_LEASE_SECONDS="2",
        ENIGMA_CLAIM_POLL_SECONDS="0.2",
    )


def _kinds(stack: Stack, kind: str) -> list[dict[str, Any]]:
    return [e for e in stack.sandbox.effects() if e["kind"] == kind]


def _kill_and_restart(stack: Stack) -> Api:
    stack.service.kill()
    stack.sandbox.clear_faults()
    stack.service.start()
    return stack.manager


@pytest.mark.slow
def test_sigkill_mid_merges_in_checks_and_in_finalize_then_restart(stack: Stack) -> None:
    alice, bob = stack.manager, stack.approver
    waiting_id = alice.start(fix_version="2.3.1", release_type="hotfix", repositories=["web-app"])[
        "id"
    ]
    waiting = alice.wait_decision(waiting_id, "plan_approval")
    run_id = alice.start(fix_version="2.4.0", repositories=REPOS, policy={"on_conflict": "skip"})[
        "id"
    ]
    alice.wait_decision(run_id, "plan_approval")

    # 1: killed while the repositories are merging
    stack.sandbox.add_faults(
        {"kind": "latency", "route": "/merges$", "methods": ["POST"], "latency_ms": 300}
    )
    bob.act(run_id, "approve")
    wait_until(lambda: len(_kinds(stack, "merge")) >= 2, 60, "two merges")
    assert len(_kinds(stack, "merge")) < 9
    alice = _kill_and_restart(stack)

    # 2: killed while waiting for checks
    stack.sandbox.add_faults({"kind": "latency", "route": "/check-runs$", "latency_ms": 400})
    wait_until(
        lambda: any(
            e["type"] == "step.started" and e["step"] == "wait_for_checks"
            for e in alice.events(run_id)
        ),
        60,
        "wait_for_checks to start",
    )
    assert alice.run(run_id)["status"] == "running"
    alice = _kill_and_restart(stack)

    # the run waiting for approval before the kills still waits, for the same decision
    still = alice.run(waiting_id)
    assert still["status"] == "waiting_for_approval"
    assert [p["interrupt_id"] for p in still["pending"]] == [waiting["interrupt_id"]]

    # 3: killed while finalize merges the pull requests
    alice.wait_decision(run_id, "release_approval", timeout=90)
    stack.sandbox.add_faults(
        {"kind": "latency", "route": "/pulls/[0-9]+/merge$", "methods": ["PUT"], "latency_ms": 500}
    )
    stack.approver.act(run_id, "approve", comment="ship it")
    wait_until(lambda: len(_kinds(stack, "pull.merge")) >= 1, 60, "a pull request merge")
    alice = _kill_and_restart(stack)

    done = alice.wait_status(run_id, "succeeded", timeout=90)
    assert done["outcome"] == "partial"  # ENG-106 was skipped, ENG-110 has no branch
    assert_effects_once(stack.sandbox.effects())

    events = alice.events(run_id)
    if "ENIGMA_DATABASE_URL" in stack.service.env:
        # workers take runs over by lease: one claim to start, one per decision, and after each
        # of the three kills at least one more (the restarted worker claims the orphan)
        claims = sum(e["type"] == "run.claimed" for e in events)
        assert claims >= 1 + 2 + 3, claims
    else:
        assert sum(e["type"] == "run.recovered" for e in events) == 3
    made = [(e["data"]["kind"], e["actor"]) for e in events if e["type"] == "decision.made"]
    assert made == [("plan_approval", "bob"), ("release_approval", "bob")]
    assert alice.run(waiting_id)["status"] == "waiting_for_approval"
    stack.approver.act(waiting_id, "reject", comment="after the crash drill")
    alice.wait_status(waiting_id, "cancelled")

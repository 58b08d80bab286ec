"""A permanent failure (403 from GitHub) becomes an error decision: retry it, or skip it."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.api.conftest import Stack
from tests.api.harness import effect_keys


def _forbid_pull_requests(stack: Stack, repo: str) -> None:
    stack.sandbox.add_faults(
        {"kind": "error", "status": 403, "route": f"/repos/acme/{repo}/pulls$", "methods": ["POST"]}
    )


@pytest.mark.slow
def test_retry_after_a_permanent_failure_succeeds_once_the_cause_is_gone(stack: Stack) -> None:
    alice, bob = stack.manager, stack.approver
    run_id = alice.start(fix_version="2.4.0", repositories=["notifications"])["id"]
    alice.wait_decision(run_id, "plan_approval")
    _forbid_pull_requests(stack, "notifications")
    bob.act(run_id, "approve")

    decision = alice.wait_decision(run_id, "error")
    error = decision["payload"]["error"]
    assert (error["step"], error["repo"], error["kind"]) == (
        "open_pull_request",
        "notifications",
        "AuthError",
    )
    assert "403" in error["message"] and not error["transient"]
    assert decision["choices"] == ["retry", "skip", "abort"]
    failed = alice.run(run_id)
    step = next(s for s in failed["steps"] if s["step"] == "open_pull_request")
    assert step["status"] == "failed" and "403" in step["error"]

    # retrying while GitHub still refuses asks again
    alice.act(run_id, "retry", comment="token fixed?")
    again = alice.wait_decision(run_id, "error")
    assert again["interrupt_id"] != decision["interrupt_id"]

    stack.sandbox.clear_faults()
    alice.act(run_id, "retry", comment="token fixed now")
    alice.wait_decision(run_id, "release_approval")
    bob.act(run_id, "approve")
    done = alice.wait_status(run_id, "succeeded")
    assert done["state"]["pull_requests"]["notifications"]["number"] == 1

    events = alice.events(run_id)
    attempts = [
        e["data"]["attempt"]
        for e in events
        if e["type"] == "step.started" and e["step"] == "open_pull_request"
    ]
    assert attempts == [1, 2, 3]
    made = [
        (e["data"]["kind"], e["data"]["action"]) for e in events if e["type"] == "decision.made"
    ]
    assert made == [
        ("plan_approval", "approve"),
        ("error", "retry"),
        ("error", "retry"),
        ("release_approval", "approve"),
    ]
    keys = effect_keys(stack.sandbox.effects())
    assert len(keys) == len(set(keys))
    assert Counter(kind for _, kind, _ in keys)["pull.create"] == 1


@pytest.mark.slow
def test_skip_after_a_permanent_failure_releases_the_other_repositories(stack: Stack) -> None:
    alice, bob = stack.manager, stack.approver
    run_id = alice.start(fix_version="2.4.0", repositories=["web-app", "notifications"])["id"]
    alice.wait_decision(run_id, "plan_approval")
    _forbid_pull_requests(stack, "web-app")
    bob.act(run_id, "approve")

    decision = alice.wait_decision(run_id, "error")
    assert decision["payload"]["error"]["repo"] == "web-app"
    alice.act(run_id, "skip", comment="web-app next time")
    release = alice.wait_decision(run_id, "release_approval")
    assert set(release["payload"]["pull_requests"]) == {"notifications"}
    assert [s["repo"] for s in release["payload"]["skipped"]] == ["web-app"]
    bob.act(run_id, "approve")
    done = alice.wait_status(run_id, "succeeded")
    assert done["state"]["repo_outcomes"] == {"web-app": "skipped", "notifications": "ready"}

    effects = stack.sandbox.effects()
    written = {
        (e["kind"], e["key"].split(":")[2].split("#")[0]) for e in effects if e["peer"] == "github"
    }
    assert ("pull.create", "acme/notifications") in written
    assert not any(
        repo == "acme/web-app" and kind in ("pull.create", "pull.merge", "release.create")
        for kind, repo in written
    )
    keys = effect_keys(effects)
    assert len(keys) == len(set(keys))

"""A whole release through the HTTP API of a real `enigma serve`, watched over SSE."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.api.conftest import Stack
from tests.api.harness import SseRecorder, effect_keys

REPOS = ["payments-api", "web-app", "notifications"]
TOP_STEPS = [
    "fetch_tickets",
    "plan_release",
    "approve_plan",
    "collect_repositories",
    "publish_release_notes",
    "approve_release",
    "finalize",
]
REPO_STEPS = [
    "create_release_branch",
    "merge_feature_branches",
    "open_pull_request",
    "wait_for_checks",
]
# What releasing 2.4.0 of the three sandbox repositories writes, ENG-106 skipped at its conflict.
EXPECTED_EFFECTS = {
    ("github", "ref.create"): 3,
    ("github", "merge"): 9,
    ("github", "pull.create"): 3,
    ("confluence", "page.created"): 1,
    ("github", "pull.merge"): 3,
    ("github", "release.create"): 3,
    ("jira", "transition"): 9,
    ("jira", "comment"): 9,
    ("jira", "remotelink"): 9,
    ("jira", "version.release"): 1,
}


def assert_effects_once(effects: list[dict[str, Any]]) -> None:
    """Every side effect happened once, and the release made exactly the expected ones."""
    keys = effect_keys(effects)
    duplicated = [k for k, n in Counter(keys).items() if n > 1]
    assert not duplicated, f"side effects repeated: {duplicated}"
    assert Counter((peer, kind) for peer, kind, _ in keys) == EXPECTED_EFFECTS
    comments = Counter(e["detail"]["issue"] for e in effects if e["kind"] == "comment")
    assert set(comments.values()) == {1}, f"a ticket got two release comments: {comments}"


@pytest.mark.slow
def test_release_with_plan_approval_conflict_skip_and_release_approval(stack: Stack) -> None:
    alice, bob = stack.manager, stack.approver
    run = alice.start(fix_version="2.4.0", repositories=REPOS, sprint_name="Sprint 42")
    assert run["status"] == "queued" and run["actor"] == "alice"
    run_id = run["id"]
    stream = SseRecorder(
        stack.service.client(stack.tokens.viewer),
        f"/api/runs/{run_id}/events",
        until=lambda e: e["sse_event"] == "run.finished",
    )

    plan = alice.wait_decision(run_id, "plan_approval")
    assert plan["choices"] == ["approve", "reject", "amend"]
    assert {r["repo"] for r in plan["payload"]["plan"]["repositories"]} == set(REPOS)
    bob.act(run_id, "approve", comment="plan looks right")

    conflict = alice.wait_decision(run_id, "conflict")
    assert conflict["payload"]["repo"] == "payments-api"
    assert conflict["payload"]["branch"] == "feature/ENG-106-burst-limiter"
    alice.act(run_id, "skip", comment="ENG-106 goes in 2.4.1")

    release = alice.wait_decision(run_id, "release_approval")
    assert set(release["payload"]["pull_requests"]) == set(REPOS)
    bob.act(run_id, "approve", comment="ship it")

    done = alice.wait_status(run_id, "succeeded")
    assert done["outcome"] == "partial" and done["finished_at"] is not None
    assert done["detail"]["not_shipped"] == ["ENG-106", "ENG-110"]
    assert done["pending"] == []
    assert set(done["state"]["pull_requests"]) == set(REPOS)
    assert [s["branch"] for s in done["state"]["skipped"]] == ["feature/ENG-106-burst-limiter"]
    assert all(s["status"] == "done" for s in done["steps"]), done["steps"]

    events = stream.wait()
    log = alice.events(run_id)
    # the stream is the log: same events, same order, SSE id = log id
    assert [int(e["sse_id"]) for e in events] == [e["id"] for e in log]
    assert [e["sse_event"] for e in events] == [e["type"] for e in log]
    ids = [e["id"] for e in log]
    assert ids == sorted(set(ids))

    def ran(step: str, repo: str | None) -> set[str]:
        return {e["type"] for e in events if e.get("step") == step and e.get("repo") == repo}

    for step in TOP_STEPS:
        assert {"step.started", "step.finished"} <= ran(step, None), step
    for repo in REPOS:
        for step in REPO_STEPS:
            assert {"step.started", "step.finished"} <= ran(step, repo), (step, repo)
    assert {"step.started", "step.waiting", "step.finished"} <= ran(
        "decide_conflict", "payments-api"
    )
    assert all(e["data"]["duration_ms"] >= 0 for e in events if e["type"] == "step.finished")

    requested = [e["data"]["kind"] for e in events if e["type"] == "decision.requested"]
    assert requested == ["plan_approval", "conflict", "release_approval"]
    made = [
        (e["data"]["kind"], e["data"]["action"], e["actor"], e["data"]["comment"])
        for e in events
        if e["type"] == "decision.made"
    ]
    assert made == [
        ("plan_approval", "approve", "bob", "plan looks right"),
        ("conflict", "skip", "alice", "ENG-106 goes in 2.4.1"),
        ("release_approval", "approve", "bob", "ship it"),
    ]
    statuses = [e["data"]["to"] for e in events if e["type"] == "run.status"]
    assert statuses[0] == "running" and statuses[-1] == "succeeded"
    assert statuses.count("waiting_for_approval") == 3
    assert events[-1]["sse_event"] == "run.finished"
    assert events[-1]["data"]["outcome"] == "partial"

    assert_effects_once(stack.sandbox.effects())

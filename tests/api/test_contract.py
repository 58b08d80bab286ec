"""The API's answers to bad callers and bad input: 401, 403, 404, 409, 413, 422 with reasons."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import Stack

GOOD = {"fix_version": "2.4.0", "repositories": ["web-app"]}


def _detail(answer: httpx.Response) -> str:
    body = answer.json()
    assert set(body) == {"detail", "errors"}, body
    return str(body["detail"])


def test_no_token_or_an_unknown_one_is_401(shared_stack: Stack) -> None:
    anonymous = shared_stack.service.client(None)
    for method, path in (("GET", "/api/runs"), ("POST", "/api/runs"), ("GET", "/api/events")):
        answer = anonymous.request(method, path, json=GOOD)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        assert "missing bearer token" in _detail(answer)
    stranger = shared_stack.service.client("not-a-token")
    answer = stranger.get("/api/runs")
    assert answer.status_code == 401 and _detail(answer) == "unknown API token"
    basic = anonymous.get("/api/runs", headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"})
    assert basic.status_code == 401 and "Bearer" in _detail(basic)
    assert anonymous.get("/healthz").status_code == 200


def test_roles_are_enforced_with_a_message_naming_user_role_and_action(shared_stack: Stack) -> None:
    viewer = shared_stack.api(shared_stack.tokens.viewer)
    answer = viewer.http.post("/api/runs", json=GOOD)
    assert answer.status_code == 403
    assert _detail(answer).startswith("carol (viewer) may not operate")
    assert viewer.http.get("/api/runs").status_code == 200
    answer = viewer.http.post("/api/runs/run-anything/approve")
    assert answer.status_code == 403
    assert _detail(answer).startswith("carol (viewer) may not decide")


@pytest.mark.slow
def test_four_eyes_the_starter_may_not_approve_their_own_run(shared_stack: Stack) -> None:
    dave = shared_stack.api(shared_stack.tokens.admin)
    run_id = dave.start(fix_version="2.5.0", repositories=["notifications"])["id"]
    try:
        pending = dave.wait_decision(run_id, "plan_approval")
        assert pending["payload"]["approval"]["roles"] == ["approver", "admin"]
        # the policy's roles for the plan: a release manager may not approve it
        answer = shared_stack.manager.http.post(f"/api/runs/{run_id}/approve")
        assert answer.status_code == 403
        assert _detail(answer) == (
            "alice (release_manager) may not answer the plan_approval; "
            "the release policy lets approver, admin answer it"
        )
        answer = dave.http.post(f"/api/runs/{run_id}/approve", json={"comment": "mine"})
        assert answer.status_code == 403
        assert (
            _detail(answer) == f"four-eyes rule: dave started run {run_id} and may not approve it"
        )
        assert dave.run(run_id)["pending"][0]["interrupt_id"] == pending["interrupt_id"]
        # approving a run that is not waiting for anything is a conflict, not a success
        shared_stack.approver.act(run_id, "approve", comment="second pair of eyes")
        answer = shared_stack.approver.http.post(f"/api/runs/{run_id}/approve")
        assert answer.status_code == 409
        assert "there is no decision waiting for approve" in _detail(answer)
    finally:
        dave.act(run_id, "cancel", expect=200)
    answer = shared_stack.approver.http.post(f"/api/runs/{run_id}/approve")
    assert answer.status_code == 409 and f"run {run_id} is cancelled" in _detail(answer)
    made = [e for e in dave.events(run_id) if e["type"] == "decision.made"]
    assert [(e["actor"], e["data"]["comment"]) for e in made] == [("bob", "second pair of eyes")]
    # nor may a run approve itself by policy
    answer = dave.http.post(
        "/api/runs", json={**GOOD, "dry_run": True, "policy": {"auto_approve": True}}
    )
    assert answer.status_code == 403 and _detail(answer).startswith("four-eyes rule: policy.")


def test_unknown_runs_are_404_on_every_route(shared_stack: Stack) -> None:
    alice = shared_stack.manager.http
    for method, path, body in (
        ("GET", "/api/runs/run-000000000000", None),
        ("GET", "/api/runs/run-000000000000/events?format=json", None),
        ("GET", "/api/runs/run-000000000000/events", None),
        ("GET", "/api/runs/run-000000000000/history", None),
        ("POST", "/api/runs/run-000000000000/pause", None),
        ("POST", "/api/runs/run-000000000000/resume", None),
        ("POST", "/api/runs/run-000000000000/cancel", None),
        ("POST", "/api/runs/run-000000000000/skip", {}),
        ("POST", "/api/runs/run-000000000000/amend", {"exclude": {}}),
        ("POST", "/api/runs/run-000000000000/rerun", {"checkpoint_id": "x", "reason": "why"}),
    ):
        answer = alice.request(method, path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert "no run 'run-000000000000'" in _detail(answer)
    answer = alice.get("/api/nothing-here")
    assert answer.status_code == 404 and _detail(answer) == "Not Found"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({**GOOD, "release_type": "weekly"}, "release_type", "'major', 'minor'"),
        ({**GOOD, "fix_version": "2.4"}, "fix_version", "not a version like 2.4.0"),
        ({**GOOD, "fix_version": '2.0" OR project != "ENG'}, "fix_version", "not a version"),
        ({**GOOD, "repositories": []}, "repositories", "at least 1 item"),
        ({**GOOD, "repositories": ["../etc"]}, "repositories", "not a valid repository name"),
        ({**GOOD, "repositories": ["web-app", "web-app"]}, "repositories", "more than once"),
        ({**GOOD, "sprint_name": "a\nb"}, "sprint_name", "printable"),
        ({**GOOD, "colour": "blue"}, "colour", "Extra inputs are not permitted"),
        ({"repositories": ["web-app"]}, "fix_version", "Field required"),
        ({**GOOD, "policy": {"auto_retries": 99}}, "policy.auto_retries", "less than or equal"),
    ],
)
def test_invalid_run_requests_are_422_naming_the_field(
    shared_stack: Stack, body: dict[str, object], field: str, words: str
) -> None:
    answer = shared_stack.manager.http.post("/api/runs", json=body)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors
    assert _detail(answer).startswith(f"invalid request: {field}: ")


def test_unknown_repository_malformed_json_and_bad_queries_are_422(shared_stack: Stack) -> None:
    alice = shared_stack.manager.http
    answer = alice.post("/api/runs", json={**GOOD, "repositories": ["web-app", "mainframe"]})
    assert answer.status_code == 422
    assert _detail(answer).startswith("repositories: unknown repository mainframe; configured: ")
    answer = alice.post(
        "/api/runs",
        content=b'{"fix_version": "2.4.0",',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and "JSON decode error" in _detail(answer)
    answer = alice.post(
        "/api/runs", content=b"[1, 2]", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    for query in ("status=finished", "limit=0", "limit=501", "offset=-1"):
        answer = alice.get(f"/api/runs?{query}")
        assert answer.status_code == 422, query
        assert query.split("=")[0] in _detail(answer)
    answer = alice.get("/api/events?after=99999999999999999999999&format=json")
    assert answer.status_code == 422 and "after" in _detail(answer)


def test_oversize_bodies_are_413_declared_or_chunked(shared_stack: Stack) -> None:
    alice = shared_stack.manager.http
    big = (
        b'{"fix_version": "2.4.0", "repositories": ["web-app"], "sprint_name": "'
        + b"x" * 70_000
        + b'"}'
    )
    answer = alice.post("/api/runs", content=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and _detail(answer) == "request body over 65536 bytes"

    def chunks() -> Iterator[bytes]:
        yield from (big[i : i + 8192] for i in range(0, len(big), 8192))

    answer = alice.post("/api/runs", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and _detail(answer) == "request body over 65536 bytes"
    runs = alice.get("/api/runs", params={"limit": 500}).json()["runs"]
    assert not any(r.get("sprint_name", "") and len(r["sprint_name"]) > 100 for r in runs)


@pytest.mark.slow
def test_idempotent_start_returns_the_same_run(shared_stack: Stack) -> None:
    alice = shared_stack.manager
    key = {"Idempotency-Key": "release-2.5.0-web-app-attempt-1"}
    body: dict[str, Any] = {"fix_version": "2.5.0", "repositories": ["web-app"], "dry_run": True}
    first = alice.start(headers=key, **body)
    again = alice.start(expect=200, headers=key, **body)
    assert again["id"] == first["id"]
    listed = alice.http.get("/api/runs", params={"fix_version": "2.5.0", "limit": 500}).json()
    assert sum(r["id"] == first["id"] for r in listed["runs"]) == 1

    other = alice.http.post("/api/runs", json={**body, "dry_run": False}, headers=key)
    assert other.status_code == 409
    assert f"was used for run {first['id']} with a different request" in _detail(other)

    dave = shared_stack.api(shared_stack.tokens.admin)
    alice.wait_status(first["id"], "succeeded")  # one live run per fix version
    daves = dave.start(headers=key, **body)  # keys are per caller
    assert daves["id"] != first["id"]
    for run_id in (first["id"], daves["id"]):
        run = alice.wait_status(run_id, "succeeded")  # a dry run ends with the plan
        assert run["outcome"] == "planned"
    created = [e for e in alice.events(first["id"]) if e["type"] == "run.created"]
    assert len(created) == 1

"""Hardening of a real service: security headers, authentication first, /metrics, amend lists."""

from __future__ import annotations

import json

import httpx
import pytest
from httpx_sse import connect_sse

from tests.api.conftest import Stack, StackFactory

HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def _assert_hardened(answer: httpx.Response, what: str) -> None:
    for name, value in HEADERS.items():
        assert answer.headers.get(name) == value, f"{what}: {name} is {answer.headers.get(name)}"
    policy = answer.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, f"{what}: CSP {policy!r}"


def test_every_answer_carries_the_security_headers(shared_stack: Stack) -> None:
    anonymous = shared_stack.service.client(None)
    viewer = shared_stack.api(shared_stack.tokens.viewer).http
    answers = {
        "page": anonymous.get("/ui/"),
        "docs": anonymous.get("/docs"),
        "redoc": anonymous.get("/redoc"),
        "docs asset": anonymous.get("/docs-assets/swagger-ui.css"),
        "openapi": anonymous.get("/openapi.json"),
        "metrics": anonymous.get("/metrics"),
        "health": anonymous.get("/healthz"),
        "api": viewer.get("/api/runs"),
        "401": anonymous.get("/api/runs"),
        "403": viewer.post("/api/runs", json={"fix_version": "2.4.0", "repositories": ["web-app"]}),
        "404": anonymous.get("/no-such-page"),
        "api 404": viewer.get("/api/runs/run-000000000000"),
        "422": viewer.get("/api/runs", params={"limit": "many"}),
        "413": viewer.post("/api/runs", content=b"x" * 70_000),
    }
    expected = {"401": 401, "403": 403, "404": 404, "api 404": 404, "422": 422, "413": 413}
    for what, answer in answers.items():
        assert answer.status_code == expected.get(what, 200), f"{what}: {answer.text[:200]}"
        _assert_hardened(answer, what)
    page = answers["page"]
    # the page's policy is the header now (a meta tag cannot forbid framing)
    assert 'http-equiv="Content-Security-Policy"' not in page.text
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"].split("style-src")[0]
    # the docs allow their one inline script by its hash, never every inline script
    docs_policy = answers["docs"].headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in docs_policy and "'unsafe-eval'" not in docs_policy


def test_an_event_stream_is_hardened_and_still_streams(shared_stack: Stack) -> None:
    viewer = shared_stack.service.client(shared_stack.tokens.viewer)
    after = shared_stack.manager.http.get("/api/events", params={"format": "json"}).json()
    last = max((e["id"] for e in after["events"]), default=0)
    with connect_sse(
        viewer, "GET", "/api/events", headers={"Last-Event-ID": str(last)}, timeout=30
    ) as source:
        _assert_hardened(source.response, "SSE")
        assert source.response.headers["content-type"].startswith("text/event-stream")
        # the stream never ends: a run's event arriving while it is open proves the
        # middleware passes each chunk on rather than buffering the body
        run = shared_stack.manager.start(
            fix_version="2.5.0", repositories=["web-app"], dry_run=True
        )
        for sse in source.iter_sse():
            if sse.data and json.loads(sse.data).get("run_id") == run["id"]:
                break
    shared_stack.manager.wait_status(run["id"], "succeeded")


def test_a_stranger_gets_401_before_any_validation(shared_stack: Stack) -> None:
    anonymous = shared_stack.service.client(None)
    stranger = shared_stack.service.client("not-a-token")
    params = {"debug": "1", "limit": "many"}
    for client, detail in ((anonymous, "missing bearer token"), (stranger, "unknown API token")):
        for method, path in (
            ("POST", "/api/runs"),
            ("POST", "/api/runs/run-000000000000/amend"),
            ("GET", "/api/runs"),
            ("GET", "/api/no-such-route"),
        ):
            answer = client.request(
                method,
                path,
                headers={"Content-Type": "application/json"},
                params=params,
                content=b"{not json",
            )
            assert answer.status_code == 401, f"{method} {path}: {answer.text}"
            assert detail in answer.json()["detail"]
            assert "limit" not in answer.text and "debug" not in answer.text
    # with a token, the same request is judged on its merits
    alice = shared_stack.manager.http
    answer = alice.get("/api/runs", params=params)
    assert answer.status_code == 422 and "debug" in answer.json()["detail"]


@pytest.mark.slow
def test_metrics_want_the_metrics_token_or_a_reading_api_token(
    stack_factory: StackFactory,
) -> None:
    stack = stack_factory("metrics", ENIGMA_METRICS_TOKEN="scrape-me-please")
    url = f"{stack.service.url}/metrics"

    def scrape(token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(url, headers=headers, timeout=10)

    assert scrape(None).status_code == 401
    assert scrape(None).headers["www-authenticate"] == "Bearer"
    assert scrape("scrape-me-plea").status_code == 401
    assert scrape("wrong").json()["detail"] == "unknown API token"
    for token in ("scrape-me-please", stack.tokens.viewer, stack.tokens.admin):
        answer = scrape(token)
        assert answer.status_code == 200
        assert "# TYPE enigma_runs gauge" in answer.text
    # the metrics token opens /metrics only, not the API
    answer = stack.service.client("scrape-me-please").get("/api/runs")
    assert answer.status_code == 401


@pytest.mark.slow
def test_amend_lists_are_checked_like_the_start_body(shared_stack: Stack) -> None:
    alice = shared_stack.manager
    run_id = alice.start(fix_version="2.5.0", repositories=["web-app"])["id"]
    try:
        alice.wait_decision(run_id, "plan_approval")
        before = alice.events(run_id)
        effects = len(shared_stack.sandbox.effects())
        cases = {
            "empty names": ({"repositories": [""] * 49}, "exclude.repositories.0: String"),
            "duplicates": ({"repositories": ["web-app", "web-app"]}, "more than once"),
            "a bad name": ({"repositories": ["../etc"]}, "is not a valid repository name"),
            "too many": ({"repositories": [f"r{i}" for i in range(51)]}, "at most 50"),
            "an empty ticket": ({"tickets": [""]}, "exclude.tickets.0"),
            "an empty branch": ({"branches": [""]}, "exclude.branches.0"),
        }
        for what, (exclude, message) in cases.items():
            answer = alice.http.post(f"/api/runs/{run_id}/amend", json={"exclude": exclude})
            assert answer.status_code == 422, f"{what}: {answer.text[:300]}"
            assert message in answer.json()["detail"], f"{what}: {answer.json()['detail'][:300]}"
        empty = alice.http.post(
            f"/api/runs/{run_id}/amend", json={"exclude": {"repositories": [""] * 49}}
        ).json()
        assert len(empty["errors"]) == 49
        assert empty["errors"][0]["message"] == "String should have at least 1 character"
        # nothing happened: no decision, no new event, nothing sent to the peers
        assert alice.events(run_id) == before
        assert len(shared_stack.sandbox.effects()) == effects
        assert alice.run(run_id)["status"] == "waiting_for_approval"
    finally:
        alice.act(run_id, "cancel", expect=200)


@pytest.mark.slow
def test_the_data_directory_is_the_service_users_alone(stack_factory: StackFactory) -> None:
    stack = stack_factory("modes", with_tokens=False)  # the service writes a demo token
    data = stack.service.data_dir
    data.chmod(0o755)  # as an older version left it: the next start narrows it again
    stack.service.stop()
    stack.service.start()
    token = json.loads((data / "api_tokens.json").read_text())
    admin = stack.api(next(iter(token)))
    run_id = admin.start(fix_version="2.5.0", repositories=["web-app"], dry_run=True)["id"]
    admin.wait_status(run_id, "succeeded")  # the plan cloned a git mirror

    assert data.stat().st_mode & 0o777 == 0o700
    expected = {
        "runs.sqlite3",
        "runs.sqlite3-wal",
        "runs.sqlite3-shm",
        "checkpoints.sqlite3",
        "checkpoints.sqlite3-wal",
        "checkpoints.sqlite3-shm",
        "api_tokens.json",
        "sandbox/endpoint.json",
        "sandbox/port",
    }
    for name in expected:
        assert (data / name).stat().st_mode & 0o777 == 0o600, name
    mirrors = data / "mirrors"
    assert mirrors.stat().st_mode & 0o777 == 0o700
    inside = list(mirrors.rglob("*"))
    assert any(p.name == "HEAD" for p in inside), "no mirror was cloned"
    # git's own files under the umask: nothing readable, writable or searchable by others
    opened = [str(p) for p in inside if p.stat().st_mode & 0o077]
    assert not opened, opened[:5]

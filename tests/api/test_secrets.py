"""No token leaks: not in any API answer, not in the service log, not in the databases."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Stack
from tests.api.harness import sse_events


def _database_files(data_dir: Path) -> list[Path]:
    files = [*data_dir.glob("runs.sqlite3*"), *data_dir.glob("checkpoints.sqlite3*")]
    assert {p.name for p in files} >= {"runs.sqlite3", "checkpoints.sqlite3"}
    return files


@pytest.mark.slow
def test_no_api_or_sandbox_token_in_answers_logs_or_databases(shared_stack: Stack) -> None:
    tokens = shared_stack.tokens
    secrets = [tokens.manager, tokens.approver, tokens.viewer, tokens.admin]
    secrets.append(shared_stack.sandbox.token)
    alice, bob = shared_stack.manager, shared_stack.approver
    answers: list[httpx.Response] = []

    def keep(answer: httpx.Response) -> httpx.Response:
        answers.append(answer)
        return answer

    # a run that reaches a decision, is amended, approved and then cancelled mid-way
    started = keep(
        alice.http.post(
            "/api/runs", json={"fix_version": "2.5.0", "repositories": ["notifications"]}
        )
    )
    run_id = started.json()["id"]
    alice.wait_decision(run_id, "plan_approval")
    keep(alice.http.post(f"/api/runs/{run_id}/amend", json={"exclude": {"tickets": ["ENG-999"]}}))
    alice.wait_decision(run_id, "plan_approval")
    keep(bob.http.post(f"/api/runs/{run_id}/approve", json={"comment": "ok"}))
    keep(alice.http.post(f"/api/runs/{run_id}/cancel"))
    for path in (
        f"/api/runs/{run_id}",
        f"/api/runs/{run_id}/history",
        f"/api/runs/{run_id}/events?format=json",
        "/api/events?format=json",
        "/api/runs?limit=500",
        "/api/config",
        "/api/graph",
        "/openapi.json",
        "/metrics",
        "/api/runs/run-unknown",
    ):
        keep(alice.http.get(path))
    keep(shared_stack.service.client("wrong-token").get("/api/runs"))
    keep(shared_stack.api(tokens.viewer).http.post("/api/runs", json={}))
    keep(
        alice.http.post(
            "/api/runs", json={"fix_version": tokens.manager[:5], "repositories": ["x"]}
        )
    )
    streamed = sse_events(
        shared_stack.service.client(tokens.viewer),
        f"/api/runs/{run_id}/events",
        last_event_id=0,
        stop=lambda e: e["sse_event"] == "run.finished",
    )
    texts = [f"{a.headers}\n{a.text}" for a in answers] + [str(streamed)]
    assert len(answers) == 17 and all(a.status_code < 500 for a in answers)

    log = shared_stack.service.log_text()
    data_dir = shared_stack.service.data_dir
    blobs = {p.name: p.read_bytes() for p in _database_files(data_dir)}
    for secret in secrets:
        assert not any(secret in text for text in texts), "a token is in an API answer"
        assert secret not in log, "a token is in the service log"
        for name, blob in blobs.items():
            assert secret.encode() not in blob, f"a token is in {name}"
    # and the log did record the traffic (the grep looked at something)
    assert f"/api/runs/{run_id}/cancel" in log

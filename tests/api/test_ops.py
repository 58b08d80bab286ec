"""Health, readiness and Prometheus metrics of a real service."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.api.conftest import Stack, StackFactory
from tests.api.harness import wait_until


def _sample(text: str, name: str, labels: str = "") -> float | None:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return None if found is None else float(found.group(1))


def test_health_and_readiness_need_no_token(shared_stack: Stack) -> None:
    anonymous = shared_stack.service.client(None)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json() == {"status": "ready"}
    docs = anonymous.get("/openapi.json").json()
    assert docs["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.slow
def test_metrics_show_runs_by_status_step_durations_queue_depth_and_retries(
    shared_stack: Stack,
) -> None:
    alice = shared_stack.manager
    # one transient Jira failure: retried by the integrations' choke point, then fine
    shared_stack.sandbox.add_faults(
        {"kind": "error", "status": 503, "route": "/search", "count": 1}
    )
    try:
        run_id = alice.start(fix_version="2.5.0", repositories=["web-app"], dry_run=True)["id"]
        alice.wait_status(run_id, "succeeded")
    finally:
        shared_stack.sandbox.clear_faults()

    def scrape() -> str:
        answer = httpx.get(f"{shared_stack.service.url}/metrics", timeout=10)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        return answer.text

    text = scrape()
    listed = alice.http.get("/api/runs", params={"status": "succeeded", "limit": 1}).json()
    assert _sample(text, "enigma_runs", '{status="succeeded"}') == listed["total"]
    for status in ("queued", "running", "paused", "failed", "cancelled", "waiting_for_approval"):
        assert _sample(text, "enigma_runs", f'{{status="{status}"}}') is not None, status
    assert (_sample(text, "enigma_step_duration_seconds_count", '{step="plan_release"}') or 0) >= 1
    assert "# TYPE enigma_step_duration_seconds histogram" in text
    assert _sample(text, "enigma_queue_depth") == 0
    assert "# TYPE enigma_external_call_errors_total counter" in text
    retries = _sample(text, "enigma_external_call_retries_total", '{service="jira"}')
    assert retries is not None and retries >= 1, "the retried Jira call was not counted"


@pytest.mark.slow
def test_runs_beyond_the_concurrency_bound_queue_in_order(stack_factory: StackFactory) -> None:
    stack = stack_factory(ENIGMA_MAX_CONCURRENT_RUNS="1")
    alice = stack.manager
    stack.sandbox.add_faults(
        {"kind": "latency", "route": "/merges$", "methods": ["POST"], "latency_ms": 400}
    )
    first = alice.start(
        fix_version="2.4.0", repositories=["notifications"], policy={"auto_approve": True}
    )["id"]
    wait_until(lambda: alice.run(first)["status"] == "running", 30, "the first run to run")
    second = alice.start(fix_version="2.5.0", repositories=["web-app"], dry_run=True)["id"]

    def depth() -> float | None:
        text = httpx.get(f"{stack.service.url}/metrics", timeout=10).text
        return _sample(text, "enigma_queue_depth")

    assert depth() == 1
    assert alice.run(second)["status"] == "queued"
    alice.wait_status(first, "succeeded")
    alice.wait_status(second, "succeeded")
    assert depth() == 0
    finished_first = next(e["id"] for e in alice.events(first) if e["type"] == "run.finished")
    started_second = next(
        e["id"]
        for e in alice.events(second)
        if e["type"] == "run.status" and e["data"]["to"] == "running"
    )
    assert started_second > finished_first, "the second run started before a slot was free"

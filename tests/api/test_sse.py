"""SSE streams: reconnecting with Last-Event-ID loses nothing and repeats nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.api.conftest import Stack


def _read(
    client: httpx.Client, path: str, last_id: int | None, most: int, idle: float = 3.0
) -> list[dict[str, Any]]:
    """One connection: up to `most` events (fewer if the stream stays quiet for `idle` s)."""
    headers = {} if last_id is None else {"Last-Event-ID": str(last_id)}
    got: list[dict[str, Any]] = []
    timeout = httpx.Timeout(10.0, read=idle)
    try:
        with connect_sse(client, "GET", path, headers=headers, timeout=timeout) as source:
            assert source.response.status_code == 200
            for sse in source.iter_sse():
                got.append({"sse_id": int(sse.id), "type": sse.event, **json.loads(sse.data)})
                if len(got) >= most or sse.event == "run.finished":
                    break
    except httpx.ReadTimeout:
        pass
    return got


@pytest.mark.slow
def test_twenty_reconnects_with_last_event_id_lose_and_repeat_nothing(stack: Stack) -> None:
    alice = stack.manager
    stack.sandbox.add_faults(
        {"kind": "latency", "route": "/merges$", "methods": ["POST"], "latency_ms": 150}
    )
    run_id = alice.start(
        fix_version="2.4.0",
        repositories=["payments-api", "web-app", "notifications"],
        policy={"auto_approve": True, "on_conflict": "skip"},
    )["id"]
    client = stack.service.client(stack.tokens.viewer)
    path = f"/api/runs/{run_id}/events"

    received: list[dict[str, Any]] = []
    last: int | None = None
    for attempt in range(20):
        batch = _read(client, path, last, most=attempt % 3 + 1)
        received += batch
        if batch:
            last = batch[-1]["sse_id"]
    assert not any(e["type"] == "run.finished" for e in received), "the run ended too soon"
    while not received or received[-1]["type"] != "run.finished":
        batch = _read(client, path, last, most=1000)
        assert batch, "the stream went quiet before the run finished"
        received += batch
        last = batch[-1]["sse_id"]

    log = alice.events(run_id)
    ids = [e["sse_id"] for e in received]
    assert len(ids) == len(set(ids)), "an event arrived twice"
    assert ids == [e["id"] for e in log], "an event went missing"
    assert all(
        r["sse_id"] == r["id"] and r["type"] == e["type"]
        for r, e in zip(received, log, strict=True)
    )
    assert [{k: v for k, v in r.items() if k not in ("sse_id",)} for r in received] == [
        {**e} for e in log
    ]
    assert alice.run(run_id)["status"] == "succeeded"

    # the all-runs stream resumes the same way, from any id
    middle = log[len(log) // 2]["id"]
    tail = _read(client, "/api/events", middle, most=1000, idle=1.0)
    assert [e["sse_id"] for e in tail] == [e["id"] for e in log if e["id"] > middle]
    by_query = _read(client, f"/api/events?after={middle}", None, most=3, idle=1.0)
    assert [e["sse_id"] for e in by_query] == [e["id"] for e in log if e["id"] > middle][:3]

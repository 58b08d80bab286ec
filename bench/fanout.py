"""Row 6: one run's events delivered to 1,000 SSE subscribers, against a bare SSE server.

Each round (one repetition): a run waits for plan approval, `clients` streams subscribe to
it, and the two approvals make it emit the rest of its events; every event's latency at
every client is a sample, and the round's p99 is its figure. The baseline replays each
round's events right after it, with their own pacing, through a bare sse-starlette app
(`bench.serve --bare-sse`) to as many clients, so drift in the machine's load hits both.
The subscribers are lean raw-socket readers (`sse_clients.py`) in this process, which needs
a file descriptor per socket: `main` raises RLIMIT_NOFILE before anything starts, and the
servers inherit it.
"""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path
from typing import Any

import httpx

from bench.api import DONE, client_for, start_run, until_waiting
from bench.common import ApiServer, Row, Target, log, percentile
from bench.sse_clients import FanOut

__all__ = ["fan_out"]


async def fan_out(work: Path, clients: int = 1000, rounds: int = 3) -> Row:
    """Row 6: p99 delivery latency of one run's events to `clients` SSE subscribers."""
    values: list[float] = []
    bare: list[float] = []
    complete = True
    p50: list[float] = []
    events_per_run = 0
    # The subscribers live in this process, beside whatever the earlier rows left: keep that
    # out of the collector's full passes, or their pauses are timed as delivery latency.
    gc.collect()
    gc.freeze()
    try:
        with (
            ApiServer(work / "fan-out") as server,
            ApiServer(work / "fan-out-bare", bare_sse=True) as bare_server,
        ):
            async with (
                client_for(server) as client,
                httpx.AsyncClient(base_url=bare_server.url, timeout=60) as bare_client,
            ):
                for _ in range(3):  # warm the server
                    await start_run(client, auto_approve=True)
                for _ in range(rounds):  # Enigma, then the bare server replaying that run
                    fan, events = await _fan_out_round(server, client, clients)
                    values.append(percentile(fan.latencies, 99) * 1000)
                    p50.append(percentile(fan.latencies, 50) * 1000)
                    complete = complete and fan.complete(len(events))
                    events_per_run = len(events)
                    replay = FanOut(
                        bare_server.port, "/stream", clients, {}, stop_type="run.finished"
                    )
                    await replay.connect()
                    await asyncio.sleep(1.0)
                    await bare_client.post("/emit", json=_schedule(events))
                    await replay.wait(timeout=120)
                    bare.append(percentile(replay.latencies, 99) * 1000)
    finally:
        gc.unfreeze()
    log(
        f"fan-out: {clients} clients x {events_per_run} events, p50 {p50} ms, p99 {values} "
        f"ms, all delivered: {complete}; bare sse-starlette replay p99 {bare} ms"
    )
    return Row(
        f"6 SSE fan-out, {clients:,} clients on one run (p99; baseline bare sse-starlette)",
        "ms",
        values,
        bare,
        Target("value", "<", 50),
        valid=complete,
    )


async def _fan_out_round(
    server: ApiServer, client: httpx.AsyncClient, clients: int
) -> tuple[FanOut, list[dict[str, Any]]]:
    run_id = await start_run(client, auto_approve=False)
    await until_waiting(client, run_id)
    first = await client.get(f"/api/runs/{run_id}/events", params={"format": "json"})
    last_id = max(e["id"] for e in first.json()["events"])
    fan = FanOut(
        server.port,
        f"/api/runs/{run_id}/events",
        clients,
        server.headers,
        last_event_id=last_id,
        stop_type="run.finished",
    )
    await fan.connect()
    await asyncio.sleep(1.0)  # every stream subscribed and idle
    await client.post(f"/api/runs/{run_id}/approve", json={})
    await _wait_pending(client, run_id)
    await client.post(f"/api/runs/{run_id}/approve", json={})
    await fan.wait(timeout=120)
    answer = await client.get(f"/api/runs/{run_id}/events", params={"format": "json"})
    return fan, [e for e in answer.json()["events"] if e["id"] > last_id]


async def _wait_pending(client: httpx.AsyncClient, run_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = (await client.get(f"/api/runs/{run_id}")).json()
        if run["status"] == "waiting_for_approval":
            return
        if run["status"] in DONE:
            raise AssertionError(f"run {run_id} ended {run['status']}")
        await asyncio.sleep(0.01)
    raise TimeoutError(f"run {run_id} did not ask again")


def _schedule(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events' own pacing (gaps between their times) and bodies, for the bare replay."""
    out, previous = [], None
    for event in events:
        delay = 0.0 if previous is None else max(0.0, event["at"] - previous)
        previous = event["at"]
        out.append({"delay": delay, "data": {k: v for k, v in event.items() if k != "at"}})
    return out

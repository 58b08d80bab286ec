"""Through the API: start to decision on SSE, runs per second, memory of held runs, fan-out.

The service is Enigma's own app (`bench.serve`, SQLite, no-op clients) in a process of its
own, driven over loopback HTTP; each benchmark starts a fresh one. Baselines run the bare
graph in this process on a saver opened the same way, except the fan-out baseline, a bare
sse-starlette app in its own process replaying the same event schedule.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from bench.common import REPO_ROOT, ApiServer, Row, log, median, percentile
from bench.engine import bare_run, open_engine
from bench.noop import release_request
from bench.sse_clients import FanOut

__all__ = ["fan_out", "held_runs", "start_to_decision", "throughput"]

DONE = {"succeeded", "failed", "cancelled"}


def _client(server: ApiServer) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    return httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=60, limits=limits)


async def _start(client: httpx.AsyncClient, auto_approve: bool) -> str:
    answer = await client.post("/api/runs", json=release_request(auto_approve))
    answer.raise_for_status()
    return str(answer.json()["id"])


async def _count(client: httpx.AsyncClient, status: str) -> int:
    answer = await client.get("/api/runs", params={"status": status, "limit": 1})
    answer.raise_for_status()
    return int(answer.json()["total"])


async def _start_many(
    client: httpx.AsyncClient, n: int, auto_approve: bool, senders: int = 16
) -> None:
    todo = iter(range(n))

    async def sender() -> None:
        for _ in todo:
            await _start(client, auto_approve)

    await asyncio.gather(*(sender() for _ in range(senders)))


async def _wait_counts(client: httpx.AsyncClient, status: str, n: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while True:
        if await _count(client, status) >= n:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {n} runs {status} after {timeout:.0f}s")
        await asyncio.sleep(0.02)


async def _until_waiting(client: httpx.AsyncClient, run_id: str) -> None:
    async with aconnect_sse(client, "GET", f"/api/runs/{run_id}/events") as source:
        async for sse in source.aiter_sse():
            if (
                sse.event == "run.status"
                and json.loads(sse.data)["data"]["to"] == "waiting_for_approval"
            ):
                return
            if sse.event == "run.finished":
                raise AssertionError(f"run {run_id} finished before it asked for approval")


async def start_to_decision(work: Path, samples: int = 30, warmup: int = 5) -> Row:
    """Row 2: POST /api/runs until `waiting_for_approval` arrives on the run's SSE stream."""
    seen: list[float] = []
    with ApiServer(work / "start-to-decision") as server:
        async with _client(server) as client:
            for i in range(warmup + samples):
                t0 = time.perf_counter()
                run_id = await _start(client, auto_approve=False)
                await _until_waiting(client, run_id)
                if i >= warmup:
                    seen.append(time.perf_counter() - t0)
    bare: list[float] = []
    async with open_engine() as engine:
        for i in range(warmup + samples):
            t0 = time.perf_counter()
            out = await bare_run(engine, f"interrupt-{i}", auto_approve=False)
            if i >= warmup:
                bare.append(time.perf_counter() - t0)
            assert "__interrupt__" in out, sorted(out)
    value, base = median(seen) * 1000, median(bare) * 1000
    log(
        f"start to decision: API+SSE median {value:.1f} ms "
        f"(p90 {percentile(seen, 90) * 1000:.1f}), bare graph to interrupt {base:.1f} ms"
    )
    return Row(
        "start -> waiting_for_approval on SSE (median)",
        value,
        "ms",
        base,
        value / base,
        "<= 50 ms",
        value <= 50,
    )


async def throughput(work: Path, runs: int = 300) -> Row:
    """Row 3: auto-approved runs to completion through the API, runs per second."""
    with ApiServer(work / "throughput") as server:
        async with _client(server) as client:
            await _start_many(client, 10, auto_approve=True)
            await _wait_counts(client, "succeeded", 10, 120)
            t0 = time.perf_counter()
            await _start_many(client, runs, auto_approve=True)
            t1 = await _wait_counts(client, "succeeded", runs + 10, 600)
            failed = await _count(client, "failed")
    api_rate = runs / (t1 - t0)
    async with open_engine() as engine:
        slots = asyncio.Semaphore(50)  # the manager's default max_concurrent_runs

        async def one(i: int) -> None:
            async with slots:
                await bare_run(engine, f"tp-{i}")

        await asyncio.gather(*(one(-i - 1) for i in range(10)))
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(runs)))
        bare_rate = runs / (time.perf_counter() - t0)
    log(
        f"throughput: API {api_rate:.1f} runs/s ({runs} runs, {failed} failed), "
        f"bare graph 50 at a time {bare_rate:.1f} runs/s"
    )
    return Row(
        "runs to completion through the API",
        api_rate,
        "runs/s",
        bare_rate,
        api_rate / bare_rate,
        ">= 200 runs/s",
        api_rate >= 200 and failed == 0,
    )


async def held_runs(work: Path, runs: int = 1000) -> Row:
    """Row 4: runs waiting for approval at once; resident memory of the service per run."""
    with ApiServer(work / "held") as server:
        async with _client(server) as client:
            await _start_many(client, 20, auto_approve=False)
            await _wait_counts(client, "waiting_for_approval", 20, 120)
            await asyncio.sleep(0.5)
            before = server.rss()
            await _start_many(client, runs, auto_approve=False)
            await _wait_counts(client, "waiting_for_approval", runs + 20, 900)
            await asyncio.sleep(0.5)
            after = server.rss()
            held = await _count(client, "waiting_for_approval")
    per_run = (after - before) / runs
    bare = _bare_rss_per_run(work, runs)
    log(
        f"held runs: {held - 20} of {runs} waiting, "
        f"service RSS +{(after - before) / 2**20:.1f} MiB ({per_run / 1024:.1f} KiB/run); "
        f"bare graph +{bare / 1024:.1f} KiB/run"
    )
    ok = held - 20 == runs and per_run < 2**20
    return Row(
        f"{runs} runs held for approval: RSS per run",
        per_run / 1024,
        "KiB/run",
        bare / 1024,
        per_run / bare if bare > 0 else None,
        "< 1024 KiB/run, all held",
        ok,
    )


def _bare_rss_per_run(work: Path, runs: int) -> float:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.memory",
            "--runs",
            str(runs),
            "--data-dir",
            str(work / "held-bare"),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["bytes_per_run"])


async def fan_out(work: Path, clients: int = 200, rounds: int = 3) -> Row:
    """Row 5: delivery latency of one run's events to `clients` SSE subscribers.

    Each round: a run waits for plan approval, `clients` streams subscribe to it, and the
    two approvals make it emit the rest of its events; every event's latency at every client
    is a sample. The baseline replays each round's events, with their own pacing, through a
    bare sse-starlette app to as many clients.
    """
    latencies: list[float] = []
    schedules: list[list[dict[str, Any]]] = []
    complete = True
    with ApiServer(work / "fan-out") as server:
        async with _client(server) as client:
            for _ in range(3):  # warm the server
                await _start(client, auto_approve=True)
            for _ in range(rounds):
                fan, events = await _fan_out_round(server, client, clients)
                latencies += fan.latencies
                complete = complete and fan.complete(len(events))
                schedules.append(_schedule(events))
    bare: list[float] = []
    with ApiServer(work / "fan-out-bare", bare_sse=True) as bare_server:
        async with httpx.AsyncClient(base_url=bare_server.url, timeout=60) as client:
            for schedule in schedules:
                fan = FanOut(bare_server.port, "/stream", clients, {}, stop_type="run.finished")
                await fan.connect()
                await asyncio.sleep(1.0)
                await client.post("/emit", json=schedule)
                await fan.wait(timeout=120)
                bare += fan.latencies
    value, base = percentile(latencies, 99) * 1000, percentile(bare, 99) * 1000
    log(
        f"fan-out: {clients} clients x {len(schedules[0])} events x {rounds} rounds, p50 "
        f"{percentile(latencies, 50) * 1000:.1f} ms, p99 {value:.1f} ms, all delivered: "
        f"{complete}; bare sse-starlette replay p50 {percentile(bare, 50) * 1000:.1f} ms, "
        f"p99 {base:.1f} ms"
    )
    return Row(
        f"SSE fan-out, {clients} clients on one run (p99)",
        value,
        "ms",
        base,
        value / base if base > 0 else None,
        "< 50 ms",
        value < 50 and complete,
    )


async def _fan_out_round(
    server: ApiServer, client: httpx.AsyncClient, clients: int
) -> tuple[FanOut, list[dict[str, Any]]]:
    run_id = await _start(client, auto_approve=False)
    await _until_waiting(client, run_id)
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


def main() -> None:
    """`python -m bench.api ROW` runs one of these benchmarks alone (debugging)."""
    name = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        benches: dict[str, Callable[[Path], Coroutine[Any, Any, Row]]] = {
            "start": start_to_decision,
            "throughput": throughput,
            "held": held_runs,
            "fanout": fan_out,
        }
        print(asyncio.run(benches[name](Path(tmp))))


if __name__ == "__main__":
    main()

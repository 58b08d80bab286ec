"""Through the API: start to decision on SSE, runs per second, and the helpers other rows use.

The service is Enigma's own app (`bench.serve`, SQLite, no-op clients) in a process of its
own, driven over loopback HTTP; each benchmark starts a fresh one. Baselines run the bare
graph in this process on a saver opened the same way. Fan-out is in `fanout.py`, held runs
in `held.py`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from bench.common import ApiServer, Row, Target, log, percentile
from bench.engine import Engine, bare_run, open_engine
from bench.noop import release_request

__all__ = [
    "DONE",
    "client_for",
    "count_runs",
    "start_many",
    "start_run",
    "start_to_decision",
    "throughput",
    "until_waiting",
    "wait_counts",
]

DONE = {"succeeded", "failed", "cancelled"}


def client_for(server: ApiServer) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    return httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=60, limits=limits)


async def start_run(client: httpx.AsyncClient, auto_approve: bool) -> str:
    answer = await client.post("/api/runs", json=release_request(auto_approve))
    answer.raise_for_status()
    return str(answer.json()["id"])


async def count_runs(client: httpx.AsyncClient, status: str) -> int:
    answer = await client.get("/api/runs", params={"status": status, "limit": 1})
    answer.raise_for_status()
    return int(answer.json()["total"])


async def start_many(
    client: httpx.AsyncClient, n: int, auto_approve: bool, senders: int = 16
) -> None:
    todo = iter(range(n))

    async def sender() -> None:
        for _ in todo:
            await start_run(client, auto_approve)

    await asyncio.gather(*(sender() for _ in range(senders)))


async def until_waiting(client: httpx.AsyncClient, run_id: str) -> None:
    async with aconnect_sse(client, "GET", f"/api/runs/{run_id}/events") as source:
        async for sse in source.aiter_sse():
            if (
                sse.event == "run.status"
                and json.loads(sse.data)["data"]["to"] == "waiting_for_approval"
            ):
                return
            if sse.event == "run.finished":
                raise AssertionError(f"run {run_id} finished before it asked for approval")


async def start_to_decision(
    work: Path, samples: int = 15, repetitions: int = 3, warmup: int = 5
) -> Row:
    """Row 5: POST /api/runs until `waiting_for_approval` arrives on the run's SSE stream."""
    seen: list[float] = []
    bare: list[float] = []
    with ApiServer(work / "start-to-decision") as server:
        async with client_for(server) as client:
            for i in range(warmup + samples * repetitions):
                t0 = time.perf_counter()
                run_id = await start_run(client, auto_approve=False)
                await until_waiting(client, run_id)
                if i >= warmup:
                    seen.append(time.perf_counter() - t0)
    async with open_engine() as engine:
        for i in range(warmup + samples * repetitions):
            t0 = time.perf_counter()
            out = await bare_run(engine, f"interrupt-{i}", auto_approve=False)
            if i >= warmup:
                bare.append(time.perf_counter() - t0)
            assert "__interrupt__" in out, sorted(out)
    values, baselines = _per_rep(seen, repetitions, 50), _per_rep(bare, repetitions, 50)
    log(
        f"start to decision: API+SSE medians {values} ms "
        f"(p90 {percentile(seen, 90) * 1000:.1f}), bare graph to interrupt {baselines} ms"
    )
    return Row(
        "5 start -> waiting_for_approval seen on SSE (median; baseline bare graph to interrupt)",
        "ms",
        values,
        baselines,
        Target("value", "<=", 20),
    )


def _per_rep(samples: list[float], repetitions: int, q: float) -> list[float]:
    """The q-th percentile in ms of each consecutive block of samples."""
    size = len(samples) // repetitions
    return [percentile(samples[r * size : (r + 1) * size], q) * 1000 for r in range(repetitions)]


async def throughput(work: Path, runs: int = 60, repetitions: int = 3) -> Row:
    """Row 3: auto-approved runs to completion through the API vs bare LangGraph, runs/s.

    The bare side runs the same graph on a saver opened the same way, as many at once as
    the manager allows (`max_concurrent_runs`, 50). Repetitions alternate between the two.
    """
    api: list[float] = []
    bare: list[float] = []
    failed = 0
    with ApiServer(work / "throughput") as server:
        async with client_for(server) as client, open_engine() as engine:
            await start_many(client, 10, auto_approve=True)
            done = await wait_counts(client, "succeeded", 10, 120)
            await _bare_batch(engine, 10, "warm")
            for rep in range(repetitions):
                t0 = time.perf_counter()
                await start_many(client, runs, auto_approve=True)
                done = await wait_counts(client, "succeeded", done + runs, 600)
                api.append(runs / (time.perf_counter() - t0))
                t0 = time.perf_counter()
                await _bare_batch(engine, runs, f"tp{rep}")
                bare.append(runs / (time.perf_counter() - t0))
            failed = await count_runs(client, "failed")
    log(f"throughput: API {api} runs/s ({failed} failed), bare graph 50 at a time {bare} runs/s")
    return Row(
        f"3 API throughput / bare LangGraph, same graph and saver ({runs} runs a repetition)",
        "runs/s",
        api,
        bare,
        Target("ratio", ">=", 0.9),
        valid=failed == 0,
    )


async def _bare_batch(engine: Engine, runs: int, name: str) -> None:
    slots = asyncio.Semaphore(50)  # the manager's default max_concurrent_runs

    async def one(i: int) -> None:
        async with slots:
            out = await bare_run(engine, f"{name}-{i}")
            assert out.get("outcome") == "succeeded", out.get("outcome")

    await asyncio.gather(*(one(i) for i in range(runs)))


async def wait_counts(client: httpx.AsyncClient, status: str, n: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        count = await count_runs(client, status)
        if count >= n:
            return count
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {n} runs {status} after {timeout:.0f}s")
        await asyncio.sleep(0.01)


def main() -> None:
    """`python -m bench.api ROW` runs one of these benchmarks alone (debugging)."""
    name = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        benches: dict[str, Callable[[Path], Coroutine[Any, Any, Row]]] = {
            "start": start_to_decision,
            "throughput": throughput,
        }
        print(asyncio.run(benches[name](Path(tmp))))


if __name__ == "__main__":
    main()

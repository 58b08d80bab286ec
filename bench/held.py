"""Row 8: runs waiting for approval: the service's memory per run, and its run list at 10,000.

The service (`bench.serve`, SQLite, no-op clients) in a process of its own; runs are started
through the API with an asking policy, so each stops at plan approval and stays there. Two
rows come out. Memory: the growth of the service's resident set from 20 held runs to
20 + `runs`, per run; the baseline is bare LangGraph holding the same number of threads at
their first interrupt in a process of its own (`bench.memory`), because memory once taken by
Python is not given back. One measurement each, and 2,000 held runs rather than 10,000:
runs reach their approval through the API at a few tens per second on two cores (the row
logs the rate), so 10,000 would take this row alone past the whole bench's budget.
The run list: `GET /api/runs` (a page of 50, newest first, the web UI's first call) asked
`requests` times one after another per repetition, p99, with 10,000 runs stored: the held
ones, and finished ones written through Enigma's own run store before the service opened
it (runs a busy service would have kept). The baseline is the same request asked of a
service with 20 runs stored.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.api import client_for, start_many, wait_counts
from bench.common import REPO_ROOT, ApiServer, Row, Target, child_env, log, percentile
from bench.noop import release_request
from enigma.runs.models import RunRecord, RunRequest
from enigma.runs.sqlite_store import SqliteRunStore

__all__ = ["held_runs"]


async def _list_p99(client: httpx.AsyncClient, requests: int) -> float:
    took = []
    for _ in range(requests):
        t0 = time.perf_counter()
        answer = await client.get("/api/runs", params={"limit": 50})
        took.append(time.perf_counter() - t0)
        answer.raise_for_status()
        assert len(answer.json()["runs"]) == 50 or answer.json()["total"] < 50
    return percentile(took, 99) * 1000


async def _store_finished(data_dir: Path, n: int) -> None:
    """`n` finished runs written through Enigma's own run store, before the service opens it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteRunStore(data_dir / "runs.sqlite3")
    try:
        for i in range(n):
            request = RunRequest.model_validate(release_request())
            now = time.time() - n + i
            run_id = f"run-stored-{i:05d}"
            record = RunRecord(
                id=run_id,
                status="queued",
                fix_version=request.fix_version,
                release_type=request.release_type,
                repositories=request.repositories,
                actor="bench",
                created_at=now,
                updated_at=now,
                request=request.model_dump(),
            )
            await store.create(record, None)
            await store.set_status(run_id, "running")
            await store.set_status(run_id, "succeeded")
    finally:
        await store.close()


async def held_runs(
    work: Path, runs: int = 2000, stored: int = 10_000, requests: int = 200, repetitions: int = 3
) -> list[Row]:
    """Rows 8a (RSS per held run) and 8b (the run list's p99 with `stored` runs stored)."""
    with ApiServer(work / "held-small") as server:
        async with client_for(server) as client:
            await start_many(client, 20, auto_approve=False)
            await wait_counts(client, "waiting_for_approval", 20, 120)
            small = [await _list_p99(client, requests) for _ in range(repetitions)]
    await _store_finished(work / "held", stored - runs - 20)
    with ApiServer(work / "held") as server:
        async with client_for(server) as client:
            await start_many(client, 20, auto_approve=False)
            await wait_counts(client, "waiting_for_approval", 20, 120)
            await asyncio.sleep(0.5)
            before = server.rss()
            t0 = time.perf_counter()
            await start_many(client, runs, auto_approve=False)
            held = await wait_counts(client, "waiting_for_approval", runs + 20, 1800)
            filled = time.perf_counter() - t0
            await asyncio.sleep(0.5)
            after = server.rss()
            total = int((await client.get("/api/runs", params={"limit": 1})).json()["total"])
            full = [await _list_p99(client, requests) for _ in range(repetitions)]
    per_run = (after - before) / runs / 1024
    bare = _bare_rss_per_run(work, runs) / 1024
    log(
        f"held runs: {held - 20} of {runs} waiting (started in {filled:.0f}s), service RSS "
        f"+{(after - before) / 2**20:.1f} MiB ({per_run:.1f} KiB/run), bare graph "
        f"{bare:.1f} KiB/run; GET /api/runs p99 {full} ms with {total} stored, {small} ms "
        "with 20"
    )
    return [
        Row(
            f"8a {runs:,} runs held for approval: service RSS per run (baseline bare LangGraph)",
            "KiB/run",
            [per_run],
            [bare],
            Target("value", "<", 16),
            valid=held - 20 == runs,
        ),
        Row(
            f"8b GET /api/runs (page of 50) with {total:,} runs stored, p99 (baseline: 20 stored)",
            "ms",
            full,
            small,
            Target("value", "<", 50),
            valid=total >= stored,
        ),
    ]


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
        env=child_env(),
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["bytes_per_run"])

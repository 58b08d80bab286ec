"""Row 9: runs to completion per second with 1, 2 and 3 workers sharing one PostgreSQL.

Each worker is `python -m bench.serve` (the real API and run manager on the no-op clients) with
`ENIGMA_DATABASE_URL` set, so runs, events and checkpoints live in PostgreSQL and the workers
share the runs by lease. Runs are started round-robin through the workers; whichever worker
claims a run executes it. The baseline is the single worker. On this two-core machine the
workers compete for the same cores and the same database, so the figure shows what the lease
machinery costs and how far one machine scales, not what separate machines would give.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg

from bench.common import ApiServer, Row, log

DSN = "postgresql://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def _schema() -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
        try:
            yield name
        finally:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


async def _rate(work: Path, workers: int, runs: int) -> float:
    with _schema() as schema:
        env = {
            "ENIGMA_DATABASE_URL": DSN,
            "ENIGMA_DATABASE_SCHEMA": schema,
            "ENIGMA_CLAIM_POLL_SECONDS": "0.2",
        }
        servers = [ApiServer(work / f"pg{workers}-{i}", env=env) for i in range(workers)]
        for server in servers:
            server.start(timeout=90)
        try:
            clients = [
                httpx.AsyncClient(base_url=s.url, headers=s.headers, timeout=60) for s in servers
            ]
            body = {
                "fix_version": "2.4.0",
                "repositories": ["payments-api", "web-app", "notifications"],
                "release_type": "minor",
                "policy": {
                    "auto_approve": True,
                    "on_conflict": "skip",
                    "on_check_failure": "abort",
                    "on_error": "abort",
                },
            }
            t0 = time.perf_counter()
            await asyncio.gather(
                *(clients[i % workers].post("/api/runs", json=body) for i in range(runs))
            )
            while True:
                page = (
                    await clients[0].get("/api/runs", params={"status": "succeeded", "limit": 1})
                ).json()
                if page["total"] >= runs:
                    break
                failed = (
                    await clients[0].get("/api/runs", params={"status": "failed", "limit": 1})
                ).json()
                if failed["total"]:
                    raise RuntimeError(f"{failed['total']} runs failed on {workers} workers")
                await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - t0
            for client in clients:
                await client.aclose()
        finally:
            for server in servers:
                server.stop()
    rate = runs / elapsed
    log(f"postgres, {workers} worker(s): {runs} runs in {elapsed:.1f} s = {rate:.1f} runs/s")
    return rate


async def worker_scaling(work: Path, runs: int = 60) -> list[Row]:
    """Three rows: 1, 2 and 3 workers, each against the single worker."""
    rates = {n: await _rate(work, n, runs) for n in (1, 2, 3)}
    return [
        Row(
            f"runs/s on PostgreSQL, {n} worker{'s' if n > 1 else ''}",
            rates[n],
            "runs/s",
            rates[1],
            rates[n] / rates[1],
            "all succeed; shared by lease",
            True,
        )
        for n in (1, 2, 3)
    ]

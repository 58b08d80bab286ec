"""Row 10: runs to completion per second on PostgreSQL, one worker and two, and on SQLite.

Each worker is `python -m bench.serve` (the real API and run manager on the no-op clients).
With `ENIGMA_DATABASE_URL` set, runs, events and checkpoints live in PostgreSQL (a schema of
the bench's own, dropped at the end) and the workers share the runs by lease; runs are
started round-robin through the workers and whichever claims a run executes it. Without it,
one worker on SQLite, the single-process set-up. The same batch of runs goes to each set-up;
the repetitions alternate between them (SQLite, one PostgreSQL worker, two) on servers
started once. On this two-core machine the two workers compete for the same cores and the
same database as the bench itself, so the figure is what one machine gives, not two.
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

from bench.api import count_runs
from bench.common import ApiServer, Row, Target, log
from bench.noop import release_request

__all__ = ["worker_scaling"]

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


@contextlib.contextmanager
def _workers(work: Path, name: str, n: int, env: dict[str, str]) -> Iterator[list[ApiServer]]:
    servers = [ApiServer(work / f"{name}-{i}", env=env) for i in range(n)]
    try:
        for server in servers:
            server.start(timeout=90)
        yield servers
    finally:
        for server in servers:
            server.stop()


async def _rate(servers: list[ApiServer], runs: int) -> float:
    """Start `runs` round-robin through the workers; runs/s until all succeeded."""
    clients = [httpx.AsyncClient(base_url=s.url, headers=s.headers, timeout=60) for s in servers]
    try:
        done = await count_runs(clients[0], "succeeded")
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                clients[i % len(clients)].post("/api/runs", json=release_request())
                for i in range(runs)
            )
        )
        while await count_runs(clients[0], "succeeded") < done + runs:
            failed = await count_runs(clients[0], "failed")
            if failed:
                raise RuntimeError(f"{failed} runs failed on {len(servers)} worker(s)")
            await asyncio.sleep(0.05)
        return runs / (time.perf_counter() - t0)
    finally:
        for client in clients:
            await client.aclose()


async def worker_scaling(work: Path, runs: int = 40, repetitions: int = 3) -> list[Row]:
    """Rows 10a (two PostgreSQL workers vs one) and 10b (one PostgreSQL worker vs SQLite)."""
    rates: dict[str, list[float]] = {"sqlite": [], "pg1": [], "pg2": []}
    claim = {"ENIGMA_CLAIM_POLL_SECONDS": "0.2"}
    with contextlib.ExitStack() as stack:
        pg1, pg2 = (stack.enter_context(_schema()) for _ in range(2))
        setups = {
            "sqlite": stack.enter_context(_workers(work, "sqlite", 1, {})),
            "pg1": stack.enter_context(
                _workers(
                    work,
                    "pg1",
                    1,
                    {"ENIGMA_DATABASE_URL": DSN, "ENIGMA_DATABASE_SCHEMA": pg1} | claim,
                )
            ),
            "pg2": stack.enter_context(
                _workers(
                    work,
                    "pg2",
                    2,
                    {"ENIGMA_DATABASE_URL": DSN, "ENIGMA_DATABASE_SCHEMA": pg2} | claim,
                )
            ),
        }
        for servers in setups.values():  # warm each set-up
            await _rate(servers, 5)
        for _ in range(repetitions):
            for name, servers in setups.items():
                rates[name].append(await _rate(servers, runs))
    log(
        f"runs/s ({runs} runs a repetition): SQLite one process {rates['sqlite']}, "
        f"PostgreSQL one worker {rates['pg1']}, two workers {rates['pg2']}"
    )
    return [
        Row(
            "10a PostgreSQL: two workers / one worker, runs to completion",
            "runs/s",
            rates["pg2"],
            rates["pg1"],
            Target("ratio", ">=", 1.6),
        ),
        Row(
            "10b PostgreSQL one worker / SQLite single process, same runs",
            "runs/s",
            rates["pg1"],
            rates["sqlite"],
            Target("ratio", ">=", 0.8),
        ),
    ]

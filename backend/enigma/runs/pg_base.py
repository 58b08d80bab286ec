"""The PostgreSQL run store's foundation: the checked async pool, connections, fencing.

- Nothing blocks the event loop: psycopg's `AsyncConnectionPool`, which checks a connection
  before handing it out (`check_connection`), so after a database restart dead connections
  are replaced instead of failing the next query; short waits for a connection, so an outage
  answers `StoreUnavailable` ("database unavailable") in seconds instead of hanging.
- Every write a worker makes for a run it executes carries the lease's fencing token
  (`fences`); a worker whose lease was taken over gets `LeaseLost` and stops.

`PgRunStore` (pg_store.py) is this plus its concerns: runs, the event log (pg_events.py) and
the notification outbox and decision deadlines (pg_outbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Self

import psycopg
import psycopg_pool
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from enigma.runs.models import EventRecord
from enigma.runs.pg_schema import migrate
from enigma.runs.store import Notify, RunHandedOver, StoreUnavailable

__all__ = ["LeaseLost", "PgBase", "session_options"]


def session_options(schema: str | None, hold_seconds: float) -> str:
    """Connection options: the schema, and how long a session may sit on its locks.

    A worker frozen in the middle of a transaction (stopped, swapped out, cut off) would keep
    its row and advisory locks, and every other worker's claim would wait for it. PostgreSQL
    ends a session that stays idle inside a transaction past the lease
    (`idle_in_transaction_session_timeout`), which frees them; our own transactions last
    milliseconds. A lock another session holds is waited for at most 5 s (`lock_timeout`),
    then the call answers "database unavailable" and is tried again.
    """
    hold = max(1, int(hold_seconds * 1000))
    options = f"-c idle_in_transaction_session_timeout={hold} -c lock_timeout=5000"
    return f"-c search_path={schema} {options}" if schema else options


class LeaseLost(RunHandedOver):
    """Another worker holds this run now; the holder of an older fence must stop."""


class PgBase:
    """The pool, a connection that maps outages, and the fencing of this worker's runs."""

    def __init__(
        self,
        dsn: str,
        worker_id: str,
        schema: str | None = None,
        max_size: int = 10,
        hold_seconds: float = 10.0,
    ):
        self.worker_id = worker_id
        self.dsn = dsn
        self.schema = schema
        self.options = session_options(schema, hold_seconds)
        self.fences: dict[str, int] = {}
        """Runs this worker holds a lease on, with the fence it claimed them with."""
        self.lost: dict[str, int] = {}
        """Runs whose lease this worker lost while still executing them (writes refused)."""
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=3.0,
            check=AsyncConnectionPool.check_connection,
            reconnect_timeout=0,  # keep trying to reconnect for as long as it takes
            kwargs={
                "autocommit": True,
                "options": self.options,
                "row_factory": tuple_row,
                "connect_timeout": 3,
            },
        )
        self._events: list[tuple[tuple[Any, ...], asyncio.Future[EventRecord]]] = []
        self._notify: dict[int, Notify] = {}
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> Self:
        """Open the pool and bring the schema up to date."""
        await self.pool.open(wait=True, timeout=30)
        async with self.connection() as conn:
            await migrate(conn)
        return self

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; an unreachable database becomes `StoreUnavailable`."""
        try:
            async with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout):
            raise StoreUnavailable("database unavailable") from None

    async def _one(self, sql: str, args: Any = None) -> tuple[Any, ...] | None:
        async with self.connection() as conn:
            return await (await conn.execute(sql, args)).fetchone()

    async def _all(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        async with self.connection() as conn:
            return await (await conn.execute(sql, args)).fetchall()

    def check_fence(self, run_id: str, owner: str | None, fence: int) -> None:
        """LeaseLost if this worker executes `run_id` under a fence that is no longer current."""
        mine = self.fences.get(run_id)
        if mine is not None and (owner != self.worker_id or fence != mine):
            # remember the loss: every later write of this (stale) execution is refused too
            self.lost[run_id] = mine
            self.fences.pop(run_id, None)
        if run_id in self.lost:
            raise LeaseLost(f"run {run_id}: lease now held by {owner} (fence {fence})")

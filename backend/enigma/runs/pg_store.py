"""The run store on PostgreSQL: runs and events shared by every worker, on an async pool.

- Nothing blocks the event loop: psycopg's `AsyncConnectionPool`, which checks a connection
  before handing it out (`check_connection`), so after a database restart dead connections
  are replaced instead of failing the next query; short waits for a connection, so an outage
  answers `StoreUnavailable` ("database unavailable") in seconds instead of hanging.
- Events get ids in commit order, so a reader resuming "after id N" can never skip one that
  commits late. Writes are grouped: events queued in the same moment (by any of this worker's
  runs) are inserted in one transaction that takes the ordering lock once, and one NOTIFY
  tells the other workers to read. No lock per event and no query per event to publish.
- Every write a worker makes for a run it executes carries the lease's fencing token
  (`leases.fences`); a worker whose lease was taken over gets `LeaseLost` and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Collection
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from enigma.runs.models import TRANSITIONS, EventRecord, RunRecord
from enigma.runs.pg_schema import EVENT_LOCK, VERSION_LOCK, migrate
from enigma.runs.store import (
    LIVE,
    RUN_COLUMNS,
    IllegalTransition,
    RunHandedOver,
    RunStore,
    StoreUnavailable,
    VersionBusy,
    check_fields,
    encode_field,
    run_from_row,
    run_values,
)

__all__ = ["LeaseLost", "PgRunStore", "session_options"]

log = logging.getLogger("enigma.cluster")
_SELECT = f"SELECT {RUN_COLUMNS} FROM enigma_runs"  # noqa: S608 (fixed column names)
_EVENT = "SELECT id, run_id, at, type, step, repo, actor, data, worker FROM enigma_events"
_ENDS_LEASE = frozenset({"waiting_for_approval", "paused", "succeeded", "failed", "cancelled"})


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


async def _one_live(conn: psycopg.AsyncConnection[Any], fix_version: str, run_id: str) -> None:
    """VersionBusy if another run of `fix_version` is live; the version's lock makes it atomic."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (VERSION_LOCK, fix_version)
    )
    row = await (
        await conn.execute(
            "SELECT id, status FROM enigma_runs WHERE fix_version=%s AND id<>%s "
            "AND status = ANY(%s) ORDER BY created_at LIMIT 1",
            (fix_version, run_id, list(LIVE)),
        )
    ).fetchone()
    if row is not None:
        raise VersionBusy(fix_version, str(row[0]), str(row[1]))


class LeaseLost(RunHandedOver):
    """Another worker holds this run now; the holder of an older fence must stop."""


def _run(row: tuple[Any, ...]) -> RunRecord:
    return run_from_row(row, decode=lambda value: value)  # psycopg decodes JSONB itself


def _event(r: tuple[Any, ...]) -> EventRecord:
    return EventRecord(
        id=r[0],
        run_id=r[1],
        at=r[2],
        type=r[3],
        step=r[4],
        repo=r[5],
        actor=r[6],
        data=r[7],
        worker=r[8],
    )


class PgRunStore(RunStore):
    """Runs and events in PostgreSQL (see the module docstring)."""

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
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> PgRunStore:
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

    # ---- runs ----

    async def create(self, run: RunRecord, idempotency_key: str | None) -> tuple[RunRecord, bool]:
        marks = ",".join(["%s"] * (len(run_values(run)) + 1))
        async with self.connection() as conn, conn.transaction():
            if idempotency_key is not None:
                # the key's creator waits here too, so a repeat finds the first run
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                    (VERSION_LOCK, idempotency_key),
                )
                cur = await conn.execute(f"{_SELECT} WHERE idempotency_key=%s", (idempotency_key,))
                found = await cur.fetchone()
                if found is not None:
                    return _run(found), False
            await _one_live(conn, run.fix_version, run.id)
            await conn.execute(
                f"INSERT INTO enigma_runs ({RUN_COLUMNS}, idempotency_key) VALUES ({marks})",  # noqa: S608
                (*run_values(run), idempotency_key),
            )
        return run, True

    async def get(self, run_id: str) -> RunRecord | None:
        row = await self._one(f"{_SELECT} WHERE id=%s", (run_id,))
        return None if row is None else _run(row)

    async def list_runs(
        self,
        status: str | None,
        fix_version: str | None,
        limit: int,
        offset: int,
        query: str | None = None,
    ) -> tuple[list[RunRecord], int]:
        where = (
            "WHERE (%(s)s::text IS NULL OR status=%(s)s) "
            "AND (%(v)s::text IS NULL OR fix_version=%(v)s) "
            "AND (%(q)s::text IS NULL OR id=%(q)s OR fix_version=%(q)s "
            "OR repositories ? %(q)s OR tickets ? %(q)s)"
        )
        args = {"s": status, "v": fix_version, "q": query, "l": limit, "o": offset}
        count = await self._one(f"SELECT count(*) FROM enigma_runs {where}", args)  # noqa: S608
        rows = await self._all(
            f"{_SELECT} {where} ORDER BY created_at DESC, id LIMIT %(l)s OFFSET %(o)s", args
        )
        return [_run(r) for r in rows], int(count[0]) if count else 0

    async def with_status(self, statuses: set[str]) -> list[RunRecord]:
        rows = await self._all(
            f"{_SELECT} WHERE status = ANY(%s) ORDER BY created_at", (sorted(statuses),)
        )
        return [_run(r) for r in rows]

    async def set_status(self, run_id: str, status: str, **fields: Any) -> RunRecord:
        check_fields(fields)
        async with self.connection() as conn, conn.transaction():
            row = await (
                await conn.execute(
                    "SELECT status, lease_owner, fence, fix_version FROM enigma_runs "
                    "WHERE id=%s FOR UPDATE",
                    (run_id,),
                )
            ).fetchone()
            if row is None:
                raise KeyError(run_id)
            self.check_fence(run_id, row[1], row[2])
            current = str(row[0])
            if current != status and status not in TRANSITIONS[current]:
                raise IllegalTransition(run_id, current, status)
            if status in LIVE and current not in LIVE:
                await _one_live(conn, str(row[3]), run_id)
            extra = {"status": status, **fields}
            if status in _ENDS_LEASE:
                self.fences.pop(run_id, None)
            await self._write(conn, run_id, extra, end_lease=status in _ENDS_LEASE)
            result = await (await conn.execute(f"{_SELECT} WHERE id=%s", (run_id,))).fetchone()
        assert result is not None
        return _run(result)

    async def update(self, run_id: str, **fields: Any) -> None:
        check_fields(fields)
        async with self.connection() as conn:
            await self._write(conn, run_id, fields)

    async def _write(
        self,
        conn: psycopg.AsyncConnection[Any],
        run_id: str,
        fields: dict[str, Any],
        end_lease: bool = False,
    ) -> None:
        names = [*fields, "updated_at"]
        values = [encode_field(k, v) for k, v in fields.items()] + [time.time()]
        sets = ", ".join(f"{n} = %s" for n in names)
        if end_lease:
            sets += ", lease_owner = NULL, lease_until = NULL, control = NULL"
        await conn.execute(f"UPDATE enigma_runs SET {sets} WHERE id = %s", [*values, run_id])  # noqa: S608

    def check_fence(self, run_id: str, owner: str | None, fence: int) -> None:
        """LeaseLost if this worker executes `run_id` under a fence that is no longer current."""
        mine = self.fences.get(run_id)
        if mine is not None and (owner != self.worker_id or fence != mine):
            # remember the loss: every later write of this (stale) execution is refused too
            self.lost[run_id] = mine
            self.fences.pop(run_id, None)
        if run_id in self.lost:
            raise LeaseLost(f"run {run_id}: lease now held by {owner} (fence {fence})")

    # ---- events: grouped inserts under one ordering lock per group ----

    async def append_event(
        self,
        run_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        step: str | None = None,
        repo: str | None = None,
        actor: str | None = None,
    ) -> EventRecord:
        if run_id in self.lost:
            raise LeaseLost(f"run {run_id}: this worker lost its lease")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[EventRecord] = loop.create_future()
        body = json.dumps(data or {}, default=str)
        row = (run_id, time.time(), type, step, repo, actor, body, self.worker_id)
        self._events.append((row, future))
        if not self._flushing:
            self._flushing = True
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._events:
                batch, self._events = self._events, []
                try:
                    records = await self._insert(batch)
                except BaseException as exc:  # every waiter hears it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(
                                exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                            )
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), record in zip(batch, records, strict=True):
                    if future.done():
                        continue
                    if isinstance(record, Exception):
                        future.set_exception(record)
                    else:
                        future.set_result(record)
        finally:
            self._flushing = False

    async def _insert(
        self, batch: list[tuple[tuple[Any, ...], asyncio.Future[EventRecord]]]
    ) -> list[EventRecord | Exception]:
        runs = sorted({row[0] for row, _ in batch if row[0] in self.fences or row[0] in self.lost})
        out: list[EventRecord | Exception] = []
        async with self.connection() as conn, conn.transaction():
            refused: dict[str, Exception] = {}
            if runs:
                owners = await (
                    await conn.execute(
                        "SELECT id, lease_owner, fence FROM enigma_runs WHERE id = ANY(%s)", (runs,)
                    )
                ).fetchall()
                for run_id, owner, fence in owners:
                    try:
                        self.check_fence(run_id, owner, fence)
                    except LeaseLost as exc:
                        refused[run_id] = exc
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENT_LOCK,))
            rows = [row for row, _ in batch if row[0] not in refused]
            ids: list[int] = []
            if rows:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO enigma_events "
                        "(run_id, at, type, step, repo, actor, data, worker) "
                        "VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                        rows,
                        returning=True,
                    )
                    while True:
                        fetched = await cur.fetchone()
                        assert fetched is not None
                        ids.append(int(fetched[0]))
                        if not cur.nextset():
                            break
                await conn.execute("SELECT pg_notify('enigma_events', %s)", (str(max(ids)),))
        it = iter(ids)
        for row, _ in batch:
            if row[0] in refused:
                out.append(refused[row[0]])
                continue
            run_id, at, type, step, repo, actor, body, worker = row
            out.append(
                EventRecord(
                    id=next(it),
                    run_id=run_id,
                    at=at,
                    type=type,
                    step=step,
                    repo=repo,
                    actor=actor,
                    data=json.loads(body),
                    worker=worker,
                )
            )
        return out

    async def events(
        self,
        run_id: str | None,
        after: int = 0,
        limit: int = 1000,
        types: Collection[str] | None = None,
    ) -> list[EventRecord]:
        rows = await self._all(
            f"{_EVENT} WHERE id > %s AND (%s::text IS NULL OR run_id = %s) "
            "AND (%s::text[] IS NULL OR type = ANY(%s)) ORDER BY id LIMIT %s",
            (after, run_id, run_id, sorted(types) if types else None, sorted(types or []), limit),
        )
        return [_event(r) for r in rows]

    async def last_event_id(self) -> int:
        """The newest event id (0 for none)."""
        row = await self._one("SELECT coalesce(max(id), 0) FROM enigma_events")
        return int(row[0]) if row else 0

    async def step_attempts(self, run_id: str) -> dict[tuple[str, str | None], int]:
        rows = await self._all(
            "SELECT step, repo, sum(CASE type WHEN 'step.started' THEN 1 ELSE -1 END) "
            "FROM enigma_events WHERE run_id=%s "
            "AND type IN ('step.started', 'step.waiting') GROUP BY step, repo",
            (run_id,),
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def finished_before(self, timestamp: float) -> list[str]:
        rows = await self._all(
            "SELECT id FROM enigma_runs WHERE finished_at IS NOT NULL AND finished_at < %s",
            (timestamp,),
        )
        return [str(r[0]) for r in rows]

    async def delete(self, run_id: str) -> None:
        async with self.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM enigma_events WHERE run_id=%s", (run_id,))
            await conn.execute("DELETE FROM enigma_runs WHERE id=%s", (run_id,))

    async def save_policy(self, policy_hash: str, body: dict[str, Any]) -> None:
        async with self.connection() as conn:
            await conn.execute(
                "INSERT INTO enigma_policies (hash, body, created_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (hash) DO NOTHING",
                (policy_hash, json.dumps(body, sort_keys=True, default=str), time.time()),
            )

    async def policy(self, policy_hash: str) -> dict[str, Any] | None:
        row = await self._one("SELECT body FROM enigma_policies WHERE hash=%s", (policy_hash,))
        return None if row is None else dict(row[0])

    async def probe(self) -> None:
        """A round trip that writes (a temporary table is not needed: a no-op UPDATE)."""
        async with asyncio.timeout(1.0), self.connection() as conn:
            await conn.execute("UPDATE enigma_schema_migrations SET version = version WHERE false")

    async def close(self) -> None:
        await self.pool.close()

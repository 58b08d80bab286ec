"""The run store on PostgreSQL: runs and events shared by every worker, on an async pool.

Built from `PgBase` (pool, connections, fencing), `PgEvents` (the event log) and `PgOutbox`
(notifications and deadlines); the runs themselves are here.

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
import json
import logging
import time
from typing import Any

import psycopg

from enigma.runs.models import TRANSITIONS, RunRecord
from enigma.runs.pg_base import LeaseLost, session_options
from enigma.runs.pg_events import PgEvents
from enigma.runs.pg_outbox import PgOutbox
from enigma.runs.pg_schema import VERSION_LOCK
from enigma.runs.store import (
    LIVE,
    RUN_COLUMNS,
    IllegalTransition,
    RunStore,
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


def _run(row: tuple[Any, ...]) -> RunRecord:
    return run_from_row(row, decode=lambda value: value)  # psycopg decodes JSONB itself


class PgRunStore(PgEvents, PgOutbox, RunStore):
    """Runs and events in PostgreSQL (see the module docstrings)."""

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

    async def set_status(
        self, run_id: str, status: str, only_from: frozenset[str] | None = None, **fields: Any
    ) -> RunRecord:
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
            if only_from is not None and current not in only_from:
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

    async def finished_before(self, timestamp: float) -> list[str]:
        rows = await self._all(
            "SELECT id FROM enigma_runs WHERE finished_at IS NOT NULL AND finished_at < %s",
            (timestamp,),
        )
        return [str(r[0]) for r in rows]

    async def delete(self, run_id: str) -> None:
        async with self.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM enigma_events WHERE run_id=%s", (run_id,))
            await conn.execute("DELETE FROM enigma_outbox WHERE run_id=%s", (run_id,))
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

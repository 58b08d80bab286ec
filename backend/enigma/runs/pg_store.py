"""The run store on PostgreSQL: runs, events, leases with fencing tokens, LISTEN/NOTIFY.

Several Enigma workers share one database. PostgreSQL's own locking does the coordination:

- a worker claims queued or orphaned runs with `SELECT ... FOR UPDATE SKIP LOCKED`, setting
  `lease_owner`, `lease_until` and bumping `fence`; it renews the lease while it executes the
  run and clears it at an interrupt, a pause, the end, or shutdown;
- a run whose lease lapsed (its worker died) is claimable again and continues from its last
  checkpoint on another worker;
- every write a worker makes while executing a run carries the fence it claimed with; a worker
  whose lease was taken over (a larger fence) gets `LeaseLost` and stops. Checkpoint writes go
  through LangGraph's saver and are not fenced: a stale worker may finish the step it is in,
  which is safe because every node checks before it acts;
- events get ids in commit order (inserts take a transaction-level advisory lock), so a reader
  resuming "after id N" can never skip an event committed late; NOTIFY tells other workers
  (SSE streams, command delivery) to look, and the table stays the source of truth.

Schema changes are numbered migrations applied under a session advisory lock, so several
processes starting at once apply each exactly once.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from enigma.runs.models import TRANSITIONS, EventRecord, RunRecord
from enigma.runs.store import (
    RUN_COLUMNS,
    UPDATABLE_FIELDS,
    IllegalTransition,
    RunHandedOver,
    RunStore,
    encode_field,
    run_from_row,
)

__all__ = [
    "MIGRATIONS",
    "LeaseLost",
    "PgRunStore",
    "acquire_migration_lock",
    "migrate",
    "release_migration_lock",
]

MIGRATION_LOCK = 7_340_001
EVENT_LOCK = 7_340_002
CLAIM_LOCK = 7_340_003

MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS enigma_runs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        fix_version TEXT NOT NULL,
        release_type TEXT NOT NULL,
        repositories JSONB NOT NULL,
        sprint_name TEXT,
        dry_run BOOLEAN NOT NULL DEFAULT false,
        actor TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION,
        current_step TEXT,
        error TEXT,
        outcome TEXT,
        pending JSONB NOT NULL DEFAULT '[]',
        request JSONB NOT NULL DEFAULT '{}',
        idempotency_key TEXT UNIQUE,
        lease_owner TEXT,
        lease_until TIMESTAMPTZ,
        fence BIGINT NOT NULL DEFAULT 0,
        next_command JSONB,
        control TEXT
    );
    CREATE INDEX IF NOT EXISTS enigma_runs_status ON enigma_runs (status, created_at);
    CREATE TABLE IF NOT EXISTS enigma_events (
        id BIGSERIAL PRIMARY KEY,
        run_id TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        type TEXT NOT NULL,
        step TEXT,
        repo TEXT,
        actor TEXT,
        data JSONB NOT NULL DEFAULT '{}'
    );
    CREATE INDEX IF NOT EXISTS enigma_events_run ON enigma_events (run_id, id);
    """,
]


class LeaseLost(RunHandedOver):
    """Another worker holds this run now; the holder of an older fence must stop."""


def acquire_migration_lock(conn: psycopg.Connection[Any], timeout: float = 120.0) -> None:
    """Take the migration lock by polling `pg_try_advisory_lock`.

    Not `pg_advisory_lock`: a session blocked in that statement holds a snapshot, and
    LangGraph's checkpoint migrations run `CREATE INDEX CONCURRENTLY`, which waits for every
    older snapshot: the lock holder would wait for the waiter forever (seen with three workers
    starting at once).
    """
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK,)).fetchone()
        if row and row[0]:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("another Enigma process holds the migration lock")
        time.sleep(0.05 + random.random() * 0.1)


def release_migration_lock(conn: psycopg.Connection[Any]) -> None:
    """Give the migration lock back."""
    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Apply missing migrations under the migration lock; returns the schema version."""
    with conn.cursor() as cur:
        acquire_migration_lock(conn)
        try:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS enigma_schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cur.execute("SELECT coalesce(max(version), 0) FROM enigma_schema_migrations")
            row = cur.fetchone()
            current = int(row[0]) if row else 0
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                with conn.transaction():
                    cur.execute(sql)
                    cur.execute(
                        "INSERT INTO enigma_schema_migrations (version) VALUES (%s)", (version,)
                    )
                current = version
        finally:
            release_migration_lock(conn)
    return current


def _run(row: tuple[Any, ...]) -> RunRecord:
    return run_from_row(row, decode=lambda value: value)  # psycopg decodes JSONB itself


class PgRunStore(RunStore):
    """Runs and events in PostgreSQL, shared by every worker."""

    def __init__(self, dsn: str, worker_id: str, schema: str | None = None, max_size: int = 10):
        options = f"-c search_path={schema}" if schema else ""
        self.worker_id = worker_id
        self.dsn = dsn
        self.schema = schema
        self._fences: dict[str, int] = {}
        self._lost: dict[str, int] = {}
        self.pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max_size,
            open=True,
            kwargs={"autocommit": True, "options": options, "row_factory": tuple_row},
        )
        with self.pool.connection() as conn:
            migrate(conn)

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        with self.pool.connection() as conn:
            yield conn

    # ---- the RunStore interface ----

    def create(self, run: RunRecord, idempotency_key: str | None) -> tuple[RunRecord, bool]:
        with self._conn() as conn:
            cur = conn.execute(
                f"INSERT INTO enigma_runs ({RUN_COLUMNS}, idempotency_key) VALUES "  # noqa: S608
                "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
                "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                (
                    run.id,
                    run.status,
                    run.fix_version,
                    run.release_type,
                    json.dumps(run.repositories),
                    run.sprint_name,
                    run.dry_run,
                    run.actor,
                    run.created_at,
                    run.updated_at,
                    run.finished_at,
                    run.current_step,
                    run.error,
                    run.outcome,
                    "[]",
                    json.dumps(run.request),
                    idempotency_key,
                ),
            )
            if cur.fetchone() is not None:
                return run, True
            row = conn.execute(
                f"SELECT {RUN_COLUMNS} FROM enigma_runs WHERE idempotency_key=%s",  # noqa: S608
                (idempotency_key,),
            ).fetchone()
        assert row is not None
        return _run(row), False

    def get(self, run_id: str) -> RunRecord | None:
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {RUN_COLUMNS} FROM enigma_runs WHERE id=%s",  # noqa: S608
                (run_id,),
            ).fetchone()
        return None if row is None else _run(row)

    def list_runs(
        self, status: str | None, fix_version: str | None, limit: int, offset: int
    ) -> tuple[list[RunRecord], int]:
        where = (
            "WHERE (%(s)s::text IS NULL OR status=%(s)s) "
            "AND (%(v)s::text IS NULL OR fix_version=%(v)s)"
        )
        args = {"s": status, "v": fix_version, "l": limit, "o": offset}
        with self._conn() as conn:
            count = conn.execute(f"SELECT count(*) FROM enigma_runs {where}", args).fetchone()  # noqa: S608
            rows = conn.execute(
                f"SELECT {RUN_COLUMNS} FROM enigma_runs {where} "  # noqa: S608
                "ORDER BY created_at DESC, id LIMIT %(l)s OFFSET %(o)s",
                args,
            ).fetchall()
        return [_run(r) for r in rows], int(count[0]) if count else 0

    def with_status(self, statuses: set[str]) -> list[RunRecord]:
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {RUN_COLUMNS} FROM enigma_runs WHERE status = ANY(%s) ORDER BY created_at",  # noqa: S608
                (sorted(statuses),),
            ).fetchall()
        return [_run(r) for r in rows]

    def set_status(self, run_id: str, status: str, **fields: Any) -> RunRecord:
        with self._conn() as conn, conn.transaction():
            row = conn.execute(
                "SELECT status, lease_owner, fence FROM enigma_runs WHERE id=%s FOR UPDATE",
                (run_id,),
            ).fetchone()
            if row is None:
                raise KeyError(run_id)
            self._check_fence(run_id, row[1], row[2])
            current = str(row[0])
            if current != status and status not in TRANSITIONS[current]:
                raise IllegalTransition(run_id, current, status)
            self._write(conn, run_id, {"status": status, **fields})
            if status in ("waiting_for_approval", "paused", "succeeded", "failed", "cancelled"):
                conn.execute(
                    "UPDATE enigma_runs SET lease_owner=NULL, lease_until=NULL, control=NULL "
                    "WHERE id=%s",
                    (run_id,),
                )
                self._fences.pop(run_id, None)
        record = self.get(run_id)
        assert record is not None
        return record

    def update(self, run_id: str, **fields: Any) -> None:
        with self._conn() as conn:
            self._write(conn, run_id, fields)

    def _write(self, conn: psycopg.Connection[Any], run_id: str, fields: dict[str, Any]) -> None:
        unknown = set(fields) - UPDATABLE_FIELDS - {"status"}
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        names = [*fields, "updated_at"]
        values = [encode_field(k, v) for k, v in fields.items()] + [time.time()]
        sets = ", ".join(f"{n} = %s" for n in names)
        conn.execute(f"UPDATE enigma_runs SET {sets} WHERE id = %s", [*values, run_id])  # noqa: S608

    def _check_fence(self, run_id: str, owner: str | None, fence: int) -> None:
        mine = self._fences.get(run_id)
        if mine is not None and (owner != self.worker_id or fence != mine):
            # remember the loss: every later write of this (stale) execution is refused too
            self._lost[run_id] = mine
            self._fences.pop(run_id, None)
        if run_id in self._lost:
            raise LeaseLost(f"run {run_id}: lease now held by {owner} (fence {fence})")

    def append_event(
        self,
        run_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        step: str | None = None,
        repo: str | None = None,
        actor: str | None = None,
    ) -> EventRecord:
        at = time.time()
        body = json.dumps(data or {}, default=str)
        with self._conn() as conn, conn.transaction():
            if run_id in self._fences or run_id in self._lost:
                row = conn.execute(
                    "SELECT lease_owner, fence FROM enigma_runs WHERE id=%s", (run_id,)
                ).fetchone()
                if row is not None:
                    self._check_fence(run_id, row[0], row[1])
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENT_LOCK,))
            row = conn.execute(
                "INSERT INTO enigma_events (run_id, at, type, step, repo, actor, data) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                (run_id, at, type, step, repo, actor, body),
            ).fetchone()
            assert row is not None
            conn.execute("SELECT pg_notify('enigma_events', %s)", (str(row[0]),))
        return EventRecord(
            id=int(row[0]),
            run_id=run_id,
            at=at,
            type=type,
            step=step,
            repo=repo,
            actor=actor,
            data=json.loads(body),
        )

    def events(self, run_id: str | None, after: int = 0, limit: int = 1000) -> list[EventRecord]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT id, run_id, at, type, step, repo, actor, data FROM enigma_events "
                "WHERE id > %s AND (%s::text IS NULL OR run_id = %s) ORDER BY id LIMIT %s",
                (after, run_id, run_id, limit),
            ).fetchall()
        return [
            EventRecord(
                id=r[0],
                run_id=r[1],
                at=r[2],
                type=r[3],
                step=r[4],
                repo=r[5],
                actor=r[6],
                data=r[7],
            )
            for r in rows
        ]

    def last_event_id(self) -> int:
        """The newest event id (0 for none)."""
        with self._conn() as conn:
            row = conn.execute("SELECT coalesce(max(id), 0) FROM enigma_events").fetchone()
        return int(row[0]) if row else 0

    def step_attempts(self, run_id: str) -> dict[tuple[str, str | None], int]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT step, repo, sum(CASE type WHEN 'step.started' THEN 1 ELSE -1 END) "
                "FROM enigma_events WHERE run_id=%s "
                "AND type IN ('step.started', 'step.waiting') GROUP BY step, repo",
                (run_id,),
            ).fetchall()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def finished_before(self, timestamp: float) -> list[str]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT id FROM enigma_runs WHERE finished_at IS NOT NULL AND finished_at < %s",
                (timestamp,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def delete(self, run_id: str) -> None:
        with self._conn() as conn, conn.transaction():
            conn.execute("DELETE FROM enigma_events WHERE run_id=%s", (run_id,))
            conn.execute("DELETE FROM enigma_runs WHERE id=%s", (run_id,))

    def close(self) -> None:
        self.pool.close()

    # ---- leases, commands and wake-ups ----

    def enqueue(self, run_id: str, command: dict[str, Any] | None) -> None:
        """Record what the next executor must do (resume value, checkpoint) and wake workers."""
        with self._conn() as conn:
            conn.execute(
                "UPDATE enigma_runs SET next_command=%s WHERE id=%s",
                (json.dumps(command) if command is not None else None, run_id),
            )
            conn.execute("SELECT pg_notify('enigma_wakeup', %s)", (run_id,))

    def claim(
        self, ttl: float, limit: int, global_limit: int
    ) -> list[tuple[str, dict[str, Any] | None]]:
        """Lease up to `limit` queued or orphaned runs, never more than `global_limit` executing."""
        if limit <= 0:
            return []
        with self._conn() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))
            row = conn.execute(
                "SELECT count(*) FROM enigma_runs WHERE status='running' AND lease_until > now()"
            ).fetchone()
            room = max(0, min(limit, global_limit - (int(row[0]) if row else 0)))
            if room == 0:
                return []
            rows = conn.execute(
                "UPDATE enigma_runs r SET lease_owner=%(me)s, "
                "lease_until=now() + make_interval(secs => %(ttl)s), fence=r.fence + 1, "
                "next_command=NULL "
                "FROM (SELECT id FROM enigma_runs WHERE (status='queued' AND (lease_until IS NULL "
                "OR lease_until < now())) OR (status='running' AND (lease_until IS NULL OR "
                "lease_until < now())) ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT %(n)s) c "
                "WHERE r.id = c.id RETURNING r.id, r.fence, r.next_command",
                {"me": self.worker_id, "ttl": ttl, "n": room},
            ).fetchall()
        for run_id, fence, _ in rows:
            self._fences[str(run_id)] = int(fence)
            self._lost.pop(str(run_id), None)
        return [(str(r[0]), r[2]) for r in rows]

    def renew(self, ttl: float) -> list[str]:
        """Extend every lease this worker holds; returns the runs whose lease was lost."""
        held = dict(self._fences)
        if not held:
            return []
        with self._conn() as conn:
            rows = conn.execute(
                "UPDATE enigma_runs SET lease_until=now() + make_interval(secs => %s) "
                "WHERE lease_owner=%s AND id = ANY(%s) RETURNING id, fence",
                (ttl, self.worker_id, list(held)),
            ).fetchall()
        kept = {str(r[0]): int(r[1]) for r in rows}
        lost = [rid for rid, fence in held.items() if kept.get(rid) != fence]
        for rid in lost:
            self._lost[rid] = self._fences.pop(rid)
        return lost

    def forget_loss(self, run_id: str) -> None:
        """The stale execution of `run_id` has stopped: this worker may write for it again."""
        self._lost.pop(run_id, None)

    def release(self, run_id: str) -> None:
        """Give a lease up (shutdown); the run is claimable at once."""
        self._fences.pop(run_id, None)
        with self._conn() as conn:
            conn.execute(
                "UPDATE enigma_runs SET lease_owner=NULL, lease_until=NULL "
                "WHERE id=%s AND lease_owner=%s",
                (run_id, self.worker_id),
            )

    def holds(self, run_id: str) -> bool:
        """Whether this worker believes it holds the run's lease."""
        return run_id in self._fences

    def request_control(self, run_id: str, control: str) -> None:
        """Ask whichever worker executes the run to pause or cancel it."""
        with self._conn() as conn:
            conn.execute("UPDATE enigma_runs SET control=%s WHERE id=%s", (control, run_id))
            conn.execute("SELECT pg_notify('enigma_control', %s)", (f"{run_id}:{control}",))

    def controls_for_me(self) -> list[tuple[str, str]]:
        """Pause / cancel requests for runs this worker executes (the table is the truth)."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT id, control FROM enigma_runs WHERE lease_owner=%s AND control IS NOT NULL",
                (self.worker_id,),
            ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def listen_connection(self) -> psycopg.Connection[Any]:
        """A dedicated autocommit connection listening to Enigma's channels."""
        options = f"-c search_path={self.schema}" if self.schema else ""
        conn = psycopg.connect(self.dsn, autocommit=True, options=options)
        for channel in ("enigma_events", "enigma_wakeup", "enigma_control"):
            conn.execute(f"LISTEN {channel}")
        return conn

"""The run store: one row per run and the append-only event log, in SQLite.

Kept in its own file beside the checkpoints (`runs.sqlite3` next to `checkpoints.sqlite3`):
the checkpointer holds one connection to its file for the app's lifetime and sets no
busy_timeout, so sharing the file would invite "database is locked".
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from enigma.runs.models import TRANSITIONS, EventRecord, PendingDecision, RunRecord

__all__ = [
    "RUN_COLUMNS",
    "UPDATABLE_FIELDS",
    "IllegalTransition",
    "RunHandedOver",
    "RunStore",
    "SqliteRunStore",
    "encode_field",
    "run_from_row",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    fix_version TEXT NOT NULL,
    release_type TEXT NOT NULL,
    repositories TEXT NOT NULL,
    sprint_name TEXT,
    dry_run INTEGER NOT NULL DEFAULT 0,
    actor TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    current_step TEXT,
    error TEXT,
    outcome TEXT,
    pending TEXT NOT NULL DEFAULT '[]',
    request TEXT NOT NULL DEFAULT '{}',
    idempotency_key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    step TEXT,
    repo TEXT,
    actor TEXT,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_run ON events (run_id, id);
"""

RUN_COLUMNS = (
    "id, status, fix_version, release_type, repositories, sprint_name, dry_run, actor, "
    "created_at, updated_at, finished_at, current_step, error, outcome, pending, request"
)
UPDATABLE_FIELDS = {"current_step", "error", "outcome", "pending", "finished_at"}


class RunHandedOver(Exception):
    """Another process executes this run now (a store with leases says so): stop quietly.

    The executor must not write the run's status after this: it is no longer its run.
    """


class IllegalTransition(Exception):
    """The run's status does not allow the requested change."""

    def __init__(self, run_id: str, current: str, wanted: str):
        super().__init__(f"run {run_id} is {current}; it cannot become {wanted}")
        self.current = current
        self.wanted = wanted


class RunStore:
    """What the run manager needs from storage (SQLite here, PostgreSQL for scale-out)."""

    def create(self, run: RunRecord, idempotency_key: str | None) -> tuple[RunRecord, bool]:
        """Insert a run; with a known idempotency key return the existing run and False."""
        raise NotImplementedError

    def get(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        raise NotImplementedError

    def list_runs(
        self, status: str | None, fix_version: str | None, limit: int, offset: int
    ) -> tuple[list[RunRecord], int]:
        """A page of runs, newest first, and the total that match."""
        raise NotImplementedError

    def with_status(self, statuses: set[str]) -> list[RunRecord]:
        """Every run in one of `statuses`, oldest first."""
        raise NotImplementedError

    def set_status(self, run_id: str, status: str, **fields: Any) -> RunRecord:
        """Change status (only legal transitions) and other fields in one write."""
        raise NotImplementedError

    def update(self, run_id: str, **fields: Any) -> None:
        """Change fields other than status."""
        raise NotImplementedError

    def append_event(
        self,
        run_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        step: str | None = None,
        repo: str | None = None,
        actor: str | None = None,
    ) -> EventRecord:
        """Append to the event log; ids only go up."""
        raise NotImplementedError

    def events(self, run_id: str | None, after: int = 0, limit: int = 1000) -> list[EventRecord]:
        """Events after an id, oldest first, for one run or all."""
        raise NotImplementedError

    def step_attempts(self, run_id: str) -> dict[tuple[str, str | None], int]:
        """Attempts of each (step, repository): starts, less resumes after a human answer."""
        raise NotImplementedError

    def finished_before(self, timestamp: float) -> list[str]:
        """Ids of runs that finished before `timestamp`."""
        raise NotImplementedError

    def delete(self, run_id: str) -> None:
        """Remove a run and its events."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection."""


def run_from_row(row: tuple[Any, ...], decode: Callable[[Any], Any] = json.loads) -> RunRecord:
    """A run from a row of RUN_COLUMNS (`decode` turns a JSON column into Python)."""
    return RunRecord(
        id=row[0],
        status=row[1],
        fix_version=row[2],
        release_type=row[3],
        repositories=decode(row[4]),
        sprint_name=row[5],
        dry_run=bool(row[6]),
        actor=row[7],
        created_at=row[8],
        updated_at=row[9],
        finished_at=row[10],
        current_step=row[11],
        error=row[12],
        outcome=row[13],
        pending=[PendingDecision.model_validate(p) for p in decode(row[14])],
        request=decode(row[15]),
    )


def encode_field(name: str, value: Any) -> Any:
    """A field value as the database stores it (decisions as a JSON list)."""
    if name == "pending":
        return json.dumps([p.model_dump() if hasattr(p, "model_dump") else p for p in value])
    return value


class SqliteRunStore(RunStore):
    """The embedded default: one SQLite file, WAL, one connection behind a lock."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def create(self, run: RunRecord, idempotency_key: str | None) -> tuple[RunRecord, bool]:
        with self._lock:
            if idempotency_key is not None:
                row = self._db.execute(
                    f"SELECT {RUN_COLUMNS} FROM runs WHERE idempotency_key=?",  # noqa: S608
                    (idempotency_key,),
                ).fetchone()
                if row is not None:
                    return run_from_row(row), False
            self._db.execute(
                f"INSERT INTO runs ({RUN_COLUMNS}, idempotency_key) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.status,
                    run.fix_version,
                    run.release_type,
                    json.dumps(run.repositories),
                    run.sprint_name,
                    int(run.dry_run),
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
        return run, True

    def get(self, run_id: str) -> RunRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE id=?",  # noqa: S608
                (run_id,),
            ).fetchone()
        return None if row is None else run_from_row(row)

    def list_runs(
        self, status: str | None, fix_version: str | None, limit: int, offset: int
    ) -> tuple[list[RunRecord], int]:
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        if fix_version:
            where.append("fix_version = ?")
            args.append(fix_version)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        # only fixed column names and placeholders are formatted in; values are parameters
        count = f"SELECT count(*) FROM runs{clause}"  # noqa: S608
        page = (
            f"SELECT {RUN_COLUMNS} FROM runs{clause}"  # noqa: S608
            " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        )
        with self._lock:
            total = self._db.execute(count, args).fetchone()[0]
            rows = self._db.execute(page, [*args, limit, offset]).fetchall()
        return [run_from_row(r) for r in rows], int(total)

    def with_status(self, statuses: set[str]) -> list[RunRecord]:
        marks = ",".join("?" * len(statuses))
        with self._lock:
            rows = self._db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE status IN ({marks}) ORDER BY created_at",  # noqa: S608
                sorted(statuses),
            ).fetchall()
        return [run_from_row(r) for r in rows]

    def set_status(self, run_id: str, status: str, **fields: Any) -> RunRecord:
        with self._lock:
            row = self._db.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                raise KeyError(run_id)
            current = str(row[0])
            if current != status and status not in TRANSITIONS[current]:
                raise IllegalTransition(run_id, current, status)
            self._write(run_id, {"status": status, **fields})
        record = self.get(run_id)
        assert record is not None
        return record

    def update(self, run_id: str, **fields: Any) -> None:
        with self._lock:
            self._write(run_id, fields)

    def _write(self, run_id: str, fields: dict[str, Any]) -> None:
        unknown = set(fields) - UPDATABLE_FIELDS - {"status"}
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        names = [*fields, "updated_at"]
        values = [encode_field(k, v) for k, v in fields.items()] + [time.time()]
        sets = ", ".join(f"{n} = ?" for n in names)
        self._db.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*values, run_id])  # noqa: S608

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
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO events (run_id, at, type, step, repo, actor, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, at, type, step, repo, actor, body),
            )
            event_id = int(cur.lastrowid or 0)
        return EventRecord(
            id=event_id,
            run_id=run_id,
            at=at,
            type=type,
            step=step,
            repo=repo,
            actor=actor,
            data=json.loads(body),
        )

    def events(self, run_id: str | None, after: int = 0, limit: int = 1000) -> list[EventRecord]:
        sql = "SELECT id, run_id, at, type, step, repo, actor, data FROM events WHERE id > ?"
        args: list[Any] = [after]
        if run_id is not None:
            sql += " AND run_id = ?"
            args.append(run_id)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            EventRecord(
                id=r[0],
                run_id=r[1],
                at=r[2],
                type=r[3],
                step=r[4],
                repo=r[5],
                actor=r[6],
                data=json.loads(r[7]),
            )
            for r in rows
        ]

    def step_attempts(self, run_id: str) -> dict[tuple[str, str | None], int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT step, repo, sum(CASE type WHEN 'step.started' THEN 1 ELSE -1 END) "
                "FROM events WHERE run_id = ? AND type IN ('step.started', 'step.waiting') "
                "GROUP BY step, repo",
                (run_id,),
            ).fetchall()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def finished_before(self, timestamp: float) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?",
                (timestamp,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def delete(self, run_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            self._db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

"""The run store in SQLite: the embedded default, off the event loop, writes grouped.

Kept in its own file beside the checkpoints (`runs.sqlite3` next to `checkpoints.sqlite3`):
the checkpointer holds one connection to its file for the app's lifetime.

Built from `SqliteBase` (two threads of its own, writes grouped into one commit, reads never
behind a write batch: sqlite_base.py) and `SqliteOutbox` (notifications, deadlines,
policies: sqlite_outbox.py); runs and events are here. The schema and its migrations are in
`sqlite_schema.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

from enigma.runs.models import TRANSITIONS, EventRecord, RunRecord
from enigma.runs.sqlite_outbox import SqliteOutbox
from enigma.runs.sqlite_schema import Db
from enigma.runs.store import (
    LIVE,
    RUN_COLUMNS,
    IllegalTransition,
    NewEvent,
    Notify,
    RunStore,
    VersionBusy,
    check_fields,
    encode_field,
    run_from_row,
    run_values,
)

__all__ = ["SqliteRunStore"]

_SELECT = f"SELECT {RUN_COLUMNS} FROM runs"  # noqa: S608 (fixed column names)
_EVENT = "SELECT id, run_id, at, type, step, repo, actor, data FROM events"


def _event(row: tuple[Any, ...]) -> EventRecord:
    return EventRecord(
        id=row[0],
        run_id=row[1],
        at=row[2],
        type=row[3],
        step=row[4],
        repo=row[5],
        actor=row[6],
        data=json.loads(row[7]),
    )


class SqliteRunStore(SqliteOutbox, RunStore):
    """Runs and events in one SQLite file (see the module docstring)."""

    # ---- runs ----

    async def create(self, run: RunRecord, idempotency_key: str | None) -> tuple[RunRecord, bool]:
        def insert(db: Db) -> tuple[RunRecord, bool]:
            if idempotency_key is not None:
                row = db.execute(f"{_SELECT} WHERE idempotency_key=?", (idempotency_key,))
                found = row.fetchone()
                if found is not None:
                    return run_from_row(found), False
            _one_live(db, run.fix_version, run.id)
            marks = ", ".join("?" * (len(run_values(run)) + 1))
            db.execute(
                f"INSERT INTO runs ({RUN_COLUMNS}, idempotency_key) VALUES ({marks})",  # noqa: S608
                (*[int(v) if isinstance(v, bool) else v for v in run_values(run)], idempotency_key),
            )
            return run, True

        return await self._write(insert)

    async def get(self, run_id: str) -> RunRecord | None:
        row = await self._read(lambda db: db.execute(f"{_SELECT} WHERE id=?", (run_id,)).fetchone())
        return None if row is None else run_from_row(row)

    async def list_runs(
        self,
        status: str | None,
        fix_version: str | None,
        limit: int,
        offset: int,
        query: str | None = None,
    ) -> tuple[list[RunRecord], int]:
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        if fix_version:
            where.append("fix_version = ?")
            args.append(fix_version)
        if query:
            where.append(
                "(id = ? OR fix_version = ? OR EXISTS (SELECT 1 FROM json_each(repositories) "
                "WHERE value = ?) OR EXISTS (SELECT 1 FROM json_each(tickets) WHERE value = ?))"
            )
            args += [query] * 4
        clause = (" WHERE " + " AND ".join(where)) if where else ""

        def page(db: Db) -> tuple[list[RunRecord], int]:
            total = db.execute(f"SELECT count(*) FROM runs{clause}", args).fetchone()[0]  # noqa: S608
            rows = db.execute(
                f"{_SELECT}{clause} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
            return [run_from_row(r) for r in rows], int(total)

        return await self._read(page)

    async def with_status(self, statuses: set[str]) -> list[RunRecord]:
        marks = ",".join("?" * len(statuses))
        rows = await self._read(
            lambda db: db.execute(
                f"{_SELECT} WHERE status IN ({marks}) ORDER BY created_at", sorted(statuses)
            ).fetchall()
        )
        return [run_from_row(r) for r in rows]

    async def set_status(
        self, run_id: str, status: str, only_from: frozenset[str] | None = None, **fields: Any
    ) -> RunRecord:
        check_fields(fields)

        def change(db: Db) -> RunRecord:
            row = db.execute(
                "SELECT status, fix_version FROM runs WHERE id=?", (run_id,)
            ).fetchone()
            if row is None:
                raise KeyError(run_id)
            current = str(row[0])
            if current != status and status not in TRANSITIONS[current]:
                raise IllegalTransition(run_id, current, status)
            if only_from is not None and current not in only_from:
                raise IllegalTransition(run_id, current, status)
            if status in LIVE and current not in LIVE:
                _one_live(db, str(row[1]), run_id)
            _write_fields(db, run_id, {"status": status, **fields})
            return run_from_row(db.execute(f"{_SELECT} WHERE id=?", (run_id,)).fetchone())

        return await self._write(change)

    async def update(self, run_id: str, **fields: Any) -> None:
        check_fields(fields)
        await self._write(lambda db: _write_fields(db, run_id, fields))

    # ---- events ----

    async def append_event(
        self,
        run_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        step: str | None = None,
        repo: str | None = None,
        actor: str | None = None,
        notify: Notify | None = None,
    ) -> EventRecord:
        at = time.time()
        body = json.dumps(data or {}, default=str)

        def insert(db: Db) -> EventRecord:
            event = _insert_event(db, run_id, at, type, step, repo, actor, body)
            for entry in notify(event) if notify is not None else []:
                db.execute(
                    "INSERT OR IGNORE INTO outbox (id, run_id, event_id, type, channel, "
                    "notification, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.key,
                        run_id,
                        event.id,
                        entry.notification["type"],
                        entry.channel,
                        json.dumps(entry.notification),
                        at,
                        at,
                    ),
                )
            return event

        return await self._write(insert)

    async def append_events(
        self, run_id: str, events: list[NewEvent], fields: dict[str, Any]
    ) -> list[EventRecord]:
        if fields:
            check_fields(fields)
        at = time.time()
        bodies = [json.dumps(e.data, default=str) for e in events]

        def insert(db: Db) -> list[EventRecord]:
            records = [
                _insert_event(db, run_id, at, e.type, e.step, e.repo, None, body)
                for e, body in zip(events, bodies, strict=True)
            ]
            if fields:
                _write_fields(db, run_id, fields)
            return records

        return await self._write(insert)

    async def events(
        self,
        run_id: str | None,
        after: int = 0,
        limit: int = 1000,
        types: Collection[str] | None = None,
    ) -> list[EventRecord]:
        sql = f"{_EVENT} WHERE id > ?"
        args: list[Any] = [after]
        if run_id is not None:
            sql += " AND run_id = ?"
            args.append(run_id)
        if types:
            sql += f" AND type IN ({','.join('?' * len(types))})"
            args += sorted(types)
        sql += " ORDER BY id LIMIT ?"
        rows = await self._read(lambda db: db.execute(sql, [*args, limit]).fetchall())
        return [_event(r) for r in rows]

    async def step_attempts(self, run_id: str) -> dict[tuple[str, str | None], int]:
        rows = await self._read(
            lambda db: db.execute(
                "SELECT step, repo, sum(CASE type WHEN 'step.started' THEN 1 ELSE -1 END) "
                "FROM events WHERE run_id = ? AND type IN ('step.started', 'step.waiting') "
                "GROUP BY step, repo",
                (run_id,),
            ).fetchall()
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def finished_before(self, timestamp: float) -> list[str]:
        rows = await self._read(
            lambda db: db.execute(
                "SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?",
                (timestamp,),
            ).fetchall()
        )
        return [str(r[0]) for r in rows]

    async def delete(self, run_id: str) -> None:
        def remove(db: Db) -> None:
            db.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM outbox WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

        await self._write(remove)


def _one_live(db: Db, fix_version: str, run_id: str) -> None:
    """VersionBusy if another run of `fix_version` is live (the writer thread makes it atomic)."""
    marks = ",".join("?" * len(LIVE))
    row = db.execute(
        f"SELECT id, status FROM runs WHERE fix_version=? AND id<>? AND status IN ({marks}) "  # noqa: S608
        "ORDER BY created_at LIMIT 1",
        (fix_version, run_id, *LIVE),
    ).fetchone()
    if row is not None:
        raise VersionBusy(fix_version, str(row[0]), str(row[1]))


def _write_fields(db: Db, run_id: str, fields: dict[str, Any]) -> None:
    names = [*fields, "updated_at"]
    values = [encode_field(k, v) for k, v in fields.items()] + [time.time()]
    sets = ", ".join(f"{n} = ?" for n in names)
    db.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*values, run_id])  # noqa: S608


def _insert_event(
    db: Db,
    run_id: str,
    at: float,
    type: str,
    step: str | None,
    repo: str | None,
    actor: str | None,
    body: str,
) -> EventRecord:
    values = (run_id, at, type, step, repo, actor, body)
    cur = db.execute(
        "INSERT INTO events (run_id, at, type, step, repo, actor, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        values,
    )
    return _event((int(cur.lastrowid or 0), *values))

"""The run store in SQLite: the embedded default, off the event loop, writes grouped.

Kept in its own file beside the checkpoints (`runs.sqlite3` next to `checkpoints.sqlite3`):
the checkpointer holds one connection to its file for the app's lifetime.

Two threads of its own, each with one connection (WAL lets them work side by side): a writer
and a reader. A write is queued by the event loop; the writer takes every write queued so far
and applies them in one transaction, each under a savepoint, so one write refused (an illegal
status change) does not undo the others, and one commit serves a burst of writes from many
runs (group commit). Reads never wait behind a write batch. Nothing here blocks the loop.

The schema and its migrations are in `sqlite_schema.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from enigma.runs.models import TRANSITIONS, EventRecord, RunRecord
from enigma.runs.sqlite_schema import Db, connect, migrate
from enigma.runs.store import (
    LIVE,
    RUN_COLUMNS,
    IllegalTransition,
    RunStore,
    StoreUnavailable,
    VersionBusy,
    check_fields,
    encode_field,
    run_from_row,
    run_values,
    sqlite_cause,
)

__all__ = ["SqliteRunStore"]

T = TypeVar("T")

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


def _guard(fn: Callable[[], T]) -> T:
    """Run a database step; outages become `StoreUnavailable`, bugs stay what they are."""
    try:
        return fn()
    except (sqlite3.Error, OSError) as exc:
        cause = sqlite_cause(exc)
        if cause is None:
            raise
        raise StoreUnavailable(cause) from exc


class SqliteRunStore(RunStore):
    """Runs and events in one SQLite file (see the module docstring)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="enigma-runs-write")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="enigma-runs-read")
        self._wdb: Db = self._writer.submit(self._open_writer).result()
        self._rdb: Db = self._reader.submit(connect, path).result()
        self._queue: list[tuple[Callable[[Db], Any], asyncio.Future[Any]]] = []
        self._flushing = False

    def _open_writer(self) -> Db:
        db = connect(self.path)
        migrate(db)
        return db

    # ---- plumbing: reads on the reader thread, writes grouped on the writer thread ----

    async def _read(self, fn: Callable[[Db], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, lambda: _guard(lambda: fn(self._rdb)))

    async def _write(self, fn: Callable[[Db], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((fn, future))
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._flush)  # writes queued in this loop turn join the batch
        return await future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            self._flushing = False
            return
        done: Future[list[tuple[bool, Any]]] = self._writer.submit(
            self._apply, [fn for fn, _ in batch]
        )
        loop = asyncio.get_running_loop()

        def settle(result: Future[list[tuple[bool, Any]]]) -> None:
            exc = result.exception()
            outcomes = [(False, exc)] * len(batch) if exc else result.result()
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue  # the writer gave up waiting (cancelled); the write still counts
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            self._flush()  # the next batch: whatever queued up meanwhile

        done.add_done_callback(lambda f: loop.call_soon_threadsafe(settle, f))

    def _apply(self, fns: list[Callable[[Db], Any]]) -> list[tuple[bool, Any]]:
        """One transaction; each write under a savepoint, so a refused one undoes only itself."""
        db = self._wdb
        try:
            _guard(lambda: db.execute("BEGIN IMMEDIATE"))
        except StoreUnavailable as exc:
            return [(False, exc)] * len(fns)
        outcomes: list[tuple[bool, Any]] = []
        for fn in fns:
            db.execute("SAVEPOINT w")
            try:
                outcomes.append((True, _guard(lambda fn=fn: fn(db))))  # type: ignore[misc]
                db.execute("RELEASE w")
            except Exception as exc:  # handed to that write's caller
                db.execute("ROLLBACK TO w")
                db.execute("RELEASE w")
                outcomes.append((False, exc))
        try:
            _guard(lambda: db.execute("COMMIT"))
        except StoreUnavailable as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            return [(False, exc)] * len(fns)
        return outcomes

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

    async def set_status(self, run_id: str, status: str, **fields: Any) -> RunRecord:
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
    ) -> EventRecord:
        at = time.time()
        body = json.dumps(data or {}, default=str)

        def insert(db: Db) -> int:
            cur = db.execute(
                "INSERT INTO events (run_id, at, type, step, repo, actor, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, at, type, step, repo, actor, body),
            )
            return int(cur.lastrowid or 0)

        event_id = await self._write(insert)
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
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

        await self._write(remove)

    async def save_policy(self, policy_hash: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, sort_keys=True, default=str)
        await self._write(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO policies (hash, body, created_at) VALUES (?, ?, ?)",
                (policy_hash, text, time.time()),
            )
        )

    async def policy(self, policy_hash: str) -> dict[str, Any] | None:
        row = await self._read(
            lambda db: db.execute(
                "SELECT body FROM policies WHERE hash=?", (policy_hash,)
            ).fetchone()
        )
        return None if row is None else dict(json.loads(row[0]))

    async def probe(self) -> None:
        """A real commit, and a file written and synced in the data directory."""
        await self._write(lambda db: db.execute("PRAGMA user_version").fetchone())
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, lambda: _guard(self._probe_disk))

    def _probe_disk(self) -> None:
        # a commit that fits in the WAL's existing pages succeeds on a full disk: writing a
        # fresh file is what tells whether the next checkpoint will fit
        probe = self.path.with_name(".write-probe")
        try:
            with open(probe, "wb") as handle:
                handle.write(b"\0" * 65536)
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            probe.unlink(missing_ok=True)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue or self._flushing:
            await asyncio.sleep(0.01)
        await loop.run_in_executor(self._writer, self._wdb.close)
        await loop.run_in_executor(self._reader, self._rdb.close)
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)


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

"""The SQLite run store's foundation: its two threads, grouped writes, the disk probe.

Two threads, each with one connection (WAL lets them work side by side): a writer and a
reader. A write is queued by the event loop; the writer takes every write queued so far and
applies them in one transaction, each under a savepoint, so one write refused (an illegal
status change) does not undo the others, and one commit serves a burst of writes from many
runs (group commit). Reads never wait behind a write batch. Nothing here blocks the loop.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from enigma.files import private_file
from enigma.runs.sqlite_schema import Db, connect, migrate
from enigma.runs.store import StoreUnavailable, sqlite_cause

__all__ = ["SqliteBase", "guard"]

T = TypeVar("T")


def guard(fn: Callable[[], T]) -> T:
    """Run a database step; outages become `StoreUnavailable`, bugs stay what they are."""
    try:
        return fn()
    except (sqlite3.Error, OSError) as exc:
        cause = sqlite_cause(exc)
        if cause is None:
            raise
        raise StoreUnavailable(cause) from exc


class SqliteBase:
    """Plumbing shared by the store's parts: reads on the reader, writes grouped on the writer."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = private_file(path)
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

    async def _read(self, fn: Callable[[Db], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, lambda: guard(lambda: fn(self._rdb)))

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
            guard(lambda: db.execute("BEGIN IMMEDIATE"))
        except StoreUnavailable as exc:
            return [(False, exc)] * len(fns)
        outcomes: list[tuple[bool, Any]] = []
        for fn in fns:
            db.execute("SAVEPOINT w")
            try:
                outcomes.append((True, guard(lambda fn=fn: fn(db))))  # type: ignore[misc]
                db.execute("RELEASE w")
            except Exception as exc:  # handed to that write's caller
                db.execute("ROLLBACK TO w")
                db.execute("RELEASE w")
                outcomes.append((False, exc))
        try:
            guard(lambda: db.execute("COMMIT"))
        except StoreUnavailable as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            return [(False, exc)] * len(fns)
        return outcomes

    async def probe(self) -> None:
        """A real commit, and a file written and synced in the data directory."""
        await self._write(lambda db: db.execute("PRAGMA user_version").fetchone())
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, lambda: guard(self._probe_disk))

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

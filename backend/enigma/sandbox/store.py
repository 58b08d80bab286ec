"""The sandbox's SQLite file: documents, counters, small settings and the side-effect log.

Every peer keeps what it knows as JSON documents keyed by (peer, kind, id) in one SQLite file
in the data directory, so a restarted sandbox carries on where it stopped. Writes happen in a
`Transaction`; a side effect is appended to the log in the same transaction as the data it
changes, which is what lets tests prove that nothing was done twice and nothing was lost.

One connection and one re-entrant lock: handlers run in FastAPI's thread pool, and nested
`transaction()` calls join the outer one, so a handler may call helpers that open their own.
The lock is also what serialises writers that change git and the store together (merges,
pushes): holding a transaction means no other writer runs.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import Request

__all__ = ["Store", "Transaction", "request_id"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    peer TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
    UNIQUE (peer, kind, id)
);
CREATE TABLE IF NOT EXISTS effects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, peer TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
    method TEXT NOT NULL, path TEXT NOT NULL, request_id TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Transaction:
    """Reads and writes inside one SQLite transaction; obtained from `Store.transaction()`."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def get(self, peer: str, kind: str, id: str) -> dict[str, Any] | None:
        """Return the stored document, or None."""
        row = self._conn.execute(
            "SELECT body FROM docs WHERE peer=? AND kind=? AND id=?", (peer, kind, id)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, peer: str, kind: str, id: str, doc: dict[str, Any]) -> None:
        """Insert or replace a document (insertion order is kept for listing)."""
        self._conn.execute(
            "INSERT INTO docs (peer, kind, id, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (peer, kind, id) DO UPDATE SET body = excluded.body",
            (peer, kind, id, json.dumps(doc)),
        )

    def delete(self, peer: str, kind: str, id: str) -> bool:
        """Delete a document; True if it existed."""
        cur = self._conn.execute(
            "DELETE FROM docs WHERE peer=? AND kind=? AND id=?", (peer, kind, id)
        )
        return cur.rowcount > 0

    def list(self, peer: str, kind: str) -> list[dict[str, Any]]:
        """All documents of a kind, oldest first."""
        rows = self._conn.execute(
            "SELECT body FROM docs WHERE peer=? AND kind=? ORDER BY seq", (peer, kind)
        ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def next_id(self, name: str, start: int = 1) -> int:
        """A counter that only goes up (issue numbers, comment ids, ...)."""
        row = self._conn.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        value = start if row is None else int(row[0]) + 1
        self._conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )
        return value

    def record_effect(
        self,
        request: Request | None,
        peer: str,
        kind: str,
        key: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one side effect to the log, atomically with the data written beside it."""
        method = request.method if request is not None else "INTERNAL"
        path = request.url.path if request is not None else ""
        rid = request_id(request) if request is not None else ""
        self._conn.execute(
            "INSERT INTO effects (at, peer, kind, key, method, path, request_id, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), peer, kind, key, method, path, rid, json.dumps(detail or {})),
        )

    def get_meta(self, key: str) -> str | None:
        """A small string setting kept with the data (seeded marker, flags)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a small string setting."""
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class Store:
    """The sandbox's SQLite file: documents, counters and the side-effect log."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(_SCHEMA)
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One atomic unit of work; nested calls join the outer transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield Transaction(self._conn)
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    def get(self, peer: str, kind: str, id: str) -> dict[str, Any] | None:
        """Read one document outside an explicit transaction."""
        with self.transaction() as tx:
            return tx.get(peer, kind, id)

    def list(self, peer: str, kind: str) -> list[dict[str, Any]]:
        """List documents outside an explicit transaction."""
        with self.transaction() as tx:
            return tx.list(peer, kind)

    def effects(self, peer: str | None = None, after: int = 0) -> builtins.list[dict[str, Any]]:
        """The side-effect log, oldest first, optionally for one peer and after an id."""
        sql = "SELECT id, at, peer, kind, key, method, path, request_id, detail FROM effects"
        sql += " WHERE id > ?" + (" AND peer = ?" if peer else "") + " ORDER BY id"
        args: tuple[Any, ...] = (after, peer) if peer else (after,)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        names = ("id", "at", "peer", "kind", "key", "method", "path", "request_id")
        return [dict(zip(names, r[:8], strict=True)) | {"detail": json.loads(r[8])} for r in rows]

    def wipe(self) -> None:
        """Forget everything (used by reset before re-seeding)."""
        with self.transaction():
            for table in ("docs", "effects", "counters", "meta"):
                self._conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


def request_id(request: Request) -> str:
    """The id the middleware gave this request (echoed as X-Request-Id)."""
    return str(request.scope.get("state", {}).get("request_id", ""))

"""The SQLite schema of the run store: numbered migrations recorded in `PRAGMA user_version`.

An older data directory is brought up to date when the store opens. Every connection uses
WAL (readers never wait for the writer), `synchronous=NORMAL` (a commit survives a process
crash; the last ones may be lost on a power cut, which the checkpoints tolerate) and a busy
timeout.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

__all__ = ["MIGRATIONS", "Db", "connect", "migrate"]

Db = sqlite3.Connection

MIGRATIONS: list[str] = [
    """
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
    """,
    """
    ALTER TABLE runs ADD COLUMN blocked TEXT;
    ALTER TABLE runs ADD COLUMN detail TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE runs ADD COLUMN policy_hash TEXT;
    ALTER TABLE runs ADD COLUMN tickets TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
    CREATE INDEX IF NOT EXISTS runs_version ON runs (fix_version, created_at);
    """,
    """
    CREATE TABLE IF NOT EXISTS policies (
        hash TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_type ON events (run_id, type, id);
    """,
    """
    ALTER TABLE runs ADD COLUMN deadline_at REAL;
    CREATE INDEX IF NOT EXISTS runs_deadline ON runs (deadline_at);
    CREATE TABLE IF NOT EXISTS outbox (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        type TEXT NOT NULL,
        channel TEXT NOT NULL,
        notification TEXT NOT NULL,
        created_at REAL NOT NULL,
        next_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT,
        delivered_at REAL,
        claimed_until REAL
    );
    CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_at);
    CREATE INDEX IF NOT EXISTS outbox_run ON outbox (run_id, created_at);
    """,
]


def connect(path: Path, *, autocommit: bool = True) -> Db:
    """A connection as the store uses it (WAL, NORMAL sync, busy timeout); the checkpointer
    asks for `autocommit=False`, Python's implicit transactions, which LangGraph's
    `SqliteSaver` commits itself after each operation.

    Switching a new database to WAL needs it to itself, and SQLite answers "database is
    locked" at once, without waiting, to the other processes opening it at that moment (the
    service, `enigma runs` and a CLI run may): they try again for up to the busy timeout.
    """
    db = sqlite3.connect(
        path,
        check_same_thread=False,
        isolation_level=None if autocommit else "DEFERRED",
        timeout=5.0,
    )
    db.execute("PRAGMA busy_timeout=5000")
    deadline = time.monotonic() + 5.0
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(0.01)
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def migrate(db: Db) -> None:
    """Apply the migrations this database has not had yet, one transaction each.

    Several processes may open one data directory at once (the service, `enigma runs`, a
    CLI run): the version is read inside the write transaction, so exactly one of them
    applies each migration and the others see it done.
    """
    for version, script in enumerate(MIGRATIONS, start=1):
        db.execute("BEGIN IMMEDIATE")
        try:
            if version <= _version(db):
                db.execute("ROLLBACK")
                continue
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version={version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _version(db: Db) -> int:
    current = int(db.execute("PRAGMA user_version").fetchone()[0])
    if (
        current == 0
        and db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'").fetchone()
    ):
        return 1  # a data directory from before versioning: it has the first schema
    return current

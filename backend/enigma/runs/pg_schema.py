"""The PostgreSQL schema of the run store: numbered migrations, applied once by one worker.

Several workers may start at once; each takes the migration lock by polling
`pg_try_advisory_lock`, never by blocking in `pg_advisory_lock`: a session blocked in that
statement holds a snapshot, and LangGraph's checkpoint migrations run `CREATE INDEX
CONCURRENTLY`, which waits for every older snapshot, so the lock holder would wait for the
waiter forever (seen with three workers starting together). The same lock guards the
checkpointer's own `setup()` (see bootstrap).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import psycopg

__all__ = [
    "CLAIM_LOCK",
    "EVENT_LOCK",
    "MIGRATIONS",
    "VERSION_LOCK",
    "acquire_migration_lock",
    "migrate",
    "release_migration_lock",
]

MIGRATION_LOCK = 7_340_001
EVENT_LOCK = 7_340_002
CLAIM_LOCK = 7_340_003
VERSION_LOCK = 7_340_004
"""With the fix version's hash: one transaction at a time decides whether a run goes live."""

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
    """
    ALTER TABLE enigma_runs ADD COLUMN IF NOT EXISTS blocked TEXT;
    ALTER TABLE enigma_runs ADD COLUMN IF NOT EXISTS detail JSONB NOT NULL DEFAULT '{}';
    ALTER TABLE enigma_runs ADD COLUMN IF NOT EXISTS policy_hash TEXT;
    ALTER TABLE enigma_runs ADD COLUMN IF NOT EXISTS tickets JSONB NOT NULL DEFAULT '[]';
    CREATE INDEX IF NOT EXISTS enigma_runs_created ON enigma_runs (created_at);
    CREATE INDEX IF NOT EXISTS enigma_runs_version ON enigma_runs (fix_version, created_at);
    CREATE INDEX IF NOT EXISTS enigma_events_type ON enigma_events (run_id, type, id);
    ALTER TABLE enigma_events ADD COLUMN IF NOT EXISTS worker TEXT;
    CREATE TABLE IF NOT EXISTS enigma_policies (
        hash TEXT PRIMARY KEY,
        body JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    """,
    """
    ALTER TABLE enigma_runs ADD COLUMN IF NOT EXISTS deadline_at DOUBLE PRECISION;
    CREATE INDEX IF NOT EXISTS enigma_runs_deadline ON enigma_runs (deadline_at);
    CREATE TABLE IF NOT EXISTS enigma_outbox (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        event_id BIGINT NOT NULL,
        type TEXT NOT NULL,
        channel TEXT NOT NULL,
        notification JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        next_at DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT,
        delivered_at DOUBLE PRECISION,
        claimed_until DOUBLE PRECISION
    );
    CREATE INDEX IF NOT EXISTS enigma_outbox_due ON enigma_outbox (status, next_at);
    CREATE INDEX IF NOT EXISTS enigma_outbox_run ON enigma_outbox (run_id, created_at);
    """,
]


async def acquire_migration_lock(
    conn: psycopg.AsyncConnection[Any], timeout: float = 120.0
) -> None:
    """Take the migration lock by polling (see the module docstring)."""
    deadline = time.monotonic() + timeout
    while True:
        row = await (
            await conn.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK,))
        ).fetchone()
        if row and row[0]:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("another Enigma process holds the migration lock")
        await asyncio.sleep(0.05 + random.random() * 0.1)


async def release_migration_lock(conn: psycopg.AsyncConnection[Any]) -> None:
    """Give the migration lock back."""
    await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


async def migrate(conn: psycopg.AsyncConnection[Any]) -> int:
    """Apply missing migrations under the migration lock; returns the schema version."""
    await acquire_migration_lock(conn)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS enigma_schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = await (
            await conn.execute("SELECT coalesce(max(version), 0) FROM enigma_schema_migrations")
        ).fetchone()
        current = int(row[0]) if row else 0
        for version, sql in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO enigma_schema_migrations (version) VALUES (%s)", (version,)
                )
            current = version
    finally:
        await release_migration_lock(conn)
    return current

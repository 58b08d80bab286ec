"""Where runs and checkpoints live: SQLite files under the data directory, or PostgreSQL.

`bootstrap.open_runtime` enters one of the two managers for the process's lifetime; read-only
commands (`enigma runs`) open just the store, and `make bench` opens its savers here so both
sides of a comparison write the same way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from enigma.context import Context
from enigma.graph import build_graph
from enigma.runs.manager import Limits, RunManager
from enigma.runs.sqlite_saver import open_sqlite_saver
from enigma.runs.sqlite_store import SqliteRunStore
from enigma.runs.store import RunStore
from enigma.settings import Settings

__all__ = ["open_sqlite_saver", "open_store", "postgres_manager", "sqlite_manager"]


async def open_store(settings: Settings) -> RunStore:
    """The run store the settings point at (for read-only commands such as `enigma runs`)."""
    if settings.database_url is not None:
        from enigma.runs.pg_store import PgRunStore

        return await PgRunStore(
            settings.database_url.get_secret_value(),
            "reader",
            schema=settings.database_schema,
            max_size=2,
        ).open()
    return SqliteRunStore(settings.data_dir / "runs.sqlite3")


@contextlib.asynccontextmanager
async def sqlite_manager(
    settings: Settings, context: Context, options: dict[str, Any]
) -> AsyncIterator[RunManager]:
    """The embedded default: checkpoints and runs in two SQLite files under the data dir."""
    async with open_sqlite_saver(settings.data_dir / "checkpoints.sqlite3") as saver:
        store = SqliteRunStore(settings.data_dir / "runs.sqlite3")
        try:
            yield RunManager(build_graph(saver), store, context, checkpointer=saver, **options)
        finally:
            await store.close()


@contextlib.asynccontextmanager
async def postgres_manager(
    settings: Settings, context: Context, options: dict[str, Any]
) -> AsyncIterator[RunManager]:
    """Scale-out: checkpoints, runs and events in PostgreSQL, runs shared by lease."""
    import socket
    import uuid

    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    from enigma.runs.cluster import ClusterHub, LeaseScheduler
    from enigma.runs.fenced_saver import FencedPostgresSaver
    from enigma.runs.pg_schema import acquire_migration_lock, release_migration_lock
    from enigma.runs.pg_store import PgRunStore, session_options

    assert settings.database_url is not None
    dsn = settings.database_url.get_secret_value()
    schema = settings.database_schema
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    limits: Limits = options["limits"]
    store = await PgRunStore(dsn, worker, schema=schema, hold_seconds=settings.lease_seconds).open()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        dsn,
        min_size=1,
        max_size=max(4, min(20, settings.max_concurrent_runs)),
        open=False,
        timeout=3.0,
        check=AsyncConnectionPool.check_connection,  # no dead connection after a restart
        reconnect_timeout=0,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "options": session_options(schema, settings.lease_seconds),
            "connect_timeout": 3,
        },
    )
    await pool.open(wait=True, timeout=30)
    saver = FencedPostgresSaver(pool)
    # the saver's own migrations, one process at a time (see pg_schema)
    async with store.connection() as lock_conn:
        await acquire_migration_lock(lock_conn)
        try:
            await saver.setup()
        finally:
            await release_migration_lock(lock_conn)
    manager = RunManager(
        build_graph(saver),
        store,
        context,
        checkpointer=saver,
        hub=lambda m: ClusterHub(store, m.metrics),
        scheduler=lambda m: LeaseScheduler(
            m,
            store,
            limit=limits.max_concurrent,
            lease_seconds=settings.lease_seconds,
            poll_seconds=settings.claim_poll_seconds,
            global_limit=settings.global_max_concurrent_runs,
        ),
        **options,
    )
    try:
        yield manager
    finally:
        await store.close()
        await pool.close()

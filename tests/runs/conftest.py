"""Run stores for the tests, on SQLite and on PostgreSQL (as langgraph parametrizes savers)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from enigma.bootstrap_sandbox import sandbox_endpoints
from enigma.context import Context
from enigma.graph import build_graph
from enigma.integrations.factory import build_clients
from enigma.policy import Policy as ReleasePolicy
from enigma.runs.manager import Limits, RunManager
from enigma.runs.pg_store import PgRunStore
from enigma.runs.sqlite_saver import ThreadedSqliteSaver
from enigma.runs.sqlite_store import SqliteRunStore
from enigma.runs.store import RunStore
from enigma.sandbox.server import SandboxServer
from enigma.settings import Settings
from tests.conftest import PG_DSN

StoreFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunStore]]
REPOS = ["payments-api", "web-app", "notifications"]


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body in a fresh event loop."""

    @functools.wraps(test)  # keeps the signature, so pytest still hands over the fixtures
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    """Which store a test runs against."""
    return str(request.param)


@pytest.fixture
def stores(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreFactory:
    """Open a store of `kind` on one database (call it again to reopen the same data)."""
    schema = request.getfixturevalue("pg_schema") if kind == "postgres" else None

    @contextlib.asynccontextmanager
    async def open_store(worker: str = "w1") -> AsyncIterator[RunStore]:
        store: RunStore
        if kind == "sqlite":
            store = SqliteRunStore(tmp_path / "runs.sqlite3")
        else:
            store = await PgRunStore(PG_DSN, worker, schema=schema).open()
        try:
            yield store
        finally:
            await store.close()

    return open_store


@contextlib.asynccontextmanager
async def open_manager(
    data_dir: Path, server: SandboxServer, **options: Any
) -> AsyncIterator[RunManager]:
    """A manager as the service builds it, minus HTTP; crashes (no drain) when left."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, http_backoff_seconds=0.01)
    context = Context(
        clients=build_clients(settings, sandbox_endpoints(server.urls)),
        check_poll_seconds=float(options.pop("check_poll_seconds", 0.05)),
        retry_backoff_seconds=0.01,
        rules=options.pop("rules", None) or ReleasePolicy(),
    )
    saver = await ThreadedSqliteSaver.open(data_dir / "checkpoints.sqlite3")
    store = SqliteRunStore(data_dir / "runs.sqlite3")
    manager = RunManager(
        build_graph(saver),
        store,
        context,
        checkpointer=saver,
        repositories=REPOS,
        delivery=options.pop("delivery", None),
        limits=Limits(**options),
    )
    try:
        yield manager
    finally:
        # As after a SIGKILL: nothing new starts, nothing drains, and the checkpoints get no
        # write after this moment (the connection goes first, then the tasks).
        manager.closing = True
        await saver.aclose()
        tasks = [
            ex.task
            for ex in manager.scheduler.pool.executions.values()
            if ex.task is not None and not ex.task.done()
        ]
        sender = manager.delivery.sender if manager.delivery is not None else None
        if sender is not None:
            tasks.append(sender.start())  # its task: cancelled mid-send, claims left to expire
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()

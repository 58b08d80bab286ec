"""Run stores for the tests, on SQLite and on PostgreSQL (as langgraph parametrizes savers)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from enigma.runs.pg_store import PgRunStore
from enigma.runs.sqlite_store import SqliteRunStore
from enigma.runs.store import RunStore
from tests.conftest import PG_DSN

StoreFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunStore]]


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

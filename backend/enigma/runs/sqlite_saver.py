"""The SQLite checkpointer: LangGraph's `SqliteSaver`, its async methods one thread hop each.

LangGraph ships two SQLite savers over the same tables. `AsyncSqliteSaver` (aiosqlite) sends
every statement, every fetch and every commit to aiosqlite's thread on its own: writing one
checkpoint is four or five round trips between the event loop and that thread, and a release
run writes 28 checkpoints and ~170 task writes. This saver runs the synchronous saver's own
code (same SQL, same lock, same serializer, same schema: a file either wrote can be read by
the other) on one thread of its own, so each saver operation is one round trip. What it
bought is measured in the README (Benchmarks: "Where the time goes").

Errors are sqlite3's own, as aiosqlite's were: `sqlite_cause` reads a full disk or an
unreadable file off them, and the run manager waits such an outage out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.sqlite import SqliteSaver

from enigma.files import private_file
from enigma.runs.sqlite_schema import connect

__all__ = ["ThreadedSqliteSaver", "open_sqlite_saver"]

T = TypeVar("T")


class ThreadedSqliteSaver(SqliteSaver):
    """`SqliteSaver` whose async methods each run whole on the saver's own thread."""

    def __init__(self, conn: sqlite3.Connection, thread: ThreadPoolExecutor):
        super().__init__(conn)
        self._thread = thread

    @classmethod
    async def open(cls, path: Path) -> ThreadedSqliteSaver:
        """Connect (WAL, synchronous=NORMAL, busy timeout) and create the tables if new."""
        thread = ThreadPoolExecutor(1, thread_name_prefix="enigma-checkpoints")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(
                thread, lambda: connect(private_file(path), autocommit=False)
            )
            saver = cls(conn, thread)
            await saver._call(saver.setup)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        return saver

    async def aclose(self) -> None:
        """Close the connection (after the operations already queued) and the thread; an
        operation asked for later fails as on a closed database."""
        await self._call(self.conn.close)
        self._thread.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(fn, *args, **kwargs))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._call(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        def read() -> list[CheckpointTuple]:
            return list(self.list(config, filter=filter, before=before, limit=limit))

        for item in await self._call(read):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._call(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._call(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._call(self.delete_thread, thread_id)


@contextlib.asynccontextmanager
async def open_sqlite_saver(path: Path) -> AsyncIterator[ThreadedSqliteSaver]:
    """The SQLite checkpointer as the service opens it, for the app's lifetime; `make bench`
    opens its baselines' savers here too, so both sides of a comparison write the same way."""
    saver = await ThreadedSqliteSaver.open(path)
    try:
        yield saver
    finally:
        await saver.aclose()

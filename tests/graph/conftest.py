"""A release harness: the real graph, a real SQLite saver, real clients on the real sandbox.

The graph's nodes are async, so the harness keeps an event loop of its own in a thread and
hands it each call; the tests stay plain synchronous functions.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from enigma.bootstrap_sandbox import sandbox_endpoints
from enigma.context import Context
from enigma.graph import build_graph
from enigma.integrations.factory import build_clients
from enigma.runs.sqlite_saver import ThreadedSqliteSaver
from enigma.sandbox.server import SandboxServer
from enigma.settings import Settings

REPOS = ["payments-api", "web-app", "notifications"]
T = TypeVar("T")


class LoopThread:
    """An event loop in a daemon thread; `run(coro)` waits for the coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wait() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class Release:
    """Drive one release thread and look at what it did."""

    def __init__(self, server: SandboxServer, data_dir: Path, thread: str = "run-test"):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        settings = Settings(data_dir=data_dir, http_backoff_seconds=0.01)
        self.server = server
        self.clients = build_clients(settings, sandbox_endpoints(server.urls))
        self.context = Context(
            clients=self.clients,
            check_poll_seconds=0.05,
            check_timeout_seconds=30,
            retry_backoff_seconds=0.01,
        )
        self.loop = LoopThread()
        self.saver = self.loop.run(ThreadedSqliteSaver.open(data_dir / "checkpoints.sqlite3"))
        self.graph = build_graph(self.saver)
        self.config: RunnableConfig = {"configurable": {"thread_id": thread}}
        self.thread = thread

    def _invoke(self, graph_input: Any) -> dict[str, Any]:
        return dict(
            self.loop.run(
                self.graph.ainvoke(
                    graph_input, self.config, context=self.context, durability="sync"
                )
            )
        )

    def close(self) -> None:
        self.loop.run(self.saver.aclose())
        self.loop.close()

    def start(self, **overrides: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "fix_version": "2.4.0",
            "repositories": REPOS,
            "release_type": "minor",
            "policy": {
                "auto_approve": False,
                "on_conflict": "ask",
                "on_check_failure": "ask",
                "on_error": "ask",
                "auto_retries": 2,
            },
        } | overrides
        return self._invoke(request)

    def pending(self) -> list[Any]:
        return list(self.loop.run(self.graph.aget_state(self.config)).interrupts)

    def answer(self, kind: str, action: str, **extra: Any) -> dict[str, Any]:
        """Resume the first pending interrupt of `kind` with `action`."""
        for item in self.pending():
            if item.value.get("kind") == kind:
                value = {
                    "action": action,
                    "actor": "tester",
                    "comment": f"{action} in test",
                } | extra
                return self._invoke(Command(resume={item.id: value}))
        raise AssertionError(
            f"no pending {kind}; pending: {[p.value.get('kind') for p in self.pending()]}"
        )

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.loop.run(self.graph.aget_state(self.config)).values)

    def effects(self) -> list[dict[str, Any]]:
        return self.server.sandbox.store.effects()

    def assert_no_duplicate_effects(self) -> None:
        counts = Counter(e["key"] for e in self.effects())
        assert [k for k, n in counts.items() if n > 1] == []


@pytest.fixture
def release(sandbox: SandboxServer, tmp_path: Path) -> Iterator[Release]:
    harness = Release(sandbox, tmp_path)
    yield harness
    harness.close()

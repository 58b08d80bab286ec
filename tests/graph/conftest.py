"""A release harness: the real graph, a real SQLite saver, real clients on the real sandbox."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from enigma.context import Context
from enigma.graph import build_graph
from enigma.integrations.factory import build_clients
from enigma.sandbox.server import SandboxServer
from enigma.settings import Settings

REPOS = ["payments-api", "web-app", "notifications"]


class Release:
    """Drive one release thread and look at what it did."""

    def __init__(self, server: SandboxServer, data_dir: Path, thread: str = "run-test"):
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=data_dir, http_backoff_seconds=0.01)
        self.server = server
        self.clients = build_clients(settings, server.urls)
        self.context = Context(
            clients=self.clients,
            check_poll_seconds=0.05,
            check_timeout_seconds=30,
            retry_backoff_seconds=0.01,
        )
        self.conn = sqlite3.connect(data_dir / "checkpoints.sqlite3", check_same_thread=False)
        self.graph = build_graph(SqliteSaver(self.conn))
        self.config: dict[str, Any] = {"configurable": {"thread_id": thread}}
        self.thread = thread

    def start(self, **overrides: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "workflow_id": self.thread,
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
        return dict(
            self.graph.invoke(request, self.config, context=self.context, durability="sync")
        )

    def pending(self) -> list[Any]:
        return list(self.graph.get_state(self.config).interrupts)

    def answer(self, kind: str, action: str, **extra: Any) -> dict[str, Any]:
        """Resume the first pending interrupt of `kind` with `action`."""
        for item in self.pending():
            if item.value.get("kind") == kind:
                value = {
                    "action": action,
                    "actor": "tester",
                    "comment": f"{action} in test",
                } | extra
                return dict(
                    self.graph.invoke(
                        Command(resume={item.id: value}),
                        self.config,
                        context=self.context,
                        durability="sync",
                    )
                )
        raise AssertionError(
            f"no pending {kind}; pending: {[p.value.get('kind') for p in self.pending()]}"
        )

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.graph.get_state(self.config).values)

    def effects(self) -> list[dict[str, Any]]:
        return self.server.sandbox.store.effects()

    def assert_no_duplicate_effects(self) -> None:
        counts = Counter(e["key"] for e in self.effects())
        assert [k for k, n in counts.items() if n > 1] == []


@pytest.fixture
def release(sandbox: SandboxServer, tmp_path: Path) -> Iterator[Release]:
    harness = Release(sandbox, tmp_path)
    yield harness
    harness.conn.close()

"""Wire a process together: sandbox (when nothing is configured), clients, saver, store, manager.

This is the outer layer; it alone may start the sandbox. The CLI and the service both enter
`open_runtime`, so they take the same code path. A sandbox started here records its address
in `<data_dir>/sandbox/endpoint.json`; another Enigma process on the same data directory
reuses it instead of starting a second one over the same files.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import requests
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from enigma.context import Clients, Context
from enigma.graph import build_graph
from enigma.runs.manager import RunManager
from enigma.runs.store import SqliteRunStore
from enigma.sandbox.server import SandboxServer, SandboxUrls
from enigma.settings import Settings

__all__ = ["Runtime", "ensure_sandbox", "open_runtime", "read_sandbox_endpoint"]


@dataclass
class Runtime:
    """Everything a running Enigma process holds."""

    settings: Settings
    manager: RunManager
    clients: Clients
    sandbox_urls: SandboxUrls | None
    repositories: list[str]


def read_sandbox_endpoint(data_dir: Path) -> SandboxUrls | None:
    """The sandbox another process started on this data directory, if it still answers."""
    path = data_dir / "sandbox" / "endpoint.json"
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        token = (data_dir / "sandbox" / "token").read_text().strip()
        urls = SandboxUrls(token=token, **raw)
        ok = requests.get(f"{urls.admin}/_sandbox/faults", timeout=1).ok
    except (OSError, ValueError, TypeError, requests.RequestException):
        return None
    return urls if ok else None


def ensure_sandbox(settings: Settings) -> tuple[SandboxUrls, SandboxServer | None]:
    """Reuse a live sandbox on this data directory, or start one in this process."""
    found = read_sandbox_endpoint(settings.data_dir)
    if found is not None:
        return found, None
    token = settings.sandbox_token.get_secret_value() if settings.sandbox_token else None
    server = SandboxServer(
        settings.data_dir / "sandbox",
        host=settings.sandbox_host,
        port=settings.sandbox_port,
        token=token,
        settings={"check_delay_seconds": settings.sandbox_check_delay_seconds},
    ).start()
    write_endpoint(settings.data_dir, server.urls)
    return server.urls, server


def write_endpoint(data_dir: Path, urls: SandboxUrls) -> None:
    """Record where the sandbox answers (without its token) for other local processes."""
    path = data_dir / "sandbox" / "endpoint.json"
    body = {"jira": urls.jira, "github": urls.github, "confluence": urls.confluence, "admin": urls.admin}
    path.write_text(json.dumps(body))


def sandbox_repositories(seed: dict[str, Any]) -> list[str]:
    """Repository names of the sandbox seed."""
    return [str(r["name"]) for r in seed["github"]["repos"]]


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings, context: Context | None = None) -> AsyncIterator[Runtime]:
    """Open saver, store and manager (and the sandbox if needed) for the app's lifetime."""
    from enigma.integrations.factory import build_clients

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server: SandboxServer | None = None
    urls: SandboxUrls | None = None
    if settings.use_sandbox:
        urls, server = ensure_sandbox(settings)
    clients = build_clients(settings, urls)
    repositories = list(settings.repositories)
    if not repositories and urls is not None:
        import tomllib

        from enigma.sandbox.core import DEFAULT_SEED

        repositories = sandbox_repositories(tomllib.loads(DEFAULT_SEED.read_text()))
    base = context or Context(
        project=settings.jira_project,
        wiki_space=settings.confluence_space,
        wiki_parent_title=settings.confluence_parent_title,
        check_timeout_seconds=settings.check_timeout_seconds,
        check_poll_seconds=settings.check_poll_seconds,
    )
    run_context = Context(**{**base.__dict__, "clients": clients})
    conn = await aiosqlite.connect(settings.data_dir / "checkpoints.sqlite3")
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA busy_timeout=5000")
    saver = AsyncSqliteSaver(conn)
    await saver.setup()
    store = SqliteRunStore(settings.data_dir / "runs.sqlite3")
    manager = RunManager(
        build_graph(saver),
        store,
        run_context,
        max_concurrent=settings.max_concurrent_runs,
        step_timeout=settings.step_timeout_seconds,
        run_deadline=settings.run_deadline_seconds,
        four_eyes=settings.four_eyes,
        repositories=repositories or None,
        checkpointer=saver,
    )
    try:
        yield Runtime(settings, manager, clients, urls, repositories)
    finally:
        await manager.shutdown()
        store.close()
        await conn.close()
        if server is not None:
            (settings.data_dir / "sandbox" / "endpoint.json").unlink(missing_ok=True)
            server.stop()

"""Wire a process together: sandbox (when nothing is configured), clients, saver, store, manager.

This is the outer layer; it alone may start the sandbox. The CLI and the service both enter
`open_runtime`, so they take the same code path. A sandbox started here records its address
in `<data_dir>/sandbox/endpoint.json`; another Enigma process on the same data directory
reuses it instead of starting a second one over the same files. Its port is also kept in
`<data_dir>/sandbox/port` after it stops, and the next sandbox of the data directory binds
that port again when it is free: links to the peers in a run's summary keep working.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosqlite
import httpx
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from enigma.context import Clients, Context
from enigma.files import private_dir, private_file, write_private
from enigma.graph import build_graph
from enigma.integrations.patience import Patience
from enigma.notify.config import channels_from_environment
from enigma.notify.sender import RetryPolicy
from enigma.policy import (
    LoadedPolicy,
    PolicyError,
    example_text,
    load_policy,
    parse_policy,
    policy_hash,
)
from enigma.policy import Policy as ReleasePolicy
from enigma.policy.problems import Problem
from enigma.runs.manager import Limits, RunManager
from enigma.runs.notifying import Delivery
from enigma.runs.sqlite_store import SqliteRunStore
from enigma.runs.store import RunStore
from enigma.sandbox.server import SandboxServer, SandboxUrls
from enigma.settings import Settings

__all__ = [
    "Runtime",
    "ensure_sandbox",
    "open_runtime",
    "open_sqlite_saver",
    "open_store",
    "read_sandbox_endpoint",
    "sandbox_port",
]


@dataclass
class Runtime:
    """Everything a running Enigma process holds."""

    settings: Settings
    manager: RunManager
    clients: Clients
    sandbox_urls: SandboxUrls | None
    repositories: list[str]
    policy: LoadedPolicy
    default_repositories: list[str]
    """What a run releases when it names no repositories (CLI, the web form's preselection)."""


def configured_repositories(settings: Settings, sandbox: bool) -> tuple[list[str], list[str]]:
    """(the repositories runs may name, those a run releases when it names none)."""
    repositories = list(settings.repositories)
    if repositories or not sandbox:
        return repositories, repositories
    import tomllib

    from enigma.sandbox.core import DEFAULT_SEED

    seed = tomllib.loads(DEFAULT_SEED.read_text())
    return sandbox_repositories(seed), sandbox_repositories(seed, defaults_only=True)


def check_policy(settings: Settings) -> LoadedPolicy:
    """The release policy the service would start with (PolicyError if it is not valid)."""
    repositories, _ = configured_repositories(settings, settings.use_sandbox)
    return release_policy(settings, repositories, settings.use_sandbox)


def release_policy(settings: Settings, repositories: list[str], sandbox: bool) -> LoadedPolicy:
    """The release policy: ENIGMA_POLICY, ./enigma.toml, else (the sandbox) the shipped example.

    PolicyError (every problem, with its key path and line) when the file is not valid: a
    service must not start on a policy it cannot follow.
    """
    loaded = load_policy(known_repositories=repositories)
    if loaded.source is None and sandbox:
        policy = parse_policy(
            example_text(), source="the shipped example", known_repositories=repositories
        )
        return LoadedPolicy(policy, None, policy_hash(policy))
    return loaded


def notifications(settings: Settings, policy: ReleasePolicy) -> Delivery | None:
    """Notification channels: the policy file's, and ENIGMA_WEBHOOK_URL's (None: no channel).

    PolicyError for a webhook secret without a URL or two channels under one name: a service
    told to notify must not start silent.
    """
    try:
        channels = [*policy.notifications, *channels_from_environment(os.environ)]
        if not channels:
            return None
        return Delivery(
            channels,
            settings.public_url or "http://127.0.0.1:8000",
            retry=RetryPolicy(
                max_attempts=settings.notify_max_attempts, backoff=settings.notify_backoff_seconds
            ),
            poll_interval=settings.notify_poll_seconds,
        )
    except ValueError as exc:
        raise PolicyError([Problem("notifications", str(exc))], "notification settings") from None


def read_sandbox_endpoint(data_dir: Path) -> SandboxUrls | None:
    """The sandbox another process started on this data directory, if it still answers."""
    path = data_dir / "sandbox" / "endpoint.json"
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        token = (data_dir / "sandbox" / "token").read_text().strip()
        urls = SandboxUrls(token=token, **raw)
    except (OSError, ValueError, TypeError):
        return None
    return urls if _answers(urls) else None


def _answers(urls: SandboxUrls) -> bool:
    try:
        return httpx.get(f"{urls.admin}/_sandbox/faults", timeout=2).is_success
    except httpx.HTTPError:
        return False


def ensure_sandbox(settings: Settings) -> tuple[SandboxUrls, SandboxServer | None]:
    """Use the sandbox the settings name, a live one on this data directory, or start one."""
    if settings.sandbox_port and settings.sandbox_token is not None:
        root = f"http://{settings.sandbox_host}:{settings.sandbox_port}"
        named = SandboxUrls.at(root, settings.sandbox_token.get_secret_value())
        if _answers(named):
            return named, None
    found = read_sandbox_endpoint(settings.data_dir)
    if found is not None:
        return found, None
    token = settings.sandbox_token.get_secret_value() if settings.sandbox_token else None
    port = sandbox_port(settings.data_dir, settings.sandbox_host, settings.sandbox_port)
    with _uvicorn_logging_kept():
        server = SandboxServer(
            settings.data_dir / "sandbox",
            host=settings.sandbox_host,
            port=port,
            token=token,
            settings={"check_delay_seconds": settings.sandbox_check_delay_seconds},
        ).start()
    write_endpoint(settings.data_dir, server.urls)
    return server.urls, server


@contextlib.contextmanager
def _uvicorn_logging_kept() -> Iterator[None]:
    """Undo what a second uvicorn.Config does to the process's uvicorn loggers.

    The in-process sandbox builds its own `uvicorn.Config(log_level="warning")`, which
    re-applies uvicorn's logging config to the shared `uvicorn.*` loggers: the service
    started by `enigma serve` would lose its access log and its shutdown messages.
    """
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: logging.getLogger(n) for n in names}
    kept = {n: (g.level, list(g.handlers), g.propagate) for n, g in saved.items()}
    try:
        yield
    finally:
        for name, (level, handlers, propagate) in kept.items():
            logger = saved[name]
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate  # serve's loggers hand records to the root handler


def write_endpoint(data_dir: Path, urls: SandboxUrls) -> None:
    """Record where the sandbox answers (without its token) for other local processes.

    The port goes to `sandbox/port` as well, which outlives the sandbox (see `sandbox_port`).
    """
    path = data_dir / "sandbox" / "endpoint.json"
    body = {
        "jira": urls.jira,
        "github": urls.github,
        "confluence": urls.confluence,
        "admin": urls.admin,
    }
    write_private(path, json.dumps(body))
    write_private(data_dir / "sandbox" / "port", str(urlsplit(urls.admin).port or ""))


def sandbox_port(data_dir: Path, host: str, wanted: int) -> int:
    """The port a new sandbox binds: `wanted`, else the data directory's last one if free, else 0.

    Keeping the port keeps the peers' URLs (pull requests, release notes) the same from one
    `enigma run` to the next.
    """
    if wanted:
        return wanted
    try:
        last = int((data_dir / "sandbox" / "port").read_text().strip())
    except (OSError, ValueError):
        return 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as SandboxServer binds
        try:
            probe.bind((host, last))
        except OSError:
            return 0  # taken (by anything): a free port, and the links change
    return last


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


def sandbox_repositories(seed: dict[str, Any], defaults_only: bool = False) -> list[str]:
    """Repository names of the sandbox seed (or only those released when none are named)."""
    return [
        str(r["name"])
        for r in seed["github"]["repos"]
        if not defaults_only or r.get("default", True)
    ]


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, context: Context | None = None, *, recover: bool = True
) -> AsyncIterator[Runtime]:
    """Open saver, store and manager (and the sandbox if needed) for the app's lifetime.

    The manager's background work starts here: recovery of the runs left in flight (unless
    `recover` is False, as for the CLI following its own run), the cluster's loops, the
    watchdog.
    """
    from enigma.integrations.factory import build_clients

    private_dir(settings.data_dir)
    server: SandboxServer | None = None
    urls: SandboxUrls | None = None
    own_clients = context is not None and context.clients is not None
    sandbox = settings.use_sandbox and not own_clients
    repositories, defaults = configured_repositories(settings, sandbox)
    loaded = release_policy(settings, repositories, sandbox)  # before anything starts
    if context is not None and context.clients is not None:
        clients = context.clients  # the caller brings its own (benchmarks, tests): no sandbox
    else:
        if sandbox:
            urls, server = ensure_sandbox(settings)
        clients = build_clients(settings, urls)
    base = context or Context(
        project=settings.jira_project,
        wiki_space=settings.confluence_space,
        wiki_parent_title=settings.confluence_parent_title,
        check_timeout_seconds=settings.check_timeout_seconds,
        check_poll_seconds=settings.check_poll_seconds,
        patience=Patience(budget=settings.outage_budget_seconds),
    )
    run_context = Context(
        **{
            **base.__dict__,
            "clients": clients,
            "rules": loaded.policy,
            "rules_hash": loaded.hash,
            "four_eyes": settings.four_eyes,
        }
    )
    options: dict[str, Any] = {
        "limits": Limits(
            max_concurrent=settings.max_concurrent_runs,
            io_threads=settings.io_threads,
            step_timeout=settings.step_timeout_seconds,
            run_deadline=settings.run_deadline_seconds,
            four_eyes=settings.four_eyes,
        ),
        "repositories": repositories or None,
        "delivery": notifications(settings, loaded.policy),
    }
    async with contextlib.AsyncExitStack() as stack:
        if settings.database_url is not None:
            manager: RunManager = await stack.enter_async_context(
                _postgres_manager(settings, run_context, options)
            )
        else:
            manager = await stack.enter_async_context(
                _sqlite_manager(settings, run_context, options)
            )
        try:
            await manager.start_background(recover)
            yield Runtime(settings, manager, clients, urls, repositories, loaded, defaults)
        finally:
            await manager.shutdown()
            if server is not None:
                (settings.data_dir / "sandbox" / "endpoint.json").unlink(missing_ok=True)
                server.stop()


@contextlib.asynccontextmanager
async def _sqlite_manager(
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
async def open_sqlite_saver(path: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """The SQLite checkpointer as the service opens it (WAL, synchronous=NORMAL, busy timeout).

    Opened inside the running event loop and held for the app's lifetime; `make bench` opens
    its baselines' savers here too, so both sides of a comparison write the same way.
    """
    conn = await aiosqlite.connect(private_file(path))
    try:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        yield saver
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _postgres_manager(
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

"""Wire a process together: endpoints and clients, release policy, saver, store, manager.

This is the outer layer: it alone decides between the real services (`ENIGMA_*` settings) and
the sandbox, starts the sandbox when nothing is configured (`bootstrap_sandbox`), and hands
the clients a plain `Endpoints` value; the graph, the nodes, the clients and the run manager
never learn which it was. The CLI and the service both enter `open_runtime`, so they take the
same code path. The stores and managers it opens live in `bootstrap_stores`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from enigma.bootstrap_sandbox import (
    ensure_sandbox,
    read_sandbox_endpoint,
    sandbox_endpoints,
    sandbox_port,
    stop_sandbox,
    write_endpoint,
)
from enigma.bootstrap_stores import open_sqlite_saver, open_store, postgres_manager, sqlite_manager
from enigma.context import Clients, Context
from enigma.files import private_dir
from enigma.integrations.factory import build_clients
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
    "write_endpoint",
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

    A `context` brings its own clients (benchmarks, tests): then no sandbox is started. The
    manager's background work starts here: recovery of the runs left in flight (unless
    `recover` is False, as for the CLI following its own run), the cluster's loops, the
    watchdog.
    """
    private_dir(settings.data_dir)
    server: SandboxServer | None = None
    urls: SandboxUrls | None = None
    sandbox = settings.use_sandbox and context is None
    repositories, defaults = configured_repositories(settings, sandbox)
    loaded = release_policy(settings, repositories, sandbox)  # before anything starts
    if context is not None:
        clients = context.clients
    else:
        endpoints = settings.endpoints()  # the real services, GitHub's pacing on
        if endpoints is None:
            urls, server = ensure_sandbox(settings)
            endpoints = sandbox_endpoints(urls, settings.github_owner)  # pacing off
        clients = build_clients(settings, endpoints)
    try:
        run_context = Context(
            **{
                **(context or default_context(settings, clients)).__dict__,
                "rules": loaded.policy,
                "rules_hash": loaded.hash,
                "four_eyes": settings.four_eyes,
            }
        )
        opened = postgres_manager if settings.database_url is not None else sqlite_manager
        options = manager_options(settings, loaded, repositories)
        async with opened(settings, run_context, options) as manager:
            try:
                await manager.start_background(recover)
                yield Runtime(settings, manager, clients, urls, repositories, loaded, defaults)
            finally:
                await manager.shutdown()
    finally:
        stop_sandbox(server, settings.data_dir)


def manager_options(
    settings: Settings, loaded: LoadedPolicy, repositories: list[str]
) -> dict[str, Any]:
    """The run manager's limits, repositories and notification delivery, from the settings."""
    return {
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


def default_context(settings: Settings, clients: Clients) -> Context:
    """The run context `ENIGMA_*` settings describe, around `clients`."""
    return Context(
        clients=clients,
        project=settings.jira_project,
        wiki_space=settings.confluence_space,
        wiki_parent_title=settings.confluence_parent_title,
        check_timeout_seconds=settings.check_timeout_seconds,
        check_poll_seconds=settings.check_poll_seconds,
        patience=Patience(budget=settings.outage_budget_seconds),
    )

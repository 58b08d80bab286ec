"""Adapters wired to a real sandbox over HTTP, with a sleep that records instead of waiting."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from enigma.integrations.confluence_wiki import ConfluenceWiki
from enigma.integrations.git_mirror import GitMirror
from enigma.integrations.github_host import GitHubHost
from enigma.integrations.http import CallPolicy
from enigma.integrations.jira_tracker import JiraTracker
from enigma.sandbox.core import Sandbox
from enigma.sandbox.server import SandboxServer, peers, seed_if_empty

SANDBOX_SETTINGS = {"check_delay_seconds": 0.3}


class SleepRecorder:
    """Stands in for time.sleep: records each wait, waits for none."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="session")
def seeded_sandbox_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox data directory seeded once per session (seeding builds git repositories)."""
    data = tmp_path_factory.mktemp("sandbox-template") / "data"
    template = Sandbox(data, settings=SANDBOX_SETTINGS)
    seed_if_empty(template, peers())
    template.store.close()
    return data


@pytest.fixture
def sandbox(seeded_sandbox_data: Path, tmp_path: Path) -> Iterator[SandboxServer]:
    """All three peers on a free port, over a fresh copy of the seeded data (fast setup)."""
    data = tmp_path / "sandbox"
    shutil.copytree(seeded_sandbox_data, data)
    server = SandboxServer(data, settings=SANDBOX_SETTINGS, fault_seed=1234).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_sandbox(
    seeded_sandbox_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxServer]:
    """One sandbox for a module's read-only tests (they must not change it)."""
    data = tmp_path_factory.mktemp("shared") / "sandbox"
    shutil.copytree(seeded_sandbox_data, data)
    server = SandboxServer(data, settings=SANDBOX_SETTINGS, fault_seed=1234).start()
    yield server
    server.stop()


@pytest.fixture
def sleeps() -> SleepRecorder:
    """The waits the choke point asked for."""
    return SleepRecorder()


@pytest.fixture
def policy(sleeps: SleepRecorder) -> CallPolicy:
    """Three tries, tiny backoff, short timeout, recorded sleeps."""
    return CallPolicy(max_tries=3, backoff=0.01, backoff_cap=0.05, timeout=5.0, sleep=sleeps)


@pytest.fixture
def tracker(sandbox: SandboxServer, policy: CallPolicy) -> JiraTracker:
    """JiraTracker on the sandbox's Jira (Bearer token)."""
    return JiraTracker(sandbox.urls.jira, SecretStr(sandbox.urls.token), None, policy)


@pytest.fixture
def code_host(sandbox: SandboxServer, policy: CallPolicy) -> GitHubHost:
    """GitHubHost on the sandbox's GitHub, owner acme."""
    urls = sandbox.urls
    return GitHubHost(urls.github, "acme", SecretStr(urls.token), policy, pace_requests=False)


@pytest.fixture
def wiki(sandbox: SandboxServer, policy: CallPolicy) -> ConfluenceWiki:
    """ConfluenceWiki on the sandbox's Confluence (Bearer token)."""
    return ConfluenceWiki(sandbox.urls.confluence, SecretStr(sandbox.urls.token), None, policy)


@pytest.fixture
def planner(tmp_path: Path, policy: CallPolicy) -> GitMirror:
    """GitMirror caching under tmp_path."""
    return GitMirror(tmp_path / "mirrors", policy)


def effects(server: SandboxServer, peer: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The sandbox's side-effect log for one peer (and kind)."""
    return [e for e in server.sandbox.store.effects(peer=peer) if kind in (None, e["kind"])]

"""build_clients turns an `Endpoints` value into working clients, paced as the value says.

The endpoints come from the outer layer: `Settings.endpoints()` for the real services (GitHub's
pacing on), `bootstrap_sandbox.sandbox_endpoints` for the sandbox (pacing off).
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from enigma.bootstrap_sandbox import sandbox_endpoints, sandbox_owner
from enigma.integrations.confluence_wiki import ConfluenceWiki
from enigma.integrations.factory import build_clients
from enigma.integrations.git_mirror import GitMirror
from enigma.integrations.github_host import GitHubHost
from enigma.integrations.jira_tracker import JiraTracker
from enigma.sandbox.server import SandboxServer
from enigma.settings import Settings
from tests.integrations.conftest import effects

REAL: dict[str, Any] = {
    "jira_url": "https://jira.example.test",
    "jira_user": "bot",
    "jira_token": SecretStr("j"),
    "github_url": "https://github.example.test/api/v3",
    "github_owner": "example",
    "github_token": SecretStr("g"),
    "confluence_url": "https://wiki.example.test",
    "confluence_token": SecretStr("c"),
}


def test_sandbox_clients_talk_to_the_sandbox(sandbox: SandboxServer, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http_backoff_seconds=0.01)
    clients = build_clients(settings, sandbox_endpoints(sandbox.urls))
    assert isinstance(clients.code_host, GitHubHost) and clients.code_host.owner == "acme"
    assert clients.code_host.pace_requests is False  # the sandbox opts out of GitHub's pacing
    assert len(clients.tracker.search_tickets("ENG", "2.4.0", "Sprint 42")) == 11
    repo = clients.code_host.repository("notifications")
    mirror = clients.planner.sync(repo, clients.code_host.git_auth_header())
    assert mirror.parent == tmp_path / "mirrors"
    assert clients.planner.last_release_tag(mirror) == "v2.3.0"
    page = clients.wiki.ensure_page("REL", "Factory check", "<p>ok</p>", "Release Notes")
    assert page["version"] == 1


def test_real_services_come_from_the_settings_with_pacing_on(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http_max_tries=5, http_timeout_seconds=7, **REAL)
    endpoints = settings.endpoints()
    assert endpoints is not None and endpoints.pace_writes
    clients = build_clients(settings, endpoints)  # no request is made while building
    assert isinstance(clients.tracker, JiraTracker)
    assert clients.tracker.url == "https://jira.example.test"
    assert clients.tracker.policy.max_tries == 5 and clients.tracker.policy.timeout == 7
    assert isinstance(clients.code_host, GitHubHost) and clients.code_host.owner == "example"
    assert clients.code_host.pace_requests is True
    assert (
        isinstance(clients.wiki, ConfluenceWiki) and clients.wiki.url == "https://wiki.example.test"
    )
    assert isinstance(clients.planner, GitMirror)


def test_settings_name_no_endpoints_until_every_service_is_configured(tmp_path: Path) -> None:
    partial = {k: v for k, v in REAL.items() if not k.startswith("confluence")}
    settings = Settings(data_dir=tmp_path, **partial)
    assert settings.endpoints() is None and settings.use_sandbox


def test_github_writes_are_a_second_apart_with_pacing_on(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """What production does: PyGithub waits 1 s after a write ends before the next one starts."""
    paced = dataclasses.replace(sandbox_endpoints(sandbox.urls), pace_writes=True)
    host = build_clients(Settings(data_dir=tmp_path), paced).code_host
    develop = host.branch_sha("payments-api", "develop")
    assert develop is not None
    host.ensure_branch("payments-api", "release/2.4.0", develop)
    host.merge("payments-api", "release/2.4.0", "feature/ENG-101-refunds", "Merge ENG-101")
    host.merge("payments-api", "release/2.4.0", "feature/ENG-102-currency-rounding", "ENG-102")
    host.get_or_create_pull_request("payments-api", "release/2.4.0", "main", "Release", "-")

    writes = [e for e in effects(sandbox, "github") if e["method"] in {"POST", "PATCH", "PUT"}]
    assert [e["kind"] for e in writes] == ["ref.create", "merge", "merge", "pull.create"]
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(writes)]
    assert min(gaps) >= 1.0, gaps  # each effect is logged before its answer is sent


def test_sandbox_owner_comes_from_the_seed(tmp_path: Path) -> None:
    assert sandbox_owner() == "acme"
    seed = tmp_path / "seed.toml"
    seed.write_text('[github]\nowner = "globex"\n')
    assert sandbox_owner(seed) == "globex"
    assert sandbox_owner(tmp_path / "missing.toml") == "acme"

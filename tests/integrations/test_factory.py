"""build_clients picks the real services or the sandbox, and the clients work end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from enigma.integrations.confluence_wiki import ConfluenceWiki
from enigma.integrations.errors import InvalidInput
from enigma.integrations.factory import build_clients, sandbox_owner
from enigma.integrations.git_mirror import GitMirror
from enigma.integrations.github_host import GitHubHost
from enigma.integrations.jira_tracker import JiraTracker
from enigma.sandbox.server import SandboxServer
from enigma.settings import Settings


def test_sandbox_clients_talk_to_the_sandbox(sandbox: SandboxServer, tmp_path: Path) -> None:
    clients = build_clients(Settings(data_dir=tmp_path, http_backoff_seconds=0.01), sandbox.urls)
    assert isinstance(clients.code_host, GitHubHost) and clients.code_host.owner == "acme"
    assert len(clients.tracker.search_tickets("ENG", "2.4.0", "Sprint 42")) == 11
    repo = clients.code_host.repository("notifications")
    mirror = clients.planner.sync(repo, clients.code_host.git_auth_header())
    assert mirror.parent == tmp_path / "mirrors"
    assert clients.planner.last_release_tag(mirror) == "v2.3.0"
    page = clients.wiki.ensure_page("REL", "Factory check", "<p>ok</p>", "Release Notes")
    assert page["version"] == 1


def test_real_services_win_when_all_are_configured(sandbox: SandboxServer, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        jira_url="https://jira.example.test",
        jira_user="bot",
        jira_token=SecretStr("j"),
        github_url="https://github.example.test/api/v3",
        github_owner="example",
        github_token=SecretStr("g"),
        confluence_url="https://wiki.example.test",
        confluence_token=SecretStr("c"),
        http_max_tries=5,
        http_timeout_seconds=7,
    )
    clients = build_clients(settings, sandbox.urls)  # no request is made while building
    assert isinstance(clients.tracker, JiraTracker)
    assert clients.tracker.url == "https://jira.example.test"
    assert clients.tracker.policy.max_tries == 5 and clients.tracker.policy.timeout == 7
    assert isinstance(clients.code_host, GitHubHost) and clients.code_host.owner == "example"
    assert (
        isinstance(clients.wiki, ConfluenceWiki) and clients.wiki.url == "https://wiki.example.test"
    )
    assert isinstance(clients.planner, GitMirror)


def test_nothing_configured_and_no_sandbox_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        build_clients(Settings(data_dir=tmp_path, jira_url=None, jira_token=None), None)


def test_sandbox_owner_comes_from_the_seed(tmp_path: Path) -> None:
    assert sandbox_owner() == "acme"
    seed = tmp_path / "seed.toml"
    seed.write_text('[github]\nowner = "globex"\n')
    assert sandbox_owner(seed) == "globex"
    assert sandbox_owner(tmp_path / "missing.toml") == "acme"

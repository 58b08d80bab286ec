"""GitHubHost against the sandbox GitHub over HTTP, with the real PyGithub client."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from enigma.integrations.errors import AuthError, MergeConflict, NotFound
from enigma.integrations.github_host import GitHubHost
from enigma.integrations.http import CallPolicy
from enigma.sandbox.server import SandboxServer
from tests.integrations.conftest import SleepRecorder, effects

REPO = "payments-api"
RELEASE = "release/2.4.0"


@pytest.fixture
def reader(shared_sandbox: SandboxServer, policy: CallPolicy) -> GitHubHost:
    """A code host on the module's shared sandbox, for tests that only read."""
    urls = shared_sandbox.urls
    return GitHubHost(urls.github, "acme", SecretStr(urls.token), policy, pace_requests=False)


@pytest.fixture
def release_branch(code_host: GitHubHost) -> str:
    """release/2.4.0 cut from develop; returns develop's sha."""
    develop = code_host.branch_sha(REPO, "develop")
    assert develop is not None
    code_host.ensure_branch(REPO, RELEASE, develop)
    return develop


def test_repository(reader: GitHubHost, shared_sandbox: SandboxServer) -> None:
    info = reader.repository(REPO)
    assert info["full_name"] == "acme/payments-api"
    assert info["default_branch"] == "main"
    assert info["clone_url"].startswith(shared_sandbox.urls.admin)
    with pytest.raises(NotFound):
        reader.repository("no-such-repo")


def test_git_auth_header_is_basic_with_the_token(
    reader: GitHubHost, shared_sandbox: SandboxServer
) -> None:
    name, _, value = reader.git_auth_header().partition(": ")
    scheme, _, encoded = value.partition(" ")
    assert (name, scheme) == ("Authorization", "Basic")
    assert base64.b64decode(encoded).decode() == f"x-access-token:{shared_sandbox.urls.token}"


def test_branch_sha(reader: GitHubHost) -> None:
    sha = reader.branch_sha(REPO, "develop")
    assert sha is not None and len(sha) == 40
    assert reader.branch_sha(REPO, "no/such-branch") is None


def test_ensure_branch_creates_once(code_host: GitHubHost, sandbox: SandboxServer) -> None:
    develop = code_host.branch_sha(REPO, "develop")
    assert develop is not None
    assert code_host.ensure_branch(REPO, RELEASE, develop) is True
    assert code_host.ensure_branch(REPO, RELEASE, develop) is False
    assert code_host.branch_sha(REPO, RELEASE) == develop
    assert len(effects(sandbox, "github", "ref.create")) == 1


def test_merge_then_already(
    code_host: GitHubHost, release_branch: str, sandbox: SandboxServer
) -> None:
    first = code_host.merge(REPO, RELEASE, "feature/ENG-101-refunds", "Merge ENG-101")
    again = code_host.merge(REPO, RELEASE, "feature/ENG-101-refunds", "Merge ENG-101")
    assert first["outcome"] == "merged"
    assert again == {"outcome": "already", "sha": first["sha"]}
    assert code_host.branch_sha(REPO, RELEASE) == first["sha"]
    assert len(effects(sandbox, "github", "merge")) == 1


def test_conflicting_merge_raises_merge_conflict(
    code_host: GitHubHost, release_branch: str, sleeps: SleepRecorder
) -> None:
    code_host.merge(REPO, RELEASE, "feature/ENG-105-partner-rate-limit", "Merge ENG-105")
    with pytest.raises(MergeConflict) as info:
        code_host.merge(REPO, RELEASE, "feature/ENG-106-burst-limiter", "Merge ENG-106")
    assert (info.value.repo, info.value.base, info.value.head) == (
        REPO,
        RELEASE,
        "feature/ENG-106-burst-limiter",
    )
    assert sleeps.waits == []


def test_pull_request_is_opened_once(
    code_host: GitHubHost, release_branch: str, sandbox: SandboxServer
) -> None:
    pr = code_host.get_or_create_pull_request(REPO, RELEASE, "main", "Release 2.4.0", "Notes")
    same = code_host.get_or_create_pull_request(REPO, RELEASE, "main", "Release 2.4.0", "Notes")
    assert same == pr
    assert (pr["head"], pr["base"], pr["state"], pr["merged"]) == (RELEASE, "main", "open", False)
    assert pr["head_sha"] == release_branch
    assert pr["url"].startswith(sandbox.urls.github)
    assert code_host.pull_request(REPO, pr["number"]) == pr
    assert len(effects(sandbox, "github", "pull.create")) == 1


def test_checks_count_check_runs_and_commit_statuses_as_asked(
    code_host: GitHubHost, release_branch: str
) -> None:
    runs = code_host.checks(REPO, release_branch, ("check_runs",))
    assert [r["name"] for r in runs] == ["enigma-ci"]
    assert runs[0]["status"] in ("queued", "in_progress", "completed")
    both = code_host.checks(REPO, release_branch, ("check_runs", "statuses"))
    assert {r["name"] for r in both} >= {"enigma-ci"}
    assert all(r["status"] in ("queued", "in_progress", "completed") for r in both)


def test_pull_request_is_merged_once(
    code_host: GitHubHost, release_branch: str, sandbox: SandboxServer
) -> None:
    pr = code_host.get_or_create_pull_request(REPO, RELEASE, "main", "Release 2.4.0", "Notes")
    sha = code_host.ensure_pull_request_merged(REPO, pr["number"], "Release 2.4.0")
    assert code_host.ensure_pull_request_merged(REPO, pr["number"], "Release 2.4.0") == sha
    assert code_host.branch_sha(REPO, "main") == sha
    assert code_host.pull_request(REPO, pr["number"])["merged"] is True
    assert len(effects(sandbox, "github", "pull.merge")) == 1


def test_release_is_published_once(code_host: GitHubHost, sandbox: SandboxServer) -> None:
    url = code_host.ensure_release(REPO, "v2.4.0", "develop", "2.4.0", "Notes")
    assert code_host.ensure_release(REPO, "v2.4.0", "develop", "2.4.0", "Notes") == url
    assert url.endswith("/releases/tag/v2.4.0")
    assert len(effects(sandbox, "github", "release.create")) == 1


def test_missing_pull_request_is_not_found_at_once(
    reader: GitHubHost, sleeps: SleepRecorder
) -> None:
    with pytest.raises(NotFound):
        reader.pull_request(REPO, 999)
    assert sleeps.waits == []


def test_wrong_token_is_an_auth_error(shared_sandbox: SandboxServer, sleeps: SleepRecorder) -> None:
    bad = GitHubHost(
        shared_sandbox.urls.github,
        "acme",
        SecretStr("wrong"),
        CallPolicy(sleep=sleeps),
        pace_requests=False,
    )
    with pytest.raises(AuthError):
        bad.repository(REPO)
    assert sleeps.waits == []

"""Injected faults: retried where transient, and never a duplicated side effect.

`drop` resets the connection before the peer acts; `drop_after` lets the peer act, then
resets the connection so the client never sees the answer. The second is the case that
needs the whole check-then-act operation to be retried, not the bare request.
"""

from __future__ import annotations

import logging

import pytest

from enigma.integrations.confluence_wiki import ConfluenceWiki
from enigma.integrations.errors import TransientError
from enigma.integrations.github_host import GitHubHost
from enigma.integrations.jira_tracker import JiraTracker
from enigma.sandbox.core import FaultRule
from enigma.sandbox.server import SandboxServer
from tests.integrations.conftest import SleepRecorder, effects

REPO = "payments-api"
RELEASE = "release/2.4.0"
DROPS = ["drop", "drop_after"]


def inject(server: SandboxServer, kind: str, route: str, method: str, **kw: object) -> None:
    """One fault on the next matching request."""
    rule = FaultRule.model_validate({"kind": kind, "route": route, "methods": [method]} | kw)
    server.sandbox.faults.add([rule])


def injected(server: SandboxServer) -> int:
    return server.sandbox.faults.injected


@pytest.fixture
def release_branch(code_host: GitHubHost) -> str:
    develop = code_host.branch_sha(REPO, "develop")
    assert develop is not None
    code_host.ensure_branch(REPO, RELEASE, develop)
    return develop


# --- transient answers are retried -------------------------------------------------------


def test_503_twice_then_success(
    tracker: JiraTracker, sandbox: SandboxServer, sleeps: SleepRecorder
) -> None:
    inject(sandbox, "error", r"/rest/api/2/search$", "GET", status=503, count=2)
    assert len(tracker.search_tickets("ENG", "2.4.0", None)) == 11
    assert injected(sandbox) == 2
    assert len(sleeps.waits) == 2


def test_persistent_503_gives_up_after_max_tries(
    code_host: GitHubHost, sandbox: SandboxServer, sleeps: SleepRecorder
) -> None:
    inject(sandbox, "error", r"/repos/acme/payments-api$", "GET", status=502, count=10)
    with pytest.raises(TransientError) as info:
        code_host.repository(REPO)
    assert info.value.status == 502
    assert injected(sandbox) == 3
    assert len(sleeps.waits) == 2


@pytest.mark.parametrize("service", ["jira", "github", "confluence"])
def test_rate_limit_retry_after_is_honoured(
    service: str,
    sandbox: SandboxServer,
    sleeps: SleepRecorder,
    tracker: JiraTracker,
    code_host: GitHubHost,
    wiki: ConfluenceWiki,
) -> None:
    route = {"jira": r"/project/ENG/versions$", "github": r"/repos/acme/web-app$",
             "confluence": r"/rest/api/content/?$"}[service]  # fmt: skip
    inject(sandbox, "rate_limit", route, "GET", retry_after=4, count=1)
    if service == "jira":
        tracker.list_versions("ENG")
    elif service == "github":
        code_host.repository("web-app")
    else:
        wiki.ensure_page("REL", "Release 2.4.0", "<p>x</p>", "Release Notes")
    assert injected(sandbox) == 1
    assert sleeps.waits == [4.0]


def test_503_on_a_write_then_success_makes_one_pull_request(
    code_host: GitHubHost, release_branch: str, sandbox: SandboxServer, sleeps: SleepRecorder
) -> None:
    inject(sandbox, "error", r"/repos/acme/payments-api/pulls$", "POST", status=503, count=2)
    pr = code_host.get_or_create_pull_request(REPO, RELEASE, "main", "Release 2.4.0", "Notes")
    assert pr["number"] == 1
    assert len(effects(sandbox, "github", "pull.create")) == 1
    assert len(sleeps.waits) == 2


# --- dropped connections never duplicate an effect ----------------------------------------


@pytest.mark.parametrize("kind", DROPS)
def test_dropped_comment_is_posted_once(
    kind: str, tracker: JiraTracker, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="enigma.integrations")
    inject(sandbox, kind, r"/issue/ENG-101/comment$", "POST", count=1)
    assert tracker.ensure_comment("ENG-101", "[enigma:r1]", "Shipped [enigma:r1]") is True
    assert tracker.ensure_comment("ENG-101", "[enigma:r1]", "Shipped [enigma:r1]") is False
    assert injected(sandbox) == 1
    assert len(effects(sandbox, "jira", "comment")) == 1
    assert "network error" in caplog.text


@pytest.mark.parametrize("kind", DROPS)
def test_dropped_transition_still_walks_the_workflow_once(
    kind: str, tracker: JiraTracker, sandbox: SandboxServer
) -> None:
    inject(sandbox, kind, r"/issue/ENG-110/transitions$", "POST", count=1)
    assert tracker.ensure_status("ENG-110", "Done") is True
    moves = [e["key"].rsplit(":", 1)[1] for e in effects(sandbox, "jira", "transition")]
    assert moves == ["In Progress", "In Review", "Done"]


@pytest.mark.parametrize("kind", DROPS)
def test_dropped_remote_link_and_version_release_happen_once(
    kind: str, tracker: JiraTracker, sandbox: SandboxServer
) -> None:
    inject(sandbox, kind, r"/issue/ENG-101/remotelink$", "POST", count=1)
    inject(sandbox, kind, r"/version/10240$", "PUT", count=1)
    assert tracker.ensure_remote_link("ENG-101", "https://example.test/pr/1", "PR")
    assert tracker.ensure_version_released("ENG", "2.4.0", "2026-11-20")
    assert injected(sandbox) == 2
    assert len(effects(sandbox, "jira", "remotelink")) == 1
    assert len(effects(sandbox, "jira", "version.release")) == 1


@pytest.mark.parametrize("kind", DROPS)
def test_dropped_branch_creation_happens_once(
    kind: str, code_host: GitHubHost, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="enigma.integrations")
    develop = code_host.branch_sha(REPO, "develop")
    assert develop is not None
    inject(sandbox, kind, r"/git/refs$", "POST", count=1)
    assert code_host.ensure_branch(REPO, RELEASE, develop) is True
    assert code_host.ensure_branch(REPO, RELEASE, develop) is False
    assert code_host.branch_sha(REPO, RELEASE) == develop
    assert len(effects(sandbox, "github", "ref.create")) == 1
    assert "network error" in caplog.text


@pytest.mark.parametrize("kind", DROPS)
def test_dropped_pull_request_creation_opens_one(
    kind: str, code_host: GitHubHost, release_branch: str, sandbox: SandboxServer
) -> None:
    inject(sandbox, kind, r"/pulls$", "POST", count=1)
    pr = code_host.get_or_create_pull_request(REPO, RELEASE, "main", "Release 2.4.0", "Notes")
    assert pr["head"] == RELEASE
    assert len(effects(sandbox, "github", "pull.create")) == 1


@pytest.mark.parametrize("kind", DROPS)
def test_dropped_merges_happen_once(
    kind: str, code_host: GitHubHost, release_branch: str, sandbox: SandboxServer
) -> None:
    inject(sandbox, kind, r"/merges$", "POST", count=1)
    merged = code_host.merge(REPO, RELEASE, "feature/ENG-101-refunds", "Merge ENG-101")
    assert merged["sha"] == code_host.branch_sha(REPO, RELEASE)
    assert merged["outcome"] == "merged"  # this call merged, even though its answer was lost
    assert len(effects(sandbox, "github", "merge")) == 1

    pr = code_host.get_or_create_pull_request(REPO, RELEASE, "main", "Release 2.4.0", "Notes")
    inject(sandbox, kind, r"/pulls/\d+/merge$", "PUT", count=1)
    sha = code_host.ensure_pull_request_merged(REPO, pr["number"], "Release 2.4.0")
    assert sha == code_host.branch_sha(REPO, "main")
    assert len(effects(sandbox, "github", "pull.merge")) == 1


@pytest.mark.parametrize("kind", DROPS)
def test_dropped_release_is_published_once(
    kind: str, code_host: GitHubHost, sandbox: SandboxServer
) -> None:
    inject(sandbox, kind, r"/releases$", "POST", count=1)
    url = code_host.ensure_release(REPO, "v2.4.0", "develop", "2.4.0", "Notes")
    assert url.endswith("/releases/tag/v2.4.0")
    assert len(effects(sandbox, "github", "release.create")) == 1


@pytest.mark.parametrize("kind", DROPS)
def test_dropped_page_creation_and_update_happen_once(
    kind: str, wiki: ConfluenceWiki, sandbox: SandboxServer
) -> None:
    inject(sandbox, kind, r"/rest/api/content/?$", "POST", count=1)
    page = wiki.ensure_page("REL", "Release 2.4.0", "<p>v1</p>", "Release Notes")
    inject(sandbox, kind, r"/rest/api/content/\d+$", "PUT", count=1)
    updated = wiki.ensure_page("REL", "Release 2.4.0", "<p>v2</p>", "Release Notes")
    assert (page["version"], updated["version"]) == (1, 2)
    kinds = [e["kind"] for e in effects(sandbox, "confluence")]
    assert kinds == ["page.created", "page.updated"]

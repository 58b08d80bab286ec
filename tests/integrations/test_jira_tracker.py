"""JiraTracker against the sandbox Jira over HTTP, with the real `jira` client."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr

from enigma.integrations.errors import AuthError, NotFound
from enigma.integrations.http import CallPolicy
from enigma.integrations.jira_tracker import JiraTracker, sprint_name
from enigma.sandbox.server import SandboxServer
from tests.integrations.conftest import SleepRecorder, effects

HOSTILE = '2.4.0" OR project != "ENG'


@pytest.fixture
def reader(shared_sandbox: SandboxServer, policy: CallPolicy) -> JiraTracker:
    """A tracker on the module's shared sandbox, for tests that only read."""
    urls = shared_sandbox.urls
    return JiraTracker(urls.jira, SecretStr(urls.token), None, policy)


def test_search_finds_the_release_tickets(reader: JiraTracker) -> None:
    tickets = reader.search_tickets("ENG", "2.4.0", "Sprint 42")
    keys = [t["key"] for t in tickets]
    assert keys == [
        "ENG-101", "ENG-102", "ENG-103", "ENG-104", "ENG-105", "ENG-106",
        "ENG-107", "ENG-108", "ENG-109", "ENG-110", "ENG-112",
    ]  # fmt: skip
    first = tickets[0]
    assert first["summary"] == "Customers can request refunds from the order page"
    assert (first["type"], first["status"], first["sprint"]) == ("Story", "In Review", "Sprint 42")
    assert first["fix_versions"] == ["2.4.0"]
    assert first["labels"] == ["payments"]
    assert first["url"] == reader.browse_url("ENG-101")


def test_search_without_sprint_and_other_versions(reader: JiraTracker) -> None:
    assert [t["key"] for t in reader.search_tickets("ENG", "2.3.1", None)] == [
        "ENG-120",
        "ENG-121",
    ]
    assert reader.search_tickets("ENG", "2.5.0", "Sprint 42") == []


def test_search_pages_through_everything(
    reader: JiraTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("enigma.integrations.jira_tracker._PAGE", 4)
    assert len(reader.search_tickets("ENG", "2.4.0", None)) == 11


def test_a_hostile_fix_version_matches_nothing(reader: JiraTracker) -> None:
    assert reader.search_tickets("ENG", HOSTILE, None) == []


def test_list_versions(reader: JiraTracker) -> None:
    versions = {v["name"]: v for v in reader.list_versions("ENG")}
    assert versions["2.3.0"]["released"] is True
    assert versions["2.4.0"] == {
        "id": "10240",
        "name": "2.4.0",
        "released": False,
        "archived": False,
    }


def test_ensure_status_walks_the_workflow_once(
    tracker: JiraTracker, sandbox: SandboxServer
) -> None:
    assert (
        tracker.ensure_status("ENG-110", "Done") is True
    )  # To Do -> In Progress -> Review -> Done
    assert tracker.ensure_status("ENG-110", "done") is False
    moves = [e["key"] for e in effects(sandbox, "jira", "transition")]
    assert moves == [
        "jira:transition:ENG-110:In Progress",
        "jira:transition:ENG-110:In Review",
        "jira:transition:ENG-110:Done",
    ]


def test_ensure_status_explores_when_no_path_is_known(
    tracker: JiraTracker, sandbox: SandboxServer
) -> None:
    """From In Review, To Do is only reachable through Done (Reopen)."""
    assert tracker.ensure_status("ENG-101", "To Do") is True
    assert tracker.search_tickets("ENG", "2.4.0", None)[0]["status"] == "To Do"
    assert tracker.ensure_status("ENG-101", "To Do") is False


def test_ensure_comment_posts_once(tracker: JiraTracker, sandbox: SandboxServer) -> None:
    assert tracker.ensure_comment("ENG-101", "[enigma:run-1]", "Released in 2.4.0 [enigma:run-1]")
    assert not tracker.ensure_comment(
        "ENG-101", "[enigma:run-1]", "Released in 2.4.0 [enigma:run-1]"
    )
    assert tracker.ensure_comment("ENG-101", "[enigma:run-2]", "Released again")  # marker added
    assert not tracker.ensure_comment("ENG-101", "[enigma:run-2]", "Released again")
    assert len(effects(sandbox, "jira", "comment")) == 2


def test_ensure_remote_link_links_once(tracker: JiraTracker, sandbox: SandboxServer) -> None:
    url = "https://github.example/acme/payments-api/pull/1"
    assert tracker.ensure_remote_link("ENG-101", url, "Release PR") is True
    assert tracker.ensure_remote_link("ENG-101", url, "Release PR") is False
    assert len(effects(sandbox, "jira", "remotelink")) == 1


def test_ensure_version_released_once(tracker: JiraTracker, sandbox: SandboxServer) -> None:
    assert tracker.ensure_version_released("ENG", "2.4.0", "2026-11-20") is True
    assert tracker.ensure_version_released("ENG", "2.4.0", "2026-11-20") is False
    assert tracker.ensure_version_released("ENG", "2.3.0", "2026-10-01") is False
    assert {v["name"]: v["released"] for v in tracker.list_versions("ENG")}["2.4.0"] is True
    assert len(effects(sandbox, "jira", "version.release")) == 1


def test_missing_version_is_not_found(reader: JiraTracker, sleeps: SleepRecorder) -> None:
    with pytest.raises(NotFound):
        reader.ensure_version_released("ENG", "9.9.9", "2026-11-20")
    assert sleeps.waits == []


def test_missing_issue_is_not_found_at_once(reader: JiraTracker, sleeps: SleepRecorder) -> None:
    with pytest.raises(NotFound):
        reader.ensure_comment("ENG-999", "[m]", "body [m]")
    assert sleeps.waits == []


def test_wrong_token_is_an_auth_error(shared_sandbox: SandboxServer, sleeps: SleepRecorder) -> None:
    bad = JiraTracker(shared_sandbox.urls.jira, SecretStr("wrong"), None, CallPolicy(sleep=sleeps))
    with pytest.raises(AuthError):
        bad.list_versions("ENG")
    assert sleeps.waits == []


def test_basic_auth_is_accepted(shared_sandbox: SandboxServer) -> None:
    urls = shared_sandbox.urls
    basic = JiraTracker(urls.jira, SecretStr(urls.token), "release-bot")
    names = [v["name"] for v in basic.list_versions("ENG")]
    assert names == ["2.3.0", "2.3.1", "2.4.0", "2.5.0", "3.0.0"]


def test_a_version_is_found_by_name_and_statuses_are_read_back(
    shared_sandbox: SandboxServer,
) -> None:
    urls = shared_sandbox.urls
    tracker = JiraTracker(urls.jira, SecretStr(urls.token))
    found = tracker.version("ENG", "2.4.0")
    assert found is not None and (found["released"], found["archived"]) == (False, False)
    assert tracker.version("ENG", "9.9.9") is None
    assert tracker.statuses(["ENG-101", "ENG-104", "ENG-999"]) == {
        "ENG-101": "In Review",
        "ENG-104": "Done",
    }


@pytest.mark.parametrize(
    ("value", "wanted", "name"),
    [
        ([{"id": 42, "name": "Sprint 42", "state": "active"}], None, "Sprint 42"),
        ({"name": "Sprint 43", "state": "future"}, None, "Sprint 43"),
        (
            [
                "com.atlassian.greenhopper.service.sprint.Sprint@1a[id=42,rapidViewId=1,"
                "state=ACTIVE,name=Sprint 42, the big one,startDate=2026-01-01,endDate=<null>]"
            ],
            None,
            "Sprint 42, the big one",
        ),
        (
            ["...Sprint@2[id=7,state=CLOSED,name=S7]", "...Sprint@3[id=8,state=ACTIVE,name=S8]"],
            None,
            "S8",
        ),
        ([{"name": "S7", "state": "closed"}, {"name": "S8", "state": "future"}], "S7", "S7"),
        ([{"name": "S7", "state": "closed"}, {"name": "S8", "state": "future"}], None, "S8"),
        (None, None, None),
        ([], None, None),
    ],
)
def test_sprint_name_reads_every_shape(value: object, wanted: str | None, name: str | None) -> None:
    assert sprint_name(value, wanted) == name


def test_cloud_search_pages_by_token(
    sandbox_factory: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jira Cloud removed /search: the tracker pages /search/jql by nextPageToken."""
    from enigma.sandbox.jira_peer import PEER

    cloud = sandbox_factory(specs=[PEER], settings={"jira_deployment_type": "Cloud"}, name="cloud")
    monkeypatch.setattr("enigma.integrations.jira_tracker._PAGE", 4)
    tracker = JiraTracker(cloud.urls.jira, SecretStr(cloud.urls.token))
    tickets = tracker.search_tickets("ENG", "2.4.0", "Sprint 42")
    assert len(tickets) == 11
    assert {t["sprint"] for t in tickets} == {"Sprint 42"}

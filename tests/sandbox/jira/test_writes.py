"""The sandbox Jira through the real ``jira`` client over HTTP: issues, versions, persistence."""

from __future__ import annotations

import warnings
from unittest import mock

import pytest
from jira import JIRA, JIRAError

from enigma.sandbox.jira_peer import PEER
from enigma.sandbox.server import SandboxServer
from tests.conftest import SandboxFactory
from tests.sandbox.jira.support import (
    IN_240,
    RELEASE,
    body,
    connect,
    effects,
    record_requests,
    self_urls,
)

# --- issues and transitions ---------------------------------------------------------------


def test_issue_json_points_back_at_the_peer(jira: JIRA, server: SandboxServer) -> None:
    issue = jira.issue("eng-101")
    urls = list(self_urls(issue.raw))

    assert issue.key == "ENG-101"
    assert len(urls) > 5
    assert all(url.startswith(f"{server.urls.jira}/rest/api/2/") for url in urls)
    assert jira.issue(issue.id).key == "ENG-101"
    assert set(jira.issue("ENG-101", fields="status").raw["fields"]) == {"status"}


def test_unknown_issue_is_404_in_jiras_shape(jira: JIRA) -> None:
    with pytest.raises(JIRAError) as caught:
        jira.issue("ENG-999")

    assert caught.value.status_code == 404
    assert body(caught.value) == {"errorMessages": ["Issue Does Not Exist"], "errors": {}}


def test_transitions_follow_the_seed_workflow(jira: JIRA, server: SandboxServer) -> None:
    sent = record_requests(jira)
    offered = jira.transitions("ENG-101")

    jira.transition_issue("ENG-101", "Done")

    assert [(t["id"], t["name"], t["to"]["name"]) for t in offered] == [
        ("31", "Done", "Done"),
        ("41", "Request Changes", "In Progress"),
    ]
    issue = jira.issue("ENG-101")
    assert issue.fields.status.name == "Done"
    assert issue.fields.status.statusCategory.key == "done"
    assert issue.fields.resolution is not None
    assert issue.fields.resolution.name == "Done"
    assert [t["name"] for t in jira.transitions("ENG-101")] == ["Reopen"]
    assert sent[1:3] == [
        "GET /rest/api/2/issue/ENG-101/transitions",
        "POST /rest/api/2/issue/ENG-101/transitions",
    ]
    assert effects(server) == [("transition", "jira:transition:ENG-101:Done")]


def test_illegal_transition_is_400_and_changes_nothing(jira: JIRA, server: SandboxServer) -> None:
    with pytest.raises(JIRAError) as caught:
        jira.transition_issue("ENG-110", "31")  # To Do cannot go straight to Done

    assert caught.value.status_code == 400
    assert caught.value.text == "Transition id '31' is not valid for this issue."
    with pytest.raises(JIRAError, match="Invalid transition name"):
        jira.transition_issue("ENG-110", "Done")  # the client finds no such name on offer
    assert jira.issue("ENG-110").fields.status.name == "To Do"
    assert effects(server) == []


def test_transition_walk_with_comment(jira: JIRA, server: SandboxServer) -> None:
    jira.transition_issue("ENG-110", "Start Progress")
    jira.transition_issue("ENG-110", "21", comment="Ready for review")

    assert jira.issue("ENG-110").fields.status.name == "In Review"
    assert [c.body for c in jira.comments("ENG-110")] == ["Ready for review"]
    assert effects(server) == [
        ("transition", "jira:transition:ENG-110:In Progress"),
        ("transition", "jira:transition:ENG-110:In Review"),
    ]


# --- comments and remote links -------------------------------------------------------------


def test_comments(jira: JIRA, server: SandboxServer) -> None:
    first = jira.add_comment("ENG-102", "Released in 2.4.0 <!-- enigma:run-1 -->")
    second = jira.add_comment("ENG-102", "Second")

    assert first.body.startswith("Released in 2.4.0") and first.author.name == "release-bot"
    assert [c.id for c in jira.comments("ENG-102")] == [first.id, second.id]
    assert [c.id for c in jira.comments("ENG-102", start_at=1, max_results=100)] == [second.id]
    assert jira.comment("ENG-102", first.id).body == first.body
    assert effects(server) == [
        ("comment", "jira:comment:ENG-102:521ea54b5ce3"),
        ("comment", "jira:comment:ENG-102:2a4bcae654f2"),
    ]


def test_empty_comment_is_400(jira: JIRA, server: SandboxServer) -> None:
    with pytest.raises(JIRAError) as caught:
        jira.add_comment("ENG-102", "  ")

    assert caught.value.status_code == 400
    assert caught.value.text == "Comment body can not be empty!"
    assert effects(server) == []


def test_remote_links(jira: JIRA, server: SandboxServer) -> None:
    url = "http://127.0.0.1:1/acme/payments-api/pull/7"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # add_remote_link warns when it cannot list app links
        simple = jira.add_simple_link("ENG-101", {"url": url, "title": "PR #7"})
        global_link = jira.add_remote_link(
            "ENG-101", {"url": f"{url}/files", "title": "Files"}, globalId="enigma:pr:7"
        )
        again = jira.add_remote_link(
            "ENG-101", {"url": f"{url}/files", "title": "Files"}, globalId="enigma:pr:7"
        )

    links = jira.remote_links("ENG-101")
    assert [link.object.url for link in links] == [url, f"{url}/files"]
    assert again.id == global_link.id != simple.id
    assert jira.remote_link("ENG-101", simple.id).object.title == "PR #7"
    assert effects(server) == [
        ("remotelink", f"jira:remotelink:ENG-101:{url}"),
        ("remotelink", f"jira:remotelink:ENG-101:{url}/files"),
    ]


def test_remote_link_with_known_global_id_is_replaced(jira: JIRA, server: SandboxServer) -> None:
    first = jira.add_remote_link("ENG-103", {"url": "http://a", "title": "A"}, globalId="g1")
    second = jira.add_remote_link("ENG-103", {"url": "http://b", "title": "B"}, globalId="g1")

    assert first.id == second.id
    assert [(x.globalId, x.object.url) for x in jira.remote_links("ENG-103")] == [
        ("g1", "http://b")
    ]
    assert effects(server) == [
        ("remotelink", "jira:remotelink:ENG-103:http://a"),
        ("remotelink.update", "jira:remotelink.update:ENG-103:http://b"),
    ]


def test_remote_link_needs_url_and_title(jira: JIRA) -> None:
    with pytest.raises(JIRAError) as caught:
        jira.add_simple_link("ENG-101", {"title": "no url"})

    assert caught.value.status_code == 400


# --- projects and versions -----------------------------------------------------------------


def test_project_and_versions(jira: JIRA, server: SandboxServer) -> None:
    project = jira.project("ENG")
    versions = jira.project_versions("ENG")

    assert (project.key, project.name, project.id) == ("ENG", "Engineering", "10000")
    assert [(v.name, v.released) for v in versions] == [
        ("2.3.0", True),
        ("2.3.1", False),
        ("2.4.0", False),
        ("2.5.0", False),
        ("3.0.0", False),
    ]
    assert versions[0].releaseDate == "2026-10-01"
    assert all(v.self == f"{server.urls.jira}/rest/api/2/version/{v.id}" for v in versions)
    with pytest.raises(JIRAError) as caught:
        jira.project("NOPE")
    assert caught.value.status_code == 404


def test_create_and_release_a_version(jira: JIRA, server: SandboxServer) -> None:
    sent = record_requests(jira)
    with mock.patch("jira.client.time.sleep") as slept:
        version = jira.create_version("2.6.0", "ENG", description="Next one")

    version.update(released=True, releaseDate="2026-11-23")
    version.update(released=True, releaseDate="2026-11-23")  # nothing left to change

    assert slept.call_count == 1
    assert (version.name, version.released, version.releaseDate) == ("2.6.0", True, "2026-11-23")
    assert jira.version(version.id).released is True
    assert "2.6.0" in [v.name for v in jira.project_versions("ENG")]
    assert sent[:3] == [
        "POST /rest/api/2/version",
        f"PUT /rest/api/2/version/{version.id}",
        f"GET /rest/api/2/version/{version.id}",
    ]
    assert effects(server) == [
        ("version.create", "jira:version.create:ENG:2.6.0"),
        ("version.release", "jira:version.release:2.6.0"),
    ]


def test_release_seeded_version_then_search_still_finds_it(
    jira: JIRA, server: SandboxServer
) -> None:
    version = next(v for v in jira.project_versions("ENG") if v.name == RELEASE)

    version.update(released=True, releaseDate="2026-11-23")

    assert jira.search_issues(f'fixVersion = "{RELEASE}"').total == len(IN_240)
    assert jira.issue("ENG-101").fields.fixVersions[0].released is True
    assert effects(server) == [("version.release", f"jira:version.release:{RELEASE}")]


@pytest.mark.parametrize(
    ("name", "project", "field", "message"),
    [
        ("2.4.0", "ENG", "name", "A version with this name already exists in this project."),
        ("", "ENG", "name", "You must specify a valid version name"),
    ],
)
def test_version_create_refusals(
    jira: JIRA, server: SandboxServer, name: str, project: str, field: str, message: str
) -> None:
    with mock.patch("jira.client.time.sleep"), pytest.raises(JIRAError) as caught:
        jira.create_version(name, project)

    assert caught.value.status_code == 400
    assert body(caught.value)["errors"] == {field: message}
    assert effects(server) == []


def test_version_update_refusals(jira: JIRA, server: SandboxServer) -> None:
    version = jira.version("10250")

    with pytest.raises(JIRAError) as bad_date:
        version.update(releaseDate="23/Nov/26")
    with pytest.raises(JIRAError) as taken:
        version.update(name="2.4.0")
    with pytest.raises(JIRAError) as missing:
        jira.version("99999")

    assert bad_date.value.status_code == taken.value.status_code == 400
    assert missing.value.status_code == 404
    assert effects(server) == []


# --- persistence ---------------------------------------------------------------------------


def test_writes_survive_a_restart(sandbox_factory: SandboxFactory) -> None:
    first = sandbox_factory(specs=[PEER], name="persist")
    client = connect(first)
    client.transition_issue("ENG-101", "Done")
    client.add_comment("ENG-101", "Shipped")
    client.close()
    first.stop()

    second = sandbox_factory(specs=[PEER], name="persist")
    client = connect(second)

    assert client.issue("ENG-101").fields.status.name == "Done"
    assert [c.body for c in client.comments("ENG-101")] == ["Shipped"]
    assert [kind for kind, _ in effects(second)] == ["transition", "comment"]
    client.close()

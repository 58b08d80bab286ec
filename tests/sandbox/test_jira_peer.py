"""The sandbox Jira, driven only by the real ``jira`` client (3.10.5) over HTTP."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import requests
from jira import JIRA, JIRAError
from jira.resources import Issue

from enigma.sandbox.jira_peer import PEER
from enigma.sandbox.server import SandboxServer
from tests.conftest import SandboxFactory

RELEASE = "2.4.0"
SPRINT = "Sprint 42"
ALL_ISSUES = 23  # 16 in the releases up to 2.5.0, 7 in 3.0.0
IN_240 = [
    "ENG-101",
    "ENG-102",
    "ENG-103",
    "ENG-104",
    "ENG-105",
    "ENG-106",
    "ENG-107",
    "ENG-108",
    "ENG-109",
    "ENG-110",
    "ENG-112",
]
HOSTILE = 'fixVersion = "2.0\\" OR project != \\"ENG"'


@pytest.fixture
def server(sandbox_factory: SandboxFactory) -> SandboxServer:
    """A sandbox serving only the Jira peer, playing Jira Server."""
    return sandbox_factory(specs=[PEER])


@pytest.fixture
def cloud_server(sandbox_factory: SandboxFactory) -> SandboxServer:
    """A sandbox serving only the Jira peer, playing Jira Cloud."""
    return sandbox_factory(specs=[PEER], settings={"jira_deployment_type": "Cloud"}, name="cloud")


def connect(server: SandboxServer, **options: Any) -> JIRA:
    """The real client, with the sandbox's token."""
    return JIRA(server.urls.jira, token_auth=server.urls.token, max_retries=0, **options)


@pytest.fixture
def jira(server: SandboxServer) -> Iterator[JIRA]:
    """A client of the Server-flavoured peer."""
    client = connect(server, validate=True)
    yield client
    client.close()


@pytest.fixture
def cloud(cloud_server: SandboxServer) -> Iterator[JIRA]:
    """A client of the Cloud-flavoured peer."""
    client = connect(cloud_server)
    yield client
    client.close()


def record_requests(client: JIRA) -> list[str]:
    """Collect ``METHOD /path?query`` (below /jira) for every request sent from now on."""
    sent: list[str] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        sent.append(f"{response.request.method} {response.request.path_url.removeprefix('/jira')}")

    client._session.hooks["response"].append(hook)
    return sent


def effects(server: SandboxServer) -> list[tuple[str, str]]:
    """The Jira effect log as (kind, key), read through the admin API."""
    answer = requests.get(f"{server.urls.admin}/jira/_sandbox/effects", timeout=10)
    answer.raise_for_status()
    return [(e["kind"], e["key"]) for e in answer.json()["effects"]]


def issue_keys(found: Any) -> list[str]:
    """Keys of a search result."""
    return [issue.key for issue in found]


def self_urls(value: Any) -> Iterator[str]:
    """Every ``self`` URL anywhere in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "self" and isinstance(item, str):
                yield item
            yield from self_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from self_urls(item)


# --- construction, meta data ---------------------------------------------------------------


def test_client_connects_and_sees_a_server(jira: JIRA, server: SandboxServer) -> None:
    info = jira.server_info()

    assert info["deploymentType"] == "Server"
    assert info["baseUrl"] == server.urls.jira
    assert tuple(info["versionNumbers"]) == jira._version
    assert jira.myself()["name"] == "release-bot"
    assert jira.session().name == "release-bot"


def test_field_catalogue_names_the_sprint_field(jira: JIRA) -> None:
    fields = {f["id"]: f for f in jira.fields()}
    sprint = next(f for f in fields.values() if f["name"] == "Sprint")

    assert sprint["schema"]["custom"] == "com.pyxis.greenhopper.jira:gh-sprint"
    assert jira._get_sprint_field_id() == sprint["schema"]["customId"] == 10020
    assert {"summary", "status", "issuetype", "fixVersions", "labels", "assignee"} <= set(fields)
    assert "fixVersion" in fields["fixVersions"]["clauseNames"]


@pytest.mark.parametrize("token", [None, "sbx_wrong"])
def test_no_or_bad_token_is_401(server: SandboxServer, token: str | None) -> None:
    auth = {} if token is None else {"token_auth": token}

    with pytest.raises(JIRAError) as caught:
        JIRA(server.urls.jira, max_retries=0, **auth)

    assert caught.value.status_code == 401
    assert "Authentication required" in caught.value.text


# --- search (Server) ------------------------------------------------------------------------


def test_search_by_fix_version_and_sprint(jira: JIRA) -> None:
    sent = record_requests(jira)
    jql = f'project = "ENG" AND fixVersion = "{RELEASE}" AND sprint = "{SPRINT}" ORDER BY key ASC'

    found = jira.search_issues(jql)

    assert issue_keys(found) == IN_240
    assert found.total == len(IN_240)
    first = found[0]
    assert first.fields.status.name == "In Review"
    assert first.fields.issuetype.name == "Story"
    assert [v.name for v in first.fields.fixVersions] == [RELEASE]
    assert first.fields.labels == ["payments"]
    assert first.fields.summary == "Customers can request refunds from the order page"
    assert first.fields.assignee is None
    assert "name=Sprint 42," in first.raw["fields"]["customfield_10020"][0]
    assert sent == [
        "GET /rest/api/2/field",
        "GET /rest/api/2/search?jql=project+%3D+%22ENG%22+AND+fixVersion+%3D+%222.4.0%22+AND+"
        "sprint+%3D+%22Sprint+42%22+ORDER+BY+key+ASC&startAt=0&validateQuery=True&fields=%2Aall"
        "&maxResults=50",
    ]


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        ('fixVersion = "2.3.1"', ["ENG-120", "ENG-121"]),
        ("sprint = 43 ORDER BY key DESC", ["ENG-132", "ENG-131", "ENG-130"]),
        ("status = 'in progress'", ["ENG-108", "ENG-131"]),
        ("status = Done OR labels = hotfix AND type = Bug", ["ENG-104", "ENG-120", "ENG-121"]),
        ("fixVersion = 2.4.0 AND status NOT IN ('In Review', Done)", ["ENG-108", "ENG-110"]),
        ("summary ~ 'rate limit*'", ["ENG-105", "ENG-106"]),
        ("summary ~ 'rate limit'", ["ENG-105"]),
        ("project = NOPE", []),
    ],
)
def test_search_filters_and_orders(jira: JIRA, jql: str, expected: list[str]) -> None:
    assert issue_keys(jira.search_issues(jql)) == expected


def test_search_pages_by_start_at(server: SandboxServer) -> None:
    client = connect(server, default_batch_sizes={Issue: 5})
    sent = record_requests(client)

    everything = client.search_issues("project = ENG ORDER BY key", maxResults=False)
    page = client.search_issues("project = ENG ORDER BY key", startAt=5, maxResults=5)

    assert len(everything) == everything.total == ALL_ISSUES
    assert issue_keys(page) == issue_keys(everything)[5:10] and page.total == ALL_ISSUES
    starts = [line for line in sent if "startAt=" in line]
    assert [s.split("startAt=")[1].split("&")[0] for s in starts] == [
        "0", "5", "10", "15", "20", "5"
    ]  # fmt: skip


def test_search_fields_parameter(jira: JIRA) -> None:
    found = jira.search_issues("key = ENG-101", fields="summary,Sprint", json_result=True)
    fields = found["issues"][0]["fields"]

    assert set(fields) == {"summary", "customfield_10020"}
    assert found["total"] == 1 and found["startAt"] == 0


def test_search_by_post(jira: JIRA) -> None:
    found = jira.search_issues(f'fixVersion = "{RELEASE}" AND status = Done', use_post=True)

    assert issue_keys(found) == ["ENG-104"]


def test_hostile_value_is_one_literal_and_matches_nothing(jira: JIRA) -> None:
    assert issue_keys(jira.search_issues(HOSTILE)) == []
    assert jira.search_issues(HOSTILE, json_result=True)["total"] == 0
    assert jira.search_issues('fixVersion = "2.3.1" OR project != "ENG"').total == 2


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("fixVersion = ", "Error in the JQL Query: Expecting either a value, list or function"),
        ('fixVersion = "2.4.0', "Error in the JQL Query: The quoted string"),
        ("project = ENG AND", "Error in the JQL Query: Expecting"),
        ("owner = me", "Field 'owner' does not exist or you do not have permission to view it."),
    ],
)
def test_bad_jql_is_400_not_everything(jira: JIRA, jql: str, message: str) -> None:
    with pytest.raises(JIRAError) as caught:
        jira.search_issues(jql)

    assert caught.value.status_code == 400
    assert caught.value.text.startswith(message)
    assert caught.value.response.json()["errors"] == {}


# --- search (Cloud) ------------------------------------------------------------------------


def test_cloud_search_uses_search_jql(cloud: JIRA) -> None:
    sent = record_requests(cloud)

    found = cloud.search_issues(f'fixVersion = "{RELEASE}" AND sprint = "{SPRINT}" ORDER BY key')

    assert cloud._is_cloud
    assert issue_keys(found) == IN_240
    assert found[0].fields.customfield_10020[0].name == SPRINT
    assert sent == [
        "GET /rest/api/2/field",
        "GET /rest/api/2/search/jql?jql=fixVersion+%3D+%222.4.0%22+AND+sprint+%3D+"
        "%22Sprint+42%22+ORDER+BY+key&fields=%2Aall&maxResults=50",
    ]
    assert "accountId" in cloud.myself() and "name" not in cloud.myself()


def test_cloud_pages_by_next_page_token(cloud: JIRA) -> None:
    jql = "project = ENG ORDER BY key"
    keys: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = cloud.enhanced_search_issues(
            jql, nextPageToken=token, maxResults=5, fields=["summary"], json_result=True
        )
        pages += 1
        keys += [issue["key"] for issue in page["issues"]]
        token = page.get("nextPageToken")
        if page["isLast"]:
            break

    assert pages == 5 and len(keys) == ALL_ISSUES == len(set(keys))
    assert token is None
    assert keys == issue_keys(cloud.search_issues(jql, maxResults=False))


def test_cloud_search_by_post(cloud: JIRA) -> None:
    found = cloud.enhanced_search_issues("status = Done", use_post=True)

    assert issue_keys(found) == ["ENG-104"]


@pytest.mark.parametrize(
    ("jql", "token", "message"),
    [
        (HOSTILE, None, None),
        ("fixVersion = ", None, "Error in the JQL Query"),
        ("ORDER BY key", None, "Unbounded JQL queries are not allowed here"),
        ("project = ENG", "not-a-token", "The provided next page token is invalid"),
    ],
)
def test_cloud_search_refusals(
    cloud: JIRA, jql: str, token: str | None, message: str | None
) -> None:
    if message is None:
        assert cloud.enhanced_search_issues(jql, json_result=True)["issues"] == []
        return
    with pytest.raises(JIRAError) as caught:
        cloud.enhanced_search_issues(jql, nextPageToken=token, json_result=True)

    assert caught.value.status_code == 400
    assert caught.value.text.startswith(message)


def test_cloud_token_is_tied_to_its_query(cloud: JIRA) -> None:
    page = cloud.enhanced_search_issues("project = ENG", maxResults=2, json_result=True)

    with pytest.raises(JIRAError) as caught:
        cloud.enhanced_search_issues(
            "status = Done", nextPageToken=page["nextPageToken"], json_result=True
        )

    assert caught.value.status_code == 400


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
    assert caught.value.response.json() == {"errorMessages": ["Issue Does Not Exist"], "errors": {}}


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
    assert caught.value.response.json()["errors"] == {field: message}
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

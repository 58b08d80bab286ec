"""The sandbox Jira through the real ``jira`` client over HTTP: meta data and search."""

from __future__ import annotations

import pytest
from jira import JIRA, JIRAError
from jira.resources import Issue

from enigma.sandbox.server import SandboxServer
from tests.sandbox.jira.support import (
    ALL_ISSUES,
    HOSTILE,
    IN_240,
    RELEASE,
    SPRINT,
    body,
    connect,
    issue_keys,
    record_requests,
)

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
    with pytest.raises(JIRAError) as caught:
        JIRA(server.urls.jira, max_retries=0, token_auth=token)

    assert caught.value.status_code == 401
    assert "Authentication required" in str(caught.value.text)


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
    assert str(caught.value.text).startswith(message)
    assert body(caught.value)["errors"] == {}


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
    assert str(caught.value.text).startswith(message)


def test_cloud_token_is_tied_to_its_query(cloud: JIRA) -> None:
    page = cloud.enhanced_search_issues("project = ENG", maxResults=2, json_result=True)

    with pytest.raises(JIRAError) as caught:
        cloud.enhanced_search_issues(
            "status = Done", nextPageToken=page["nextPageToken"], json_result=True
        )

    assert caught.value.status_code == 400

"""Jira's JSON shapes for the sandbox Jira peer: issues, versions, users, fields.

The peer keeps small documents in the sandbox store (see ``jira_peer.py``); this module turns
them into the JSON the real ``jira`` client parses. Every ``self`` URL is built from the base
URL the client used, so follow-up calls through ``resource.update()`` reach the same peer.

Where Jira Server and Jira Cloud answer differently, and a client might care, the views do
too: users carry ``name`` on Server and ``accountId`` on Cloud; the sprint field holds
GreenHopper's ``Sprint@...[id=..,name=..]`` strings on Server and objects on Cloud.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SPRINT_FIELD",
    "JiraConfig",
    "JiraSprint",
    "JiraStatus",
    "JiraTransition",
    "JiraUser",
    "JiraView",
    "jql_record",
    "load_config",
    "select_fields",
]

SPRINT_FIELD = "customfield_10020"
_SPRINT_CUSTOM_ID = 10020

_CATEGORIES: dict[str, dict[str, Any]] = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4,
        "key": "indeterminate",
        "colorName": "yellow",
        "name": "In Progress",
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
# Jira's ids for its default issue types; other types get ids from 10100 on.
_TYPE_IDS = {"bug": "1", "new feature": "2", "task": "3", "improvement": "4", "sub-task": "5"}
_TYPE_IDS |= {"epic": "10000", "story": "10001"}


@dataclass(frozen=True)
class JiraStatus:
    """A workflow status from the seed."""

    id: str
    name: str
    category: str


@dataclass(frozen=True)
class JiraTransition:
    """A workflow transition: from any of ``sources`` to ``target``."""

    id: str
    name: str
    sources: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class JiraSprint:
    """A sprint from the seed (the peer has no agile API to change sprints)."""

    id: int
    name: str
    state: str


@dataclass(frozen=True)
class JiraUser:
    """The one user the sandbox token authenticates as."""

    name: str
    display_name: str
    email: str


@dataclass(frozen=True)
class JiraConfig:
    """The workflow and people of the seed: configuration, not data, so never stored."""

    deployment_type: str
    user: JiraUser
    statuses: tuple[JiraStatus, ...]
    transitions: tuple[JiraTransition, ...]
    sprints: tuple[JiraSprint, ...]

    def status(self, name: str) -> JiraStatus:
        """The status called ``name`` (any case); unknown names get a made-up new status."""
        for status in self.statuses:
            if status.name.casefold() == name.casefold():
                return status
        return JiraStatus(id="0", name=name, category="new")

    def sprint(self, ref: str | int) -> JiraSprint | None:
        """The sprint with this id or name, if any."""
        for sprint in self.sprints:
            if str(ref) == str(sprint.id) or str(ref).casefold() == sprint.name.casefold():
                return sprint
        return None

    def transitions_from(self, status: str) -> list[JiraTransition]:
        """Transitions the workflow allows out of ``status``."""
        folded = status.casefold()
        return [t for t in self.transitions if folded in {s.casefold() for s in t.sources}]


def load_config(jira: Mapping[str, Any], deployment_type: str) -> JiraConfig:
    """Read the ``[jira]`` table of the seed."""
    user = jira.get("user", {})
    return JiraConfig(
        deployment_type=deployment_type,
        user=JiraUser(
            name=str(user.get("name", "release-bot")),
            display_name=str(user.get("display_name", "Release Bot")),
            email=str(user.get("email", "release-bot@example.com")),
        ),
        statuses=tuple(
            JiraStatus(str(s["id"]), str(s["name"]), str(s.get("category", "indeterminate")))
            for s in jira.get("statuses", [])
        ),
        transitions=tuple(
            JiraTransition(str(t["id"]), str(t["name"]), tuple(t["from"]), str(t["to"]))
            for t in jira.get("transitions", [])
        ),
        sprints=tuple(
            JiraSprint(int(s["id"]), str(s["name"]), str(s.get("state", "active")))
            for s in jira.get("sprints", [])
        ),
    )


def type_id(name: str) -> str:
    """A stable id for an issue type name."""
    return _TYPE_IDS.get(name.casefold(), str(10100 + sum(map(ord, name.casefold())) % 900))


@dataclass(frozen=True)
class JiraView:
    """Renders stored documents as Jira JSON for one request's base URL."""

    base: str
    config: JiraConfig

    @property
    def cloud(self) -> bool:
        """Whether the peer plays Jira Cloud."""
        return self.config.deployment_type.casefold() == "cloud"

    def api(self, path: str) -> str:
        """Absolute URL of a REST v2 path."""
        return f"{self.base}/rest/api/2/{path}"

    def user(self) -> dict[str, Any]:
        """The sandbox user, Server- or Cloud-shaped."""
        who = self.config.user
        common: dict[str, Any] = {"displayName": who.display_name, "emailAddress": who.email}
        common |= {"active": True, "timeZone": "UTC"}
        if self.cloud:
            account = f"557058:{who.name}"
            return {"self": self.api(f"user?accountId={account}"), "accountId": account} | common
        own = {"self": self.api(f"user?username={who.name}"), "name": who.name, "key": who.name}
        return own | common

    def status(self, name: str) -> dict[str, Any]:
        """A status with its category."""
        status = self.config.status(name)
        category = _CATEGORIES.get(status.category, _CATEGORIES["indeterminate"])
        return {
            "self": self.api(f"status/{status.id}"),
            "id": status.id,
            "name": status.name,
            "description": "",
            "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
            "statusCategory": {"self": self.api(f"statuscategory/{category['id']}")} | category,
        }

    def issuetype(self, name: str) -> dict[str, Any]:
        """An issue type."""
        ident = type_id(name)
        return {
            "self": self.api(f"issuetype/{ident}"),
            "id": ident,
            "name": name,
            "description": "",
            "subtask": name.casefold() == "sub-task",
            "iconUrl": f"{self.base}/images/icons/issuetypes/{name.casefold()}.svg",
        }

    def project(
        self, doc: Mapping[str, Any], versions: Iterable[Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        """A project; given its ``versions``, the full shape of ``GET project/KEY``."""
        shape = {
            "self": self.api(f"project/{doc['id']}"),
            "id": doc["id"],
            "key": doc["key"],
            "name": doc["name"],
            "projectTypeKey": "software",
            "archived": False,
        }
        if versions is not None:
            shape["versions"] = [self.version(v) for v in versions]
            shape["lead"] = self.user()
            shape["description"] = doc.get("description", "")
        return shape

    def version(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """A project version."""
        shape: dict[str, Any] = {
            "self": self.api(f"version/{doc['id']}"),
            "id": doc["id"],
            "name": doc["name"],
            "archived": bool(doc.get("archived", False)),
            "released": bool(doc.get("released", False)),
            "projectId": int(doc["projectId"]),
        }
        for key in ("description", "startDate", "releaseDate"):
            if doc.get(key):
                shape[key] = doc[key]
        return shape

    def sprint(self, sprint: JiraSprint) -> str | dict[str, Any]:
        """One value of the sprint field, the way this deployment type writes it."""
        if self.cloud:
            return {"id": sprint.id, "name": sprint.name, "state": sprint.state, "boardId": 1}
        return (
            f"com.atlassian.greenhopper.service.sprint.Sprint@{sprint.id:x}[id={sprint.id},"
            f"rapidViewId=1,state={sprint.state.upper()},name={sprint.name},startDate=<null>,"
            f"endDate=<null>,completeDate=<null>,sequence={sprint.id},goal=]"
        )

    def comment(self, issue: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
        """A comment on ``issue``."""
        author = self.user()
        return {
            "self": self.api(f"issue/{issue['id']}/comment/{doc['id']}"),
            "id": doc["id"],
            "author": author,
            "body": doc["body"],
            "updateAuthor": author,
            "created": doc["created"],
            "updated": doc["updated"],
        }

    def comments(
        self, issue: Mapping[str, Any], start: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        """One page of an issue's comments, oldest first (the client reads ``comments``)."""
        stored = list(issue.get("comments", []))
        limit = len(stored) if limit is None else limit
        items = [self.comment(issue, c) for c in stored[start : start + limit]]
        return {"startAt": start, "maxResults": limit, "total": len(stored), "comments": items}

    def remotelink(self, issue: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
        """A remote link of ``issue``."""
        shape = {"id": doc["id"], "self": self.api(f"issue/{issue['key']}/remotelink/{doc['id']}")}
        for key in ("globalId", "application", "relationship", "object"):
            if doc.get(key) is not None:
                shape[key] = doc[key]
        return shape

    def issue(
        self,
        doc: Mapping[str, Any],
        projects: Mapping[str, Mapping[str, Any]],
        versions: Mapping[str, Mapping[str, Any]],
        wanted: list[str] | None = None,
    ) -> dict[str, Any]:
        """An issue with the ``fields`` the client asked for (all of them by default)."""
        fields = select_fields(self._issue_fields(doc, projects, versions), wanted or ["*all"])
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog",
            "id": doc["id"],
            "self": self.api(f"issue/{doc['id']}"),
            "key": doc["key"],
            "fields": fields,
        }

    def _issue_fields(
        self,
        doc: Mapping[str, Any],
        projects: Mapping[str, Mapping[str, Any]],
        versions: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, Any]:
        """Every field of an issue, keyed by field id."""
        sprints = [self.config.sprint(ref) for ref in doc.get("sprints", [])]
        resolution = doc.get("resolution")
        return {
            "summary": doc["summary"],
            "description": doc.get("description"),
            "issuetype": self.issuetype(doc["type"]),
            "project": self.project(projects[doc["project"]]),
            "fixVersions": [self.version(versions[v]) for v in doc.get("fix_versions", [])],
            "versions": [],
            "status": self.status(doc["status"]),
            "resolution": None if resolution is None else {"id": "10000", "name": resolution},
            "labels": list(doc.get("labels", [])),
            "assignee": self.user() if doc.get("assignee") else None,
            "reporter": self.user(),
            "priority": {"self": self.api("priority/3"), "id": "3", "name": "Medium"},
            "created": doc["created"],
            "updated": doc["updated"],
            "components": [],
            "issuelinks": [],
            "subtasks": [],
            SPRINT_FIELD: [self.sprint(s) for s in sprints if s is not None] or None,
            "comment": self.comments(doc),
        }


def select_fields(fields: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """Jira's ``fields`` parameter: ``*all``, ``*navigable``, ids, and ``-id`` exclusions."""
    names = [name.strip() for item in wanted for name in item.split(",") if name.strip()]
    include = {n for n in names if not n.startswith("-")}
    exclude = {n[1:] for n in names if n.startswith("-")}
    if "*all" in include or not include:
        chosen = dict(fields)
    elif "*navigable" in include:
        chosen = {k: v for k, v in fields.items() if k != "comment"}
    else:
        chosen = {}
    chosen |= {k: fields[k] for k in include if k in fields}
    return {k: v for k, v in chosen.items() if k not in exclude}


def field_catalogue() -> list[dict[str, Any]]:
    """``GET /rest/api/2/field``: the system fields the peer serves, and the sprint field."""
    system = [
        ("issuekey", "Key", ["id", "issue", "issuekey", "key"], {"type": "string"}),
        ("summary", "Summary", ["summary"], {"type": "string"}),
        ("description", "Description", ["description"], {"type": "string"}),
        ("issuetype", "Issue Type", ["issuetype", "type"], {"type": "issuetype"}),
        ("project", "Project", ["project"], {"type": "project"}),
        ("fixVersions", "Fix Version/s", ["fixVersion"], {"type": "array", "items": "version"}),
        (
            "versions",
            "Affects Version/s",
            ["affectedVersion"],
            {"type": "array", "items": "version"},
        ),
        ("status", "Status", ["status"], {"type": "status"}),
        ("resolution", "Resolution", ["resolution"], {"type": "resolution"}),
        ("labels", "Labels", ["labels"], {"type": "array", "items": "string"}),
        ("assignee", "Assignee", ["assignee"], {"type": "user"}),
        ("reporter", "Reporter", ["reporter"], {"type": "user"}),
        ("priority", "Priority", ["priority"], {"type": "priority"}),
        ("created", "Created", ["created", "createdDate"], {"type": "datetime"}),
        ("updated", "Updated", ["updated", "updatedDate"], {"type": "datetime"}),
        ("comment", "Comment", ["comment"], {"type": "comments-page"}),
        ("components", "Component/s", ["component"], {"type": "array", "items": "component"}),
        ("issuelinks", "Linked Issues", ["issueLink"], {"type": "array", "items": "issuelinks"}),
        ("subtasks", "Sub-Tasks", ["subtasks"], {"type": "array", "items": "issuelinks"}),
    ]
    catalogue = [
        _field(ident, name, clauses, schema | {"system": ident})
        for ident, name, clauses, schema in system
    ]
    sprint_schema = {
        "type": "array",
        "items": "string",
        "custom": "com.pyxis.greenhopper.jira:gh-sprint",
        "customId": _SPRINT_CUSTOM_ID,
    }
    catalogue.append(
        _field(SPRINT_FIELD, "Sprint", [f"cf[{_SPRINT_CUSTOM_ID}]", "Sprint"], sprint_schema)
    )
    return catalogue


def _field(ident: str, name: str, clauses: list[str], schema: dict[str, Any]) -> dict[str, Any]:
    """One entry of the field catalogue."""
    return {
        "id": ident,
        "key": ident,
        "name": name,
        "custom": ident.startswith("customfield_"),
        "orderable": True,
        "navigable": ident != "comment",
        "searchable": True,
        "clauseNames": clauses,
        "schema": schema,
    }


def jql_record(
    doc: Mapping[str, Any],
    projects: Mapping[str, Mapping[str, Any]],
    versions: Mapping[str, Mapping[str, Any]],
    config: JiraConfig,
) -> dict[str, Any]:
    """The flat record :mod:`enigma.sandbox.jql` matches a stored issue by."""
    sprints = [s for s in (config.sprint(ref) for ref in doc.get("sprints", [])) if s]
    fix_versions = [versions[v] for v in doc.get("fix_versions", []) if v in versions]
    status = config.status(doc["status"])
    return {
        "key": doc["key"],
        "id": doc["id"],
        "project": doc["project"],
        "project_name": projects.get(doc["project"], {}).get("name", ""),
        "status": status.name,
        "status_id": status.id,
        "type": doc["type"],
        "type_id": type_id(doc["type"]),
        "fix_versions": [v["name"] for v in fix_versions],
        "fix_version_ids": [v["id"] for v in fix_versions],
        "sprint": [s.name for s in sprints],
        "sprint_ids": [str(s.id) for s in sprints],
        "labels": list(doc.get("labels", [])),
        "assignee": doc.get("assignee") or "",
        "summary": doc["summary"],
        "description": doc.get("description") or "",
        "comments": [c["body"] for c in doc.get("comments", [])],
        "created": doc["created"],
        "updated": doc["updated"],
        "priority": "Medium",
    }

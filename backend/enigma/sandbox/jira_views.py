"""Jira's JSON shapes for the sandbox Jira peer: issues, versions, users, fields.

The peer keeps small documents in the sandbox store (see ``jira_peer.py``); this module turns
them into the JSON the real ``jira`` client parses. Every ``self`` URL is built from the base
URL the client used, so follow-up calls through ``resource.update()`` reach the same peer.

Where Jira Server and Jira Cloud answer differently, and a client might care, the views do
too: users carry ``name`` on Server and ``accountId`` on Cloud; the sprint field holds
GreenHopper's ``Sprint@...[id=..,name=..]`` strings on Server and objects on Cloud.

The seed's workflow and people are in :mod:`enigma.sandbox.jira_config`, the field catalogue
and JQL records in :mod:`enigma.sandbox.jira_fields`; their names are importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from enigma.sandbox.jira_config import (
    JiraConfig,
    JiraSprint,
    JiraStatus,
    JiraTransition,
    JiraUser,
    load_config,
    type_id,
)
from enigma.sandbox.jira_fields import SPRINT_FIELD, field_catalogue, jql_record, select_fields

__all__ = [
    "SPRINT_FIELD",
    "JiraConfig",
    "JiraSprint",
    "JiraStatus",
    "JiraTransition",
    "JiraUser",
    "JiraView",
    "field_catalogue",
    "jql_record",
    "load_config",
    "select_fields",
]


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

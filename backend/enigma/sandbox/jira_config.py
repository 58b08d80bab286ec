"""The seed's Jira configuration: workflow statuses and transitions, sprints, the user.

Configuration, not data: read from the seed's ``[jira]`` table when the peer is built and
never stored, so changing the seed's workflow changes a running sandbox after a restart. The
stored issues refer to statuses and sprints by name or id and are rendered through this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "JiraConfig",
    "JiraSprint",
    "JiraStatus",
    "JiraTransition",
    "JiraUser",
    "load_config",
    "type_id",
]

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

"""Where the sandbox Jira keeps its data, and how the seed fills it.

Projects, versions and issues (with their comments and remote links) are documents in the
sandbox store under the peer name ``jira``; the workflow, sprints and user are configuration
read from the seed (:mod:`enigma.sandbox.jira_config`). Seeding writes no effects: the seed
is where the world starts. The helpers here (errors in Jira's shape, timestamps, digests,
fresh ids) are shared by the peer's operations and routes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from enigma.sandbox.core import PeerError, Sandbox, Transaction
from enigma.sandbox.jira_config import JiraConfig, load_config

__all__ = ["PEER_NAME", "PREFIX", "digest", "jira_error", "jira_now", "new_id", "seed_jira"]

PREFIX = "/jira"
PEER_NAME = "jira"


def jira_error(status: int, message: str = "", errors: dict[str, str] | None = None) -> PeerError:
    """A :class:`PeerError` with Jira's error body."""
    return PeerError(
        status, {"errorMessages": [message] if message else [], "errors": errors or {}}
    )


def jira_now() -> str:
    """Now, in Jira's timestamp format."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def digest(text: str) -> str:
    """A short stable digest for effect keys and page tokens."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]


def new_id(tx: Transaction, kind: str, start: int) -> str:
    """A fresh numeric id for ``kind`` that no stored document uses yet."""
    while True:
        candidate = str(tx.next_id(f"jira.{kind}", start))
        if tx.get(PEER_NAME, kind, candidate) is None:
            return candidate


def seed_jira(sandbox: Sandbox) -> None:
    """Load the seed's project, versions and issues into the store."""
    jira = sandbox.seed.get("jira", {})
    config = load_config(jira, "Server")
    project = jira["project"]
    key, project_id = str(project["key"]), str(project["id"])
    with sandbox.store.transaction() as tx:
        tx.put(PEER_NAME, "project", key, {"id": project_id, "key": key, "name": project["name"]})
        names: dict[str, str] = {}
        for version in jira.get("versions", []):
            ident, name = str(version["id"]), str(version["name"])
            released = bool(version.get("released", False))
            tx.put(
                PEER_NAME,
                "version",
                ident,
                {"id": ident, "name": name, "project": key, "projectId": project_id}
                | {"released": released, "archived": False}
                | {"releaseDate": version.get("release_date")},
            )
            names[name] = ident
        for number, issue in enumerate(jira.get("issues", []), start=10001):
            doc = _seed_issue(issue, str(number), key, names, config)
            tx.put(PEER_NAME, "issue", doc["key"], doc)


def _seed_issue(
    issue: dict[str, Any], ident: str, project: str, versions: dict[str, str], config: JiraConfig
) -> dict[str, Any]:
    """One stored issue document from a seed entry."""
    now = jira_now()
    status = config.status(str(issue.get("status", "To Do")))
    sprints = [config.sprint(str(issue["sprint"]))] if issue.get("sprint") else []
    return {
        "id": ident,
        "key": str(issue["key"]).upper(),
        "project": project,
        "type": str(issue.get("type", "Task")),
        "status": status.name,
        "resolution": "Done" if status.category == "done" else None,
        "fix_versions": [versions[name] for name in issue.get("fix_versions", [])],
        "sprints": [s.id for s in sprints if s is not None],
        "labels": list(issue.get("labels", [])),
        "summary": str(issue.get("summary", "")),
        "description": issue.get("description"),
        "assignee": issue.get("assignee"),
        "created": now,
        "updated": now,
        "comments": [],
        "remotelinks": [],
    }

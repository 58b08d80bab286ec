"""Jira's field catalogue, the ``fields`` request parameter, and issues as JQL records.

``GET /rest/api/2/field`` tells the ``jira`` client which ids the system fields and the
sprint custom field have; ``select_fields`` applies a request's ``fields=`` list to a
rendered issue; ``jql_record`` flattens a stored issue into what
:mod:`enigma.sandbox.jql_model` matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from enigma.sandbox.jira_config import JiraConfig, type_id

__all__ = ["SPRINT_CUSTOM_ID", "SPRINT_FIELD", "field_catalogue", "jql_record", "select_fields"]

SPRINT_FIELD = "customfield_10020"
SPRINT_CUSTOM_ID = 10020


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
        "customId": SPRINT_CUSTOM_ID,
    }
    catalogue.append(
        _field(SPRINT_FIELD, "Sprint", [f"cf[{SPRINT_CUSTOM_ID}]", "Sprint"], sprint_schema)
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

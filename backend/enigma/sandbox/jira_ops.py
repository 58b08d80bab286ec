"""What the sandbox Jira does: reads and writes on its store, with Jira's rules.

:class:`JiraPeer` is the peer without HTTP: the routes (:mod:`enigma.sandbox.jira_routes`)
translate requests into its calls and its results into Jira's JSON. Each accepted write that
changes the store appends exactly one entry to the effect log in the same transaction, under
a stable key (see :mod:`enigma.sandbox.jira_peer`); a write that changes nothing logs nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request

from enigma.sandbox.core import Sandbox, Transaction, base_url
from enigma.sandbox.jira_config import load_config
from enigma.sandbox.jira_store import PEER_NAME, PREFIX, digest, jira_error, jira_now, new_id
from enigma.sandbox.jira_views import JiraView, jql_record
from enigma.sandbox.jql import JqlError, parse_jql
from enigma.sandbox.jql import Query as JqlQuery

__all__ = ["JiraPeer", "parse_query"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Docs = dict[str, dict[str, Any]]


class JiraPeer:
    """Reads and writes of the Jira peer; the router only translates HTTP to these."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        jira = sandbox.seed.get("jira", {})
        deployment = sandbox.setting("jira_deployment_type", jira.get("deployment_type", "Server"))
        self.config = load_config(jira, str(deployment))

    def view(self, request: Request) -> JiraView:
        """A renderer whose URLs point where this request came in."""
        return JiraView(base_url(request, PREFIX), self.config)

    # reads

    def _catalog(self, tx: Transaction) -> tuple[Docs, Docs]:
        """Projects by key and versions by id."""
        projects = {p["key"]: p for p in tx.list(PEER_NAME, "project")}
        versions = {v["id"]: v for v in tx.list(PEER_NAME, "version")}
        return projects, versions

    def issue_doc(self, tx: Transaction, ref: str) -> dict[str, Any]:
        """The stored issue with this key (any case) or id, or Jira's 404."""
        doc = tx.get(PEER_NAME, "issue", ref.upper())
        if doc is None and ref.isdigit():
            doc = next((d for d in tx.list(PEER_NAME, "issue") if d["id"] == ref), None)
        if doc is None:
            raise jira_error(404, "Issue Does Not Exist")
        return doc

    def issue(self, view: JiraView, ref: str, fields: list[str] | None) -> dict[str, Any]:
        """``GET issue/REF``."""
        with self.sandbox.store.transaction() as tx:
            doc = self.issue_doc(tx, ref)
            projects, versions = self._catalog(tx)
        return view.issue(doc, projects, versions, fields)

    def search(
        self, view: JiraView, jql: str, start: int, limit: int, fields: list[str] | None
    ) -> tuple[int, list[dict[str, Any]]]:
        """Issues matching ``jql``: the total and the page ``[start, start + limit)``."""
        query = parse_query(jql)
        with self.sandbox.store.transaction() as tx:
            projects, versions = self._catalog(tx)
            docs = {d["key"]: d for d in tx.list(PEER_NAME, "issue")}
        records = [jql_record(d, projects, versions, self.config) for d in docs.values()]
        hits = query.select(records)
        page = [docs[r["key"]] for r in hits[start : start + limit]]
        return len(hits), [view.issue(d, projects, versions, fields) for d in page]

    def project_doc(self, tx: Transaction, ref: str) -> dict[str, Any]:
        """The stored project with this key or id, or Jira's 404."""
        for doc in tx.list(PEER_NAME, "project"):
            if ref.upper() == doc["key"].upper() or ref == doc["id"]:
                return doc
        raise jira_error(404, f"No project could be found with key '{ref}'.")

    def versions_of(self, tx: Transaction, project: dict[str, Any]) -> list[dict[str, Any]]:
        """The stored versions of ``project``, oldest first."""
        return [v for v in tx.list(PEER_NAME, "version") if v["project"] == project["key"]]

    def version_doc(self, tx: Transaction, ident: str) -> dict[str, Any]:
        """The stored version with this id, or Jira's 404."""
        doc = tx.get(PEER_NAME, "version", ident)
        if doc is None:
            raise jira_error(404, f"Could not find version for id '{ident}'")
        return doc

    # writes

    def transition(self, request: Request, ref: str, body: dict[str, Any]) -> None:
        """``POST issue/REF/transitions``: move the issue along the seed's workflow."""
        wanted = str((body.get("transition") or {}).get("id", "")).strip()
        if not wanted:
            raise jira_error(400, "Missing 'transition' identifier")
        with self.sandbox.store.transaction() as tx:
            doc = self.issue_doc(tx, ref)
            allowed = self.config.transitions_from(doc["status"])
            chosen = next((t for t in allowed if t.id == wanted), None)
            if chosen is None:
                raise jira_error(400, f"Transition id '{wanted}' is not valid for this issue.")
            before, target = doc["status"], self.config.status(chosen.target)
            doc |= {"status": target.name, "updated": jira_now()}
            doc["resolution"] = "Done" if target.category == "done" else None
            for body_text in _transition_comments(body):
                doc["comments"].append(self._new_comment(tx, body_text))
            tx.put(PEER_NAME, "issue", doc["key"], doc)
            detail = {"issue": doc["key"], "from": before, "to": target.name, "id": chosen.id}
            key = f"jira:transition:{doc['key']}:{target.name}"
            tx.record_effect(request, PEER_NAME, "transition", key, detail)

    def _new_comment(self, tx: Transaction, text: str) -> dict[str, Any]:
        """A new comment document (not yet stored)."""
        now = jira_now()
        ident = str(tx.next_id("jira.comment", 10000))
        return {"id": ident, "body": text, "created": now, "updated": now}

    def add_comment(self, request: Request, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST issue/REF/comment``: the stored issue and the new comment."""
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            raise jira_error(400, errors={"comment": "Comment body can not be empty!"})
        with self.sandbox.store.transaction() as tx:
            doc = self.issue_doc(tx, ref)
            comment = self._new_comment(tx, text)
            doc["comments"].append(comment)
            doc["updated"] = comment["created"]
            tx.put(PEER_NAME, "issue", doc["key"], doc)
            key = f"jira:comment:{doc['key']}:{digest(text)}"
            detail = {"issue": doc["key"], "id": comment["id"], "length": len(text)}
            tx.record_effect(request, PEER_NAME, "comment", key, detail)
        return {"issue": doc, "comment": comment}

    def add_remotelink(
        self, request: Request, ref: str, body: dict[str, Any]
    ) -> tuple[bool, dict[str, Any], dict[str, Any]]:
        """``POST issue/REF/remotelink``: (created?, issue, link).

        As in Jira, a link posted with the ``globalId`` of an existing link replaces it.
        """
        link = _remotelink_fields(body)
        with self.sandbox.store.transaction() as tx:
            doc = self.issue_doc(tx, ref)
            stored = _link_by_global_id(doc["remotelinks"], link.get("globalId"))
            if stored is not None and {k: v for k, v in stored.items() if k != "id"} == link:
                return False, doc, stored
            created = stored is None
            if stored is None:
                stored = {"id": tx.next_id("jira.remotelink", 10000)}
                doc["remotelinks"].append(stored)
            ident = stored["id"]
            stored.clear()
            stored |= {"id": ident} | link
            tx.put(PEER_NAME, "issue", doc["key"], doc)
            kind, url = ("remotelink" if created else "remotelink.update"), link["object"]["url"]
            detail = {"issue": doc["key"], "id": ident, "url": url}
            tx.record_effect(request, PEER_NAME, kind, f"jira:{kind}:{doc['key']}:{url}", detail)
        return created, doc, stored

    def create_version(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        """``POST version``: a new version in a project; names are unique per project."""
        name = str(body.get("name") or "").strip()
        if not name:
            raise jira_error(400, errors={"name": "You must specify a valid version name"})
        ref = str(body.get("project") or body.get("projectId") or "")
        if not ref:
            raise jira_error(400, errors={"project": "Project must be specified."})
        _check_dates(body)
        with self.sandbox.store.transaction() as tx:
            project = self.project_doc(tx, ref)
            _check_unique_name(self.versions_of(tx, project), name, None)
            doc = {"id": new_id(tx, "version", 10300), "name": name, "project": project["key"]}
            doc |= {"projectId": project["id"]} | _version_changes(body)
            tx.put(PEER_NAME, "version", doc["id"], doc)
            key = f"jira:version.create:{project['key']}:{name}"
            tx.record_effect(
                request, PEER_NAME, "version.create", key, {"id": doc["id"], "name": name}
            )
        return doc

    def update_version(self, request: Request, ident: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT version/ID``: rename, describe, date, release or archive a version."""
        _check_dates(body)
        changes = _version_changes(body)
        with self.sandbox.store.transaction() as tx:
            doc = self.version_doc(tx, ident)
            if "name" in changes:
                project = self.project_doc(tx, doc["project"])
                _check_unique_name(self.versions_of(tx, project), changes["name"], ident)
            changed = {k: v for k, v in changes.items() if doc.get(k) != v}
            if not changed:
                return doc
            kind = _version_effect_kind(doc, changed)
            doc |= changed
            key = f"jira:{kind}:{doc['name']}"
            if kind == "version.update":
                key += ":" + digest(json.dumps(changed, sort_keys=True))
            tx.put(PEER_NAME, "version", ident, doc)
            tx.record_effect(request, PEER_NAME, kind, key, {"id": ident, "changes": changed})
        return doc


def parse_query(jql: str) -> JqlQuery:
    """Parse JQL or answer Jira's 400."""
    try:
        return parse_jql(jql)
    except JqlError as error:
        raise jira_error(400, str(error)) from None


def _transition_comments(body: dict[str, Any]) -> list[str]:
    """Comment bodies in a transition's ``update.comment[].add.body``."""
    operations = (body.get("update") or {}).get("comment") or []
    texts = [op.get("add", {}).get("body") for op in operations if isinstance(op, dict)]
    return [text for text in texts if isinstance(text, str) and text.strip()]


def _remotelink_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The stored part of a remote link request, validated as Jira does."""
    target = body.get("object")
    if not isinstance(target, dict) or not target.get("url"):
        raise jira_error(400, errors={"url": "'url' is required."})
    if not target.get("title"):
        raise jira_error(400, errors={"title": "'title' is required."})
    link = {"object": target}
    for key in ("globalId", "application", "relationship"):
        if body.get(key) is not None:
            link[key] = body[key]
    return link


def _link_by_global_id(links: list[dict[str, Any]], global_id: Any) -> dict[str, Any] | None:
    """The stored link carrying ``global_id``, if it is set and one does."""
    if not global_id:
        return None
    return next((link for link in links if link.get("globalId") == global_id), None)


_VERSION_FIELDS = ("name", "description", "released", "archived", "releaseDate", "startDate")


def _version_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The version fields a create or update request sets."""
    changes = {k: body[k] for k in _VERSION_FIELDS if k in body}
    for flag in ("released", "archived"):
        if flag in changes:
            changes[flag] = bool(changes[flag])
    if "name" in changes:
        changes["name"] = str(changes["name"]).strip()
    return changes


def _check_dates(body: dict[str, Any]) -> None:
    """Reject dates not in ``yyyy-MM-dd``."""
    for key in ("releaseDate", "startDate"):
        value = body.get(key)
        if value is not None and not (isinstance(value, str) and _DATE.fullmatch(value)):
            message = 'Invalid date format. Please enter the date in the format "yyyy-MM-dd".'
            raise jira_error(400, errors={key: message})


def _check_unique_name(versions: list[dict[str, Any]], name: str, own_id: str | None) -> None:
    """Jira's rule: one version of a name per project."""
    if not name:
        raise jira_error(400, errors={"name": "You must specify a valid version name"})
    for version in versions:
        if version["name"].casefold() == name.casefold() and version["id"] != own_id:
            message = "A version with this name already exists in this project."
            raise jira_error(400, errors={"name": message})


def _version_effect_kind(doc: dict[str, Any], changed: dict[str, Any]) -> str:
    """Which effect a version update is: a release, an un-release, or another change."""
    if changed.get("released") is True and not doc.get("released"):
        return "version.release"
    if changed.get("released") is False and doc.get("released"):
        return "version.unrelease"
    return "version.update"

"""The sandbox Jira peer: the REST v2 subset the real ``jira`` client (3.10.5) sends.

Mounted under ``/jira``, so ``JIRA(server="http://127.0.0.1:PORT/jira", token_auth=TOKEN)``
works unchanged. What the client sends, and what this peer answers:

- construction: ``GET /rest/api/2/serverInfo`` (``deploymentType`` is the seed's
  ``jira.deployment_type`` or the ``jira_deployment_type`` setting), ``validate=True`` adds
  ``GET /rest/auth/1/session``; ``myself()`` is ``GET /rest/api/2/myself``;
- ``search_issues``: ``GET /rest/api/2/field`` once, then on Server
  ``GET /rest/api/2/search?jql=..&startAt=..&maxResults=..&fields=*all`` (paged by
  ``startAt``/``total``) and on Cloud ``GET /rest/api/2/search/jql`` (paged by an opaque
  ``nextPageToken``; an unbounded query is refused as Cloud does). POST variants too. The JQL
  goes through :mod:`enigma.sandbox.jql`; a query it cannot read is a 400 in Jira's shape, never
  "every issue";
- ``transition_issue``: ``GET`` then ``POST /rest/api/2/issue/KEY/transitions``; only the
  seed workflow's transitions out of the current status are offered or accepted;
- ``add_comment``, ``add_simple_link``/``add_remote_link`` (which first reads
  ``/rest/applinks/latest/listApplicationlinks``), ``create_version`` (``POST version``),
  ``Version.update`` (``PUT version/ID`` through the version's ``self``, then ``GET``).

Side effects: each accepted write that changes the store appends exactly one entry to the
sandbox's effect log, in the same transaction, under a stable key:
``jira:transition:ENG-101:Done``, ``jira:comment:ENG-101:<sha1(body)[:12]>``,
``jira:remotelink:ENG-101:<url>``, ``jira:version.create:ENG:2.4.0``,
``jira:version.release:2.4.0``. A write that changes nothing (a version PUT with the values it
already has, a remote link re-posted unchanged under the same ``globalId``) logs nothing:
there was no side effect to count. The workflow, sprints and user come from the seed and are
configuration; projects, versions and issues (with their comments and links) live in the store
and survive restarts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from enigma.sandbox.core import PeerError, PeerSpec, Sandbox, Transaction, base_url
from enigma.sandbox.jira_views import (
    JiraConfig,
    JiraView,
    field_catalogue,
    jql_record,
    load_config,
)
from enigma.sandbox.jql import JqlError, parse_jql
from enigma.sandbox.jql import Query as JqlQuery

__all__ = ["PEER", "JiraPeer", "build_jira_router", "seed_jira"]

PREFIX = "/jira"
_PEER = "jira"
_SERVER_MAX_RESULTS = 1000
_CLOUD_MAX_RESULTS = 100
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Docs = dict[str, dict[str, Any]]


def jira_error(status: int, message: str = "", errors: dict[str, str] | None = None) -> PeerError:
    """A :class:`PeerError` with Jira's error body."""
    return PeerError(
        status, {"errorMessages": [message] if message else [], "errors": errors or {}}
    )


def _now() -> str:
    """Now, in Jira's timestamp format."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _digest(text: str) -> str:
    """A short stable digest for effect keys and page tokens."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a Jira-shaped 400."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise jira_error(400, "Unexpected character in the request body: not JSON.") from None
    if not isinstance(body, dict):
        raise jira_error(400, "The request body must be a JSON object.")
    return body


JsonBody = Annotated[dict[str, Any], Depends(_json_body)]
FieldsParam = Annotated[list[str] | None, Query()]


def _new_id(tx: Transaction, kind: str, start: int) -> str:
    """A fresh numeric id for ``kind`` that no stored document uses yet."""
    while True:
        candidate = str(tx.next_id(f"jira.{kind}", start))
        if tx.get(_PEER, kind, candidate) is None:
            return candidate


# --- seeding ------------------------------------------------------------------------------


def seed_jira(sandbox: Sandbox) -> None:
    """Load the seed's project, versions and issues into the store."""
    jira = sandbox.seed.get("jira", {})
    config = load_config(jira, "Server")
    project = jira["project"]
    key, project_id = str(project["key"]), str(project["id"])
    with sandbox.store.transaction() as tx:
        tx.put(_PEER, "project", key, {"id": project_id, "key": key, "name": project["name"]})
        names: dict[str, str] = {}
        for version in jira.get("versions", []):
            ident, name = str(version["id"]), str(version["name"])
            released = bool(version.get("released", False))
            tx.put(
                _PEER,
                "version",
                ident,
                {"id": ident, "name": name, "project": key, "projectId": project_id}
                | {"released": released, "archived": False}
                | {"releaseDate": version.get("release_date")},
            )
            names[name] = ident
        for number, issue in enumerate(jira.get("issues", []), start=10001):
            doc = _seed_issue(issue, str(number), key, names, config)
            tx.put(_PEER, "issue", doc["key"], doc)


def _seed_issue(
    issue: dict[str, Any], ident: str, project: str, versions: dict[str, str], config: JiraConfig
) -> dict[str, Any]:
    """One stored issue document from a seed entry."""
    now = _now()
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


# --- the peer -----------------------------------------------------------------------------


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
        projects = {p["key"]: p for p in tx.list(_PEER, "project")}
        versions = {v["id"]: v for v in tx.list(_PEER, "version")}
        return projects, versions

    def issue_doc(self, tx: Transaction, ref: str) -> dict[str, Any]:
        """The stored issue with this key (any case) or id, or Jira's 404."""
        doc = tx.get(_PEER, "issue", ref.upper())
        if doc is None and ref.isdigit():
            doc = next((d for d in tx.list(_PEER, "issue") if d["id"] == ref), None)
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
        query = _parse(jql)
        with self.sandbox.store.transaction() as tx:
            projects, versions = self._catalog(tx)
            docs = {d["key"]: d for d in tx.list(_PEER, "issue")}
        records = [jql_record(d, projects, versions, self.config) for d in docs.values()]
        hits = query.select(records)
        page = [docs[r["key"]] for r in hits[start : start + limit]]
        return len(hits), [view.issue(d, projects, versions, fields) for d in page]

    def project_doc(self, tx: Transaction, ref: str) -> dict[str, Any]:
        """The stored project with this key or id, or Jira's 404."""
        for doc in tx.list(_PEER, "project"):
            if ref.upper() == doc["key"].upper() or ref == doc["id"]:
                return doc
        raise jira_error(404, f"No project could be found with key '{ref}'.")

    def versions_of(self, tx: Transaction, project: dict[str, Any]) -> list[dict[str, Any]]:
        """The stored versions of ``project``, oldest first."""
        return [v for v in tx.list(_PEER, "version") if v["project"] == project["key"]]

    def version_doc(self, tx: Transaction, ident: str) -> dict[str, Any]:
        """The stored version with this id, or Jira's 404."""
        doc = tx.get(_PEER, "version", ident)
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
            doc |= {"status": target.name, "updated": _now()}
            doc["resolution"] = "Done" if target.category == "done" else None
            for body_text in _transition_comments(body):
                doc["comments"].append(self._new_comment(tx, body_text))
            tx.put(_PEER, "issue", doc["key"], doc)
            detail = {"issue": doc["key"], "from": before, "to": target.name, "id": chosen.id}
            key = f"jira:transition:{doc['key']}:{target.name}"
            tx.record_effect(request, _PEER, "transition", key, detail)

    def _new_comment(self, tx: Transaction, text: str) -> dict[str, Any]:
        """A new comment document (not yet stored)."""
        now = _now()
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
            tx.put(_PEER, "issue", doc["key"], doc)
            key = f"jira:comment:{doc['key']}:{_digest(text)}"
            detail = {"issue": doc["key"], "id": comment["id"], "length": len(text)}
            tx.record_effect(request, _PEER, "comment", key, detail)
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
            tx.put(_PEER, "issue", doc["key"], doc)
            kind, url = ("remotelink" if created else "remotelink.update"), link["object"]["url"]
            detail = {"issue": doc["key"], "id": ident, "url": url}
            tx.record_effect(request, _PEER, kind, f"jira:{kind}:{doc['key']}:{url}", detail)
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
            doc = {"id": _new_id(tx, "version", 10300), "name": name, "project": project["key"]}
            doc |= {"projectId": project["id"]} | _version_changes(body)
            tx.put(_PEER, "version", doc["id"], doc)
            key = f"jira:version.create:{project['key']}:{name}"
            tx.record_effect(request, _PEER, "version.create", key, {"id": doc["id"], "name": name})
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
                key += ":" + _digest(json.dumps(changed, sort_keys=True))
            tx.put(_PEER, "version", ident, doc)
            tx.record_effect(request, _PEER, kind, key, {"id": ident, "changes": changed})
        return doc


def _parse(jql: str) -> JqlQuery:
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


# --- paging tokens (Cloud) ----------------------------------------------------------------


def _page_token(jql: str, offset: int) -> str:
    """An opaque ``nextPageToken`` tied to the query it pages."""
    raw = json.dumps({"at": offset, "q": _digest(jql)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _token_offset(jql: str, token: str | None) -> int:
    """The offset a ``nextPageToken`` stands for, or Jira's 400."""
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["q"] == _digest(jql) and int(data["at"]) >= 0:
            return int(data["at"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise jira_error(400, "The provided next page token is invalid or expired.")


def _bounded(jql: str) -> None:
    """Cloud's new search refuses queries without a restriction."""
    if _parse(jql).where is None:
        message = "Unbounded JQL queries are not allowed here. Please add a search restriction."
        raise jira_error(400, message)


# --- routes -------------------------------------------------------------------------------


def build_jira_router(sandbox: Sandbox) -> APIRouter:
    """The Jira peer's routes, without the ``/jira`` prefix (``server.py`` mounts them)."""
    peer = JiraPeer(sandbox)
    router = APIRouter(tags=["jira"])
    for add_routes in (_meta_routes, _search_routes, _issue_routes, _link_routes, _version_routes):
        add_routes(router, peer)
    return router


def _meta_routes(router: APIRouter, peer: JiraPeer) -> None:
    """Server info, session, user, fields, application links."""

    @router.get("/rest/api/2/serverInfo")
    def server_info(request: Request) -> dict[str, Any]:
        view = peer.view(request)
        version = [1001, 0, 0] if view.cloud else [9, 12, 0]
        return {
            "baseUrl": view.base,
            "version": ".".join(map(str, version)),
            "versionNumbers": version,
            "deploymentType": "Cloud" if view.cloud else "Server",
            "buildNumber": 100000 if view.cloud else 9120000,
            "serverTime": _now(),
            "scmInfo": "enigma-sandbox",
            "serverTitle": "Enigma sandbox Jira",
        }

    @router.get("/rest/auth/1/session")
    def session(request: Request) -> dict[str, Any]:
        user = peer.view(request).user()
        name = user.get("name") or user.get("accountId")
        return {"self": user["self"], "name": name, "loginInfo": {"loginCount": 1}}

    @router.get("/rest/api/2/myself")
    def myself(request: Request) -> dict[str, Any]:
        return peer.view(request).user()

    @router.get("/rest/api/2/field")
    def fields() -> list[dict[str, Any]]:
        return field_catalogue()

    @router.get("/rest/applinks/latest/listApplicationlinks")
    def application_links() -> dict[str, Any]:
        return {"list": []}


def _search_routes(router: APIRouter, peer: JiraPeer) -> None:
    """Server's ``search`` (startAt paging) and Cloud's ``search/jql`` (token paging)."""

    def server_page(
        request: Request, jql: str, start: int, limit: int, fields: list[str] | None
    ) -> Any:
        limit = max(0, min(limit, _SERVER_MAX_RESULTS))
        total, issues = peer.search(peer.view(request), jql, max(start, 0), limit, fields)
        page = {"startAt": max(start, 0), "maxResults": limit, "total": total, "issues": issues}
        return {"expand": "schema,names"} | page

    def cloud_page(
        request: Request, jql: str, token: str | None, limit: int, fields: list[str] | None
    ) -> Any:
        _bounded(jql)
        start, limit = _token_offset(jql, token), max(1, min(limit, _CLOUD_MAX_RESULTS))
        total, issues = peer.search(peer.view(request), jql, start, limit, fields or ["id"])
        page: dict[str, Any] = {"issues": issues, "isLast": start + limit >= total}
        if not page["isLast"]:
            page["nextPageToken"] = _page_token(jql, start + limit)
        return page

    @router.get("/rest/api/2/search")
    def search(
        request: Request,
        jql: str = "",
        startAt: int = 0,
        maxResults: int = 50,
        fields: FieldsParam = None,
    ) -> Any:
        return server_page(request, jql, startAt, maxResults, fields)

    @router.post("/rest/api/2/search")
    def search_post(request: Request, body: JsonBody) -> Any:
        start, limit = _number(body, "startAt", 0), _number(body, "maxResults", 50)
        return server_page(request, str(body.get("jql") or ""), start, limit, _listed(body))

    @router.get("/rest/api/2/search/jql")
    def search_jql(
        request: Request,
        jql: str = "",
        nextPageToken: str | None = None,
        maxResults: int = 50,
        fields: FieldsParam = None,
    ) -> Any:
        return cloud_page(request, jql, nextPageToken, maxResults, fields)

    @router.post("/rest/api/2/search/jql")
    def search_jql_post(request: Request, body: JsonBody) -> Any:
        jql, token = str(body.get("jql") or ""), body.get("nextPageToken")
        limit = _number(body, "maxResults", 50)
        return cloud_page(request, jql, token, limit, _listed(body))


def _number(body: dict[str, Any], key: str, default: int) -> int:
    """An integer member of a POST body, or Jira's 400."""
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise jira_error(400, f"'{key}' must be a number.")
    try:
        return int(value)
    except ValueError:
        raise jira_error(400, f"'{key}' must be a number.") from None


def _listed(body: dict[str, Any]) -> list[str] | None:
    """A POST body's ``fields`` as a list (a string or a list in the request)."""
    fields = body.get("fields")
    if isinstance(fields, str):
        return [fields]
    return [str(f) for f in fields] if isinstance(fields, list) else None


def _issue_routes(router: APIRouter, peer: JiraPeer) -> None:
    """Issues, their transitions and comments."""
    store = peer.sandbox.store

    @router.get("/rest/api/2/issue/{ref}")
    def get_issue(request: Request, ref: str, fields: FieldsParam = None) -> Any:
        return peer.issue(peer.view(request), ref, fields)

    @router.get("/rest/api/2/issue/{ref}/transitions")
    def transitions(request: Request, ref: str, transitionId: str | None = None) -> Any:
        view = peer.view(request)
        with store.transaction() as tx:
            doc = peer.issue_doc(tx, ref)
        offered = [
            {"id": t.id, "name": t.name, "to": view.status(t.target), "hasScreen": False}
            | {"isGlobal": False, "isInitial": False, "isConditional": False, "fields": {}}
            for t in peer.config.transitions_from(doc["status"])
            if transitionId is None or t.id == transitionId
        ]
        return {"expand": "transitions", "transitions": offered}

    @router.post("/rest/api/2/issue/{ref}/transitions", status_code=204)
    def transition(request: Request, ref: str, body: JsonBody) -> Response:
        peer.transition(request, ref, body)
        return Response(status_code=204)

    @router.get("/rest/api/2/issue/{ref}/comment")
    def comments(
        request: Request, ref: str, startAt: int = 0, maxResults: int = 5000, orderBy: str = ""
    ) -> Any:
        with store.transaction() as tx:
            doc = peer.issue_doc(tx, ref)
        if orderBy.startswith("-"):
            doc["comments"].reverse()
        return peer.view(request).comments(doc, max(startAt, 0), max(maxResults, 0))

    @router.get("/rest/api/2/issue/{ref}/comment/{ident}")
    def comment(request: Request, ref: str, ident: str) -> Any:
        with store.transaction() as tx:
            doc = peer.issue_doc(tx, ref)
        found = next((c for c in doc["comments"] if c["id"] == ident), None)
        if found is None:
            raise jira_error(404, f"Can not find a comment for the id: {ident}.")
        return peer.view(request).comment(doc, found)

    @router.post("/rest/api/2/issue/{ref}/comment", status_code=201)
    def add_comment(request: Request, ref: str, body: JsonBody) -> Any:
        added = peer.add_comment(request, ref, body)
        return peer.view(request).comment(added["issue"], added["comment"])


def _link_routes(router: APIRouter, peer: JiraPeer) -> None:
    """Remote links of issues."""
    store = peer.sandbox.store

    @router.get("/rest/api/2/issue/{ref}/remotelink")
    def remotelinks(request: Request, ref: str) -> Any:
        with store.transaction() as tx:
            doc = peer.issue_doc(tx, ref)
        return [peer.view(request).remotelink(doc, link) for link in doc["remotelinks"]]

    @router.get("/rest/api/2/issue/{ref}/remotelink/{ident}")
    def remotelink(request: Request, ref: str, ident: str) -> Any:
        with store.transaction() as tx:
            doc = peer.issue_doc(tx, ref)
        found = next((x for x in doc["remotelinks"] if str(x["id"]) == ident), None)
        if found is None:
            raise jira_error(404, "No remote link with the given id was found.")
        return peer.view(request).remotelink(doc, found)

    @router.post("/rest/api/2/issue/{ref}/remotelink")
    def add_remotelink(request: Request, ref: str, body: JsonBody) -> JSONResponse:
        created, doc, link = peer.add_remotelink(request, ref, body)
        shape = peer.view(request).remotelink(doc, link)
        return JSONResponse({"id": shape["id"], "self": shape["self"]}, 201 if created else 200)


def _version_routes(router: APIRouter, peer: JiraPeer) -> None:
    """Projects and their versions."""
    store = peer.sandbox.store

    @router.get("/rest/api/2/project")
    def projects(request: Request) -> Any:
        view = peer.view(request)
        return [view.project(doc) for doc in store.list(_PEER, "project")]

    @router.get("/rest/api/2/project/{ref}")
    def project(request: Request, ref: str) -> Any:
        with store.transaction() as tx:
            doc = peer.project_doc(tx, ref)
            versions = peer.versions_of(tx, doc)
        return peer.view(request).project(doc, versions)

    @router.get("/rest/api/2/project/{ref}/versions")
    def project_versions(request: Request, ref: str) -> Any:
        with store.transaction() as tx:
            versions = peer.versions_of(tx, peer.project_doc(tx, ref))
        view = peer.view(request)
        return [view.version(v) for v in versions]

    @router.post("/rest/api/2/version", status_code=201)
    def create_version(request: Request, body: JsonBody) -> Any:
        return peer.view(request).version(peer.create_version(request, body))

    @router.get("/rest/api/2/version/{ident}")
    def version(request: Request, ident: str) -> Any:
        with store.transaction() as tx:
            doc = peer.version_doc(tx, ident)
        return peer.view(request).version(doc)

    @router.put("/rest/api/2/version/{ident}")
    def update_version(request: Request, ident: str, body: JsonBody) -> Any:
        return peer.view(request).version(peer.update_version(request, ident, body))


def _error_body(status: int, message: str) -> dict[str, Any]:
    """Jira's error body, for errors raised outside this module (auth, faults)."""
    return {"errorMessages": [message], "errors": {}}


PEER = PeerSpec(
    name=_PEER,
    prefix=PREFIX,
    build_router=build_jira_router,
    seed=seed_jira,
    error_body=_error_body,
)

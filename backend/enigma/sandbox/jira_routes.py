"""The sandbox Jira's HTTP routes: what the real ``jira`` client sends, mapped to the peer.

Routes only translate: query parameters and JSON bodies into :class:`JiraPeer` calls, and
stored documents into Jira's JSON through :class:`JiraView`. Search is served twice, as Jira
Server's ``search`` (paged by ``startAt``/``total``) and Jira Cloud's ``search/jql`` (paged
by an opaque ``nextPageToken`` tied to its query; an unbounded query is refused as Cloud
does).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from enigma.sandbox.core import Sandbox
from enigma.sandbox.jira_ops import JiraPeer, parse_query
from enigma.sandbox.jira_store import PEER_NAME, digest, jira_error, jira_now
from enigma.sandbox.jira_views import JiraView, field_catalogue

__all__ = ["build_jira_router"]

_SERVER_MAX_RESULTS = 1000
_CLOUD_MAX_RESULTS = 100


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a Jira-shaped 400."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise jira_error(400, "Unexpected character in the request body: not JSON.") from None
    if not isinstance(body, dict):
        raise jira_error(400, "The request body must be a JSON object.")
    return body


JsonBody = Annotated[dict[str, Any], Depends(json_body)]
FieldsParam = Annotated[list[str] | None, Query()]


# --- paging tokens (Cloud) ----------------------------------------------------------------


def _page_token(jql: str, offset: int) -> str:
    """An opaque ``nextPageToken`` tied to the query it pages."""
    raw = json.dumps({"at": offset, "q": digest(jql)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _token_offset(jql: str, token: str | None) -> int:
    """The offset a ``nextPageToken`` stands for, or Jira's 400."""
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["q"] == digest(jql) and int(data["at"]) >= 0:
            return int(data["at"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise jira_error(400, "The provided next page token is invalid or expired.")


def _bounded(jql: str) -> None:
    """Cloud's new search refuses queries without a restriction."""
    if parse_query(jql).where is None:
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
            "serverTime": jira_now(),
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


def _offered(
    peer: JiraPeer, view: JiraView, doc: dict[str, Any], transition_id: str | None
) -> list[dict[str, Any]]:
    """The transitions out of the issue's status, as `GET .../transitions` lists them."""
    return [
        {"id": t.id, "name": t.name, "to": view.status(t.target), "hasScreen": False}
        | {"isGlobal": False, "isInitial": False, "isConditional": False, "fields": {}}
        for t in peer.config.transitions_from(doc["status"])
        if transition_id is None or t.id == transition_id
    ]


def _issue_routes(router: APIRouter, peer: JiraPeer) -> None:
    """Issues, their transitions and comments."""
    store = peer.sandbox.store

    @router.get("/rest/api/2/issue/{ref}")
    def get_issue(request: Request, ref: str, fields: FieldsParam = None, expand: str = "") -> Any:
        view = peer.view(request)
        with store.transaction() as tx:  # one read: the transitions are the status's own
            issue = peer.issue(view, ref, fields)
            if "transitions" in expand.split(","):
                issue["transitions"] = _offered(peer, view, peer.issue_doc(tx, ref), None)
        return issue

    @router.get("/rest/api/2/issue/{ref}/transitions")
    def transitions(request: Request, ref: str, transitionId: str | None = None) -> Any:
        view = peer.view(request)
        with store.transaction() as tx:
            doc = peer.issue_doc(tx, ref)
        return {"expand": "transitions", "transitions": _offered(peer, view, doc, transitionId)}

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
        return [view.project(doc) for doc in store.list(PEER_NAME, "project")]

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

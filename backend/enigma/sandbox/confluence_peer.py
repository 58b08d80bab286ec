"""The sandbox Confluence: the Server/Data Center REST API subset Enigma uses for release notes.

Mounted under `/confluence`, the context path of many on-premise installations. What it serves
is what `atlassian.Confluence(url=".../confluence", token=...)` (atlassian-python-api 5.0.5,
Server API) sends for finding, creating and updating pages:

    GET  /rest/api/content?spaceKey&title&type&expand&start&limit   find pages (paged)
    POST /rest/api/content                                          create a page
    GET  /rest/api/content/{id}?expand                               one page
    PUT  /rest/api/content/{id}?status=current                       update (version + 1)
    GET  /rest/api/content/{id}/history                              lastUpdated.number
    GET  /rest/api/content/{id}/child/{type}                         child pages (paged)
    GET  /rest/api/space, /rest/api/space/{key}                      spaces

Answers keep Confluence's shape: ids are strings, a list shows only id, type, status and title
unless `expand` asks for more, while one page expands space, history and version by default;
`_links.self` and paging links are absolute URLs built from the address the client used, so
they carry the `/confluence` prefix; `webui`, `tinyui` and `_expandable` paths are relative to
`_links.base`, as Confluence writes them. Paging links are absolute because the client resolves
a relative `/rest/...` link against the host alone and would drop the context path.

Titles are unique per space, compared case-insensitively as Confluence does. Only the storage
representation is kept (`body.view` answers the same markup unrendered), and only the current
version of a page is stored. Every write records one effect in the same transaction as the
page: `page.created` (key `confluence:page.create:<space>:<title>`) and `page.updated` (key
`confluence:page.update:<id>:v<version>`), so a replayed request shows up as a second entry.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote_plus, urlencode

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from enigma.sandbox.core import PeerError, PeerSpec, Sandbox, Transaction, base_url

__all__ = ["PEER", "build_router", "error_body", "seed"]

_PEER = "confluence"
_PREFIX = "/confluence"
_COUNTER = "confluence:content"
_FIRST_CONTENT_ID = 65537  # Confluence's first content id on a fresh instance
_FIRST_SPACE_ID = 98305
_DEFAULT_LIMIT = 25
_MAX_LIMIT = 200
_DEFAULT_USER = {"name": "release-bot", "display_name": "Release Bot"}

Doc = dict[str, Any]
Expand = frozenset[str]

# What one piece of content expands when the caller names nothing, and what a write answers.
_SINGLE_EXPAND: Expand = frozenset({"space", "history", "version"})
_WRITE_EXPAND: Expand = frozenset(
    {"space", "history", "version", "ancestors", "container", "body.storage"}
)
_EXPANDABLE = (
    *("container", "metadata", "operations", "children", "restrictions", "history"),
    *("ancestors", "body", "version", "descendants", "space"),
)
_REPRESENTATIONS = ("storage", "view", "editor", "export_view", "styled_view")


def error_body(status: int, message: str) -> Doc:
    """An error in Confluence Server's shape: statusCode, data, message and reason."""
    return {
        "statusCode": status,
        "data": {
            "authorized": status not in (401, 403),
            "valid": True,
            "allowedInReadOnlyMode": True,
            "errors": [],
            "successful": False,
        },
        "message": message,
        "reason": HTTPStatus(status).phrase,
    }


def _fail(status: int, message: str) -> PeerError:
    return PeerError(status, error_body(status, message))


def _now() -> str:
    """A timestamp the way Confluence writes one (milliseconds, UTC)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- storage -------------------------------------------------------------------------------


def _first_content_id(sandbox: Sandbox) -> int:
    """New pages are numbered above every page the seed brings."""
    pages = sandbox.seed.get(_PEER, {}).get("pages", [])
    return max([int(p["id"]) + 1 for p in pages], default=_FIRST_CONTENT_ID)


def _page_doc(page_id: str, space: str, title: str, body: str, parent: str | None) -> Doc:
    """A stored page at version 1."""
    when = _now()
    return {
        "id": page_id,
        "space": space,
        "title": title,
        "body": body,
        "parent": parent,
        "status": "current",
        "created": when,
        "version": {"number": 1, "when": when, "message": "", "minorEdit": False},
    }


def seed(sandbox: Sandbox) -> None:
    """Load the seed's spaces and pages (no effects: the seed is where the world starts)."""
    conf = sandbox.seed.get(_PEER, {})
    with sandbox.store.transaction() as tx:
        for offset, space in enumerate(conf.get("spaces", [])):
            doc = {"key": space["key"], "name": space["name"], "id": _FIRST_SPACE_ID + offset}
            tx.put(_PEER, "space", space["key"], doc)
        for page in conf.get("pages", []):
            parent = str(page["parent"]) if page.get("parent") else None
            doc = _page_doc(str(page["id"]), page["space"], page["title"], page["body"], parent)
            tx.put(_PEER, "page", doc["id"], doc)


def _require_space(tx: Transaction, key: str) -> Doc:
    space = tx.get(_PEER, "space", key)
    if space is None:
        raise _fail(404, f"No space found with key : {key}")
    return space


def _require_page(tx: Transaction, page_id: str) -> Doc:
    page = tx.get(_PEER, "page", page_id)
    if page is None:
        raise _fail(404, f"No content found with id : ContentId{{id={page_id}}}")
    return page


def _ensure_title_free(tx: Transaction, space: str, title: str, own_id: str | None) -> None:
    """Refuse a title another page of the space already has (case-insensitive)."""
    wanted = title.casefold()
    for page in tx.list(_PEER, "page"):
        if page["space"] == space and page["title"].casefold() == wanted and page["id"] != own_id:
            raise _fail(
                400,
                "A page with this title already exists: A page already exists with the title "
                f"{title} in the space with key {space}",
            )


def _ancestors(tx: Transaction, page: Doc) -> list[Doc]:
    """The page's ancestors, root first."""
    chain: list[Doc] = []
    parent_id = page.get("parent")
    while parent_id is not None and len(chain) < 100:
        parent = tx.get(_PEER, "page", parent_id)
        if parent is None:
            break
        chain.insert(0, parent)
        parent_id = parent.get("parent")
    return chain


def _children(tx: Transaction, page_id: str) -> list[Doc]:
    return [p for p in tx.list(_PEER, "page") if p.get("parent") == page_id]


# --- requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PageInput:
    """What a create or update request asks for, checked for shape."""

    title: str
    body: str | None
    parent: str | None
    space: str | None
    version: int | None
    message: str
    minor_edit: bool


async def _json_object(request: Request) -> Doc:
    """The request's JSON object; a 400 in Confluence's shape otherwise."""
    try:
        payload = json.loads(await request.body())
    except ValueError as exc:
        raise _fail(400, f"Could not parse the request body as JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise _fail(400, "The request body must be a JSON object")
    return payload


def _object(payload: Doc, name: str) -> Doc:
    """A nested object of the payload ({} when absent); a 400 when it is something else."""
    value = payload.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(400, f"{name} must be a JSON object")
    return value


def _parse_input(payload: Doc) -> _PageInput:
    """Validate the content fields Enigma's client sends (type, title, body, ancestors)."""
    if payload.get("type", "page") != "page":
        raise _fail(400, f"The sandbox only holds pages, not {payload.get('type')!r} content")
    title = payload.get("title")
    if not isinstance(title, str) or not title.strip():
        raise _fail(400, "Content title cannot be empty")
    version = _object(payload, "version")
    number = version.get("number")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
        raise _fail(400, "version.number must be an integer")
    space = _object(payload, "space").get("key")
    return _PageInput(
        title=title,
        body=_parse_body(payload.get("body")),
        parent=_parse_parent(payload.get("ancestors")),
        space=None if space is None else str(space),
        version=number,
        message=str(version.get("message") or ""),
        minor_edit=bool(version.get("minorEdit", False)),
    )


def _parse_body(body: Any) -> str | None:
    if body is None:
        return None
    storage = body.get("storage") if isinstance(body, dict) else None
    if not isinstance(storage, dict) or not isinstance(storage.get("value"), str):
        kinds = ", ".join(body) if isinstance(body, dict) else type(body).__name__
        raise _fail(400, f"Unsupported body ({kinds}): the sandbox stores storage format only")
    return str(storage["value"])


def _parse_parent(ancestors: Any) -> str | None:
    if not ancestors:
        return None
    if not isinstance(ancestors, list) or not isinstance(ancestors[-1], dict):
        raise _fail(400, "ancestors must be a list of content references")
    return str(ancestors[-1].get("id"))


def _expansions(raw: str | None, default: Expand = frozenset()) -> Expand:
    """The `expand` parameter as a set of dotted names (unknown names are ignored later)."""
    if raw is None:
        return default
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _limit(limit: int) -> int:
    return max(1, min(limit, _MAX_LIMIT))


# --- answers -------------------------------------------------------------------------------


def _tiny(page_id: str) -> str:
    """Confluence's short link code: the id's little-endian bytes in base64."""
    raw = base64.b64encode(int(page_id).to_bytes(8, "little")).decode()
    return raw.rstrip("=").rstrip("A").replace("/", "-").replace("+", "_")


class _Renderer:
    """Turns stored documents into Confluence JSON, links built from the client's address."""

    def __init__(self, tx: Transaction, request: Request, sandbox: Sandbox):
        self.tx = tx
        self.base = base_url(request, _PREFIX)
        user = sandbox.seed.get(_PEER, {}).get("user", _DEFAULT_USER)
        self.user_name = str(user["name"])
        self.display_name = str(user.get("display_name", user["name"]))

    def api(self, path: str) -> str:
        """Absolute URL of a REST resource under this peer."""
        return f"{self.base}/rest/api{path}"

    def site_links(self) -> Doc:
        """The `base` and `context` links every top-level answer carries."""
        return {"base": self.base, "context": _PREFIX}

    def user(self) -> Doc:
        """The one user the sandbox acts as."""
        key = uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{self.user_name}").hex
        return {
            "type": "known",
            "username": self.user_name,
            "userKey": key,
            "displayName": self.display_name,
            "_links": {"self": self.api(f"/user?key={key}")},
            "_expandable": {"status": ""},
        }

    def space(self, space: Doc, full: bool = False) -> Doc:
        """A space; `full` adds the top-level links of a single answer."""
        links: Doc = {
            "webui": f"/display/{space['key']}",
            "self": self.api(f"/space/{space['key']}"),
        }
        if full:
            links |= {"collection": "/rest/api/space"} | self.site_links()
        return {
            "id": space["id"],
            "key": space["key"],
            "name": space["name"],
            "type": "global",
            "status": "current",
            "_links": links,
            "_expandable": {"metadata": "", "icon": "", "description": "", "homepage": ""},
        }

    def version(self, page: Doc) -> Doc:
        """The page's current version."""
        version = page["version"]
        return {
            "by": self.user(),
            "when": version["when"],
            "message": version["message"],
            "number": version["number"],
            "minorEdit": version["minorEdit"],
            "hidden": False,
            "_links": {
                "self": f"{self.base}/rest/experimental/content/{page['id']}"
                f"/version/{version['number']}"
            },
            "_expandable": {"content": f"/rest/api/content/{page['id']}"},
        }

    def history(self, page: Doc, last_updated: bool) -> Doc:
        """Who created the page and when; `last_updated` adds the current version."""
        doc: Doc = {
            "latest": True,
            "createdBy": self.user(),
            "createdDate": page["created"],
            "_links": {"self": self.api(f"/content/{page['id']}/history")},
            "_expandable": {"previousVersion": "", "contributors": "", "nextVersion": ""},
        }
        if last_updated:
            doc["lastUpdated"] = self.version(page)
        else:
            doc["_expandable"]["lastUpdated"] = ""
        return doc

    def body(self, page: Doc, expand: Expand) -> Doc:
        """The representations asked for; `view` is the storage markup, not rendered."""
        doc: Doc = {}
        for rep in _REPRESENTATIONS:
            if f"body.{rep}" in expand and rep in ("storage", "view"):
                doc[rep] = {
                    "value": page["body"],
                    "representation": rep,
                    "_expandable": {"content": f"/rest/api/content/{page['id']}"},
                }
        doc["_expandable"] = {rep: "" for rep in _REPRESENTATIONS if rep not in doc}
        return doc

    def children(self, page: Doc, expand: Expand) -> Doc:
        """The `children` expansion; only `children.page` lists anything."""
        doc: Doc = {
            "_links": {"self": self.api(f"/content/{page['id']}/child")},
            "_expandable": {"attachment": "", "comment": ""},
        }
        kids = _children(self.tx, page["id"])
        if "children.page" in expand:
            results = [self.content(kid, frozenset()) for kid in kids[:_DEFAULT_LIMIT]]
            doc["page"] = {
                "results": results,
                "start": 0,
                "limit": _DEFAULT_LIMIT,
                "size": len(results),
                "_links": {"self": self.api(f"/content/{page['id']}/child/page")},
            }
        else:
            doc["_expandable"]["page"] = f"/rest/api/content/{page['id']}/child/page"
        return doc

    def page_links(self, page: Doc, full: bool) -> Doc:
        """A page's links: UI paths relative to base, `self` absolute."""
        links: Doc = {
            "webui": f"/display/{page['space']}/{quote_plus(page['title'])}",
            "edit": f"/pages/resumedraft.action?draftId={page['id']}",
            "tinyui": f"/x/{_tiny(page['id'])}",
            "self": self.api(f"/content/{page['id']}"),
        }
        if full:
            links |= {"collection": "/rest/api/content"} | self.site_links()
        return links

    def content(self, page: Doc, expand: Expand, full: bool = False) -> Doc:
        """A page with the expansions asked for and the rest listed under `_expandable`."""
        top = {name.split(".", 1)[0] for name in expand}
        doc: Doc = {
            "id": page["id"],
            "type": "page",
            "status": page["status"],
            "title": page["title"],
        }
        space = self.tx.get(_PEER, "space", page["space"]) or {
            "key": page["space"],
            "name": page["space"],
            "id": 0,
        }
        for name in ("space", "container"):
            if name in top:
                doc[name] = self.space(space)
        if "history" in top:
            doc["history"] = self.history(page, "history.lastUpdated" in expand)
        if "version" in top:
            doc["version"] = self.version(page)
        if "ancestors" in top:
            doc["ancestors"] = [self.content(a, frozenset()) for a in _ancestors(self.tx, page)]
        if "body" in top:
            doc["body"] = self.body(page, expand)
        if "children" in top:
            doc["children"] = self.children(page, expand)
        doc["extensions"] = {"position": "none"}
        doc["_links"] = self.page_links(page, full)
        doc["_expandable"] = {
            name: self._expandable_path(page, name) for name in _EXPANDABLE if name not in top
        }
        return doc

    @staticmethod
    def _expandable_path(page: Doc, name: str) -> str:
        content = f"/rest/api/content/{page['id']}"
        paths = {
            "container": f"/rest/api/space/{page['space']}",
            "space": f"/rest/api/space/{page['space']}",
            "children": f"{content}/child",
            "descendants": f"{content}/descendant",
            "history": f"{content}/history",
            "restrictions": f"{content}/restriction/byOperation",
        }
        return paths.get(name, "")

    def collection(
        self,
        request: Request,
        items: list[Doc],
        start: int,
        limit: int,
        render: Callable[[Doc], Doc],
    ) -> Doc:
        """One page of a paged list, with absolute `next`/`prev` links that keep the query."""
        window = items[start : start + limit]
        links: Doc = {"self": f"{base_url(request, request.url.path)}"} | self.site_links()
        if start + limit < len(items):
            links["next"] = _paging_link(request, start + limit)
        if start > 0:
            links["prev"] = _paging_link(request, max(0, start - limit))
        return {
            "results": [render(item) for item in window],
            "start": start,
            "limit": limit,
            "size": len(window),
            "_links": links,
        }


def _paging_link(request: Request, start: int) -> str:
    """This request's URL (absolute, prefix kept) with another `start`."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "start"]
    query.append(("start", str(start)))
    return f"{base_url(request, request.url.path)}?{urlencode(query, safe=',')}"


# --- operations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ListQuery:
    """The filters and paging of `GET /rest/api/content`."""

    space: str | None
    title: str | None
    content_type: str
    status: str
    expand: Expand
    start: int
    limit: int


def _matches(page: Doc, query: _ListQuery) -> bool:
    if query.content_type != "page" or query.status not in ("current", "any"):
        return False
    if query.space is not None and page["space"] != query.space:
        return False
    return query.title is None or page["title"].casefold() == query.title.casefold()


def list_content(sandbox: Sandbox, request: Request, query: _ListQuery) -> Doc:
    """Pages matching space, title and type, one page of results at a time."""
    with sandbox.store.transaction() as tx:
        view = _Renderer(tx, request, sandbox)
        pages = [p for p in tx.list(_PEER, "page") if _matches(p, query)]
        return view.collection(
            request, pages, query.start, query.limit, lambda p: view.content(p, query.expand)
        )


def get_content(
    sandbox: Sandbox, request: Request, page_id: str, expand: Expand, version: int | None
) -> Doc:
    """One page; only its current version is kept."""
    with sandbox.store.transaction() as tx:
        page = _require_page(tx, page_id)
        if version is not None and version != page["version"]["number"]:
            raise _fail(404, f"No version {version} of content {page_id} (sandbox keeps current)")
        return _Renderer(tx, request, sandbox).content(page, expand, full=True)


def get_history(sandbox: Sandbox, request: Request, page_id: str) -> Doc:
    """The page's history with `lastUpdated`, which the client reads the version from."""
    with sandbox.store.transaction() as tx:
        page = _require_page(tx, page_id)
        view = _Renderer(tx, request, sandbox)
        history = view.history(page, last_updated=True)
        history["_links"] |= view.site_links()
        return history


def list_children(
    sandbox: Sandbox, request: Request, page_id: str, child_type: str, query: _ListQuery
) -> Doc:
    """Child pages of a page (other child types are always empty here)."""
    start, limit, expand = query.start, query.limit, query.expand
    with sandbox.store.transaction() as tx:
        _require_page(tx, page_id)
        view = _Renderer(tx, request, sandbox)
        kids = _children(tx, page_id) if child_type == "page" else []
        return view.collection(request, kids, start, limit, lambda p: view.content(p, expand))


def create_page(sandbox: Sandbox, request: Request, payload: Doc) -> Doc:
    """Create a page in a space, under an optional parent; one `page.created` effect."""
    wanted = _parse_input(payload)
    if wanted.space is None:
        raise _fail(400, "A space key is required to create content")
    if wanted.body is None:
        raise _fail(400, "A body in storage representation is required to create a page")
    with sandbox.store.transaction() as tx:
        _require_space(tx, wanted.space)
        _ensure_title_free(tx, wanted.space, wanted.title, None)
        if wanted.parent is not None:
            _check_parent(tx, wanted.parent, wanted.space, None)
        page_id = str(tx.next_id(_COUNTER, start=_first_content_id(sandbox)))
        page = _page_doc(page_id, wanted.space, wanted.title, wanted.body, wanted.parent)
        tx.put(_PEER, "page", page_id, page)
        key = f"confluence:page.create:{wanted.space}:{wanted.title}"
        detail = {"id": page_id, "space": wanted.space, "title": wanted.title}
        tx.record_effect(request, _PEER, "page.created", key, detail)
        return _Renderer(tx, request, sandbox).content(page, _WRITE_EXPAND, full=True)


def update_page(sandbox: Sandbox, request: Request, page_id: str, payload: Doc) -> Doc:
    """Replace title, body and parent at version last + 1; one `page.updated` effect."""
    wanted = _parse_input(payload)
    if str(payload.get("id", page_id)) != page_id:
        raise _fail(400, f"The content id in the body does not match {page_id}")
    with sandbox.store.transaction() as tx:
        page = _require_page(tx, page_id)
        number = _next_version(page, wanted.version)
        _ensure_title_free(tx, page["space"], wanted.title, page_id)
        if wanted.parent is not None:
            _check_parent(tx, wanted.parent, page["space"], page_id)
            page["parent"] = wanted.parent
        page["title"] = wanted.title
        page["body"] = page["body"] if wanted.body is None else wanted.body
        page["version"] = {
            "number": number,
            "when": _now(),
            "message": wanted.message,
            "minorEdit": wanted.minor_edit,
        }
        tx.put(_PEER, "page", page_id, page)
        detail = {"id": page_id, "title": wanted.title, "version": number}
        key = f"confluence:page.update:{page_id}:v{number}"
        tx.record_effect(request, _PEER, "page.updated", key, detail)
        return _Renderer(tx, request, sandbox).content(page, _WRITE_EXPAND, full=True)


def _next_version(page: Doc, number: int | None) -> int:
    """The new version number, which must be exactly the current one plus one."""
    current = int(page["version"]["number"])
    if number is None:
        raise _fail(
            400, "Must supply an incremented version when updating Content. No version supplied."
        )
    if number != current + 1:
        raise _fail(409, f"Version must be incremented on update. Current version is: {current}")
    return number


def _check_parent(tx: Transaction, parent_id: str, space: str, page_id: str | None) -> None:
    """A parent must exist in the same space and must not be the page or below it."""
    parent = _require_page(tx, parent_id)
    if parent["space"] != space:
        raise _fail(400, f"The parent page {parent_id} is not in space {space}")
    lineage = {a["id"] for a in _ancestors(tx, parent)} | {parent_id}
    if page_id is not None and page_id in lineage:
        raise _fail(400, f"Page {page_id} cannot be moved under itself or its descendants")


def get_space(sandbox: Sandbox, request: Request, key: str) -> Doc:
    """One space by key."""
    with sandbox.store.transaction() as tx:
        return _Renderer(tx, request, sandbox).space(_require_space(tx, key), full=True)


def list_spaces(sandbox: Sandbox, request: Request, paging: tuple[int, int]) -> Doc:
    """Every space, paged."""
    start, limit = paging
    with sandbox.store.transaction() as tx:
        view = _Renderer(tx, request, sandbox)
        return view.collection(request, tx.list(_PEER, "space"), start, limit, view.space)


# --- routes --------------------------------------------------------------------------------

Start = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=0)]


def build_router(sandbox: Sandbox) -> APIRouter:
    """The Confluence REST routes, without the `/confluence` prefix."""
    router = APIRouter(tags=["confluence"])

    @router.get("/rest/api/content")
    def find_content(
        request: Request,
        space_key: Annotated[str | None, Query(alias="spaceKey")] = None,
        title: str | None = None,
        content_type: Annotated[str, Query(alias="type")] = "page",
        status: str = "current",
        expand: str | None = None,
        start: Start = 0,
        limit: Limit = _DEFAULT_LIMIT,
    ) -> Doc:
        query = _ListQuery(
            space_key, title, content_type, status, _expansions(expand), start, _limit(limit)
        )
        return list_content(sandbox, request, query)

    @router.post("/rest/api/content")
    async def post_content(request: Request) -> Doc:
        payload = await _json_object(request)
        return await run_in_threadpool(create_page, sandbox, request, payload)

    @router.get("/rest/api/content/{page_id}")
    def read_content(
        request: Request,
        page_id: str,
        expand: str | None = None,
        status: str | None = None,
        version: int | None = None,
    ) -> Doc:
        if status not in (None, "current", "any"):
            raise _fail(404, f"No {status} content found with id : ContentId{{id={page_id}}}")
        return get_content(sandbox, request, page_id, _expansions(expand, _SINGLE_EXPAND), version)

    @router.put("/rest/api/content/{page_id}")
    async def put_content(request: Request, page_id: str) -> Doc:
        payload = await _json_object(request)
        return await run_in_threadpool(update_page, sandbox, request, page_id, payload)

    @router.get("/rest/api/content/{page_id}/history")
    def read_history(request: Request, page_id: str) -> Doc:
        return get_history(sandbox, request, page_id)

    @router.get("/rest/api/content/{page_id}/child/{child_type}")
    def read_children(
        request: Request,
        page_id: str,
        child_type: str,
        expand: str | None = None,
        start: Start = 0,
        limit: Limit = _DEFAULT_LIMIT,
    ) -> Doc:
        query = _ListQuery(None, None, "page", "current", _expansions(expand), start, _limit(limit))
        return list_children(sandbox, request, page_id, child_type, query)

    @router.get("/rest/api/space")
    def read_spaces(request: Request, start: Start = 0, limit: Limit = _DEFAULT_LIMIT) -> Doc:
        return list_spaces(sandbox, request, (start, _limit(limit)))

    @router.get("/rest/api/space/{space_key}")
    def read_space(request: Request, space_key: str) -> Doc:
        return get_space(sandbox, request, space_key)

    return router


PEER = PeerSpec(
    name=_PEER,
    prefix=_PREFIX,
    build_router=build_router,
    seed=seed,
    error_body=error_body,
)

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

Layout: `confluence_store` (documents, seeding, the error shape), `confluence_input` (request
parsing), `confluence_render` (Confluence's JSON); this module holds the operations and routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from enigma.sandbox.confluence_input import (
    SINGLE_EXPAND,
    WRITE_EXPAND,
    Expand,
    clamp_limit,
    expansions,
    json_object,
    parse_input,
)
from enigma.sandbox.confluence_render import Renderer
from enigma.sandbox.confluence_store import (
    COUNTER,
    DEFAULT_LIMIT,
    PEER_NAME,
    PREFIX,
    Doc,
    ancestor_pages,
    child_pages,
    confluence_now,
    ensure_title_free,
    error_body,
    fail,
    first_content_id,
    page_doc,
    require_page,
    require_space,
    seed,
)
from enigma.sandbox.core import PeerSpec, Sandbox, Transaction

__all__ = ["PEER", "build_router", "error_body", "seed"]


# --- operations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    """The filters and paging of `GET /rest/api/content`."""

    space: str | None
    title: str | None
    content_type: str
    status: str
    expand: Expand
    start: int
    limit: int


def _matches(page: Doc, query: ListQuery) -> bool:
    if query.content_type != "page" or query.status not in ("current", "any"):
        return False
    if query.space is not None and page["space"] != query.space:
        return False
    return query.title is None or page["title"].casefold() == query.title.casefold()


def list_content(sandbox: Sandbox, request: Request, query: ListQuery) -> Doc:
    """Pages matching space, title and type, one page of results at a time."""
    with sandbox.store.transaction() as tx:
        view = Renderer(tx, request, sandbox)
        pages = [p for p in tx.list(PEER_NAME, "page") if _matches(p, query)]
        return view.collection(
            request, pages, query.start, query.limit, lambda p: view.content(p, query.expand)
        )


def get_content(
    sandbox: Sandbox, request: Request, page_id: str, expand: Expand, version: int | None
) -> Doc:
    """One page; only its current version is kept."""
    with sandbox.store.transaction() as tx:
        page = require_page(tx, page_id)
        if version is not None and version != page["version"]["number"]:
            raise fail(404, f"No version {version} of content {page_id} (sandbox keeps current)")
        return Renderer(tx, request, sandbox).content(page, expand, full=True)


def get_history(sandbox: Sandbox, request: Request, page_id: str) -> Doc:
    """The page's history with `lastUpdated`, which the client reads the version from."""
    with sandbox.store.transaction() as tx:
        page = require_page(tx, page_id)
        view = Renderer(tx, request, sandbox)
        history = view.history(page, last_updated=True)
        history["_links"] |= view.site_links()
        return history


def list_children(
    sandbox: Sandbox, request: Request, page_id: str, child_type: str, query: ListQuery
) -> Doc:
    """Child pages of a page (other child types are always empty here)."""
    start, limit, expand = query.start, query.limit, query.expand
    with sandbox.store.transaction() as tx:
        require_page(tx, page_id)
        view = Renderer(tx, request, sandbox)
        kids = child_pages(tx, page_id) if child_type == "page" else []
        return view.collection(request, kids, start, limit, lambda p: view.content(p, expand))


def create_page(sandbox: Sandbox, request: Request, payload: Doc) -> Doc:
    """Create a page in a space, under an optional parent; one `page.created` effect."""
    wanted = parse_input(payload)
    if wanted.space is None:
        raise fail(400, "A space key is required to create content")
    if wanted.body is None:
        raise fail(400, "A body in storage representation is required to create a page")
    with sandbox.store.transaction() as tx:
        require_space(tx, wanted.space)
        ensure_title_free(tx, wanted.space, wanted.title, None)
        if wanted.parent is not None:
            _check_parent(tx, wanted.parent, wanted.space, None)
        page_id = str(tx.next_id(COUNTER, start=first_content_id(sandbox)))
        page = page_doc(page_id, wanted.space, wanted.title, wanted.body, wanted.parent)
        tx.put(PEER_NAME, "page", page_id, page)
        key = f"confluence:page.create:{wanted.space}:{wanted.title}"
        detail = {"id": page_id, "space": wanted.space, "title": wanted.title}
        tx.record_effect(request, PEER_NAME, "page.created", key, detail)
        return Renderer(tx, request, sandbox).content(page, WRITE_EXPAND, full=True)


def update_page(sandbox: Sandbox, request: Request, page_id: str, payload: Doc) -> Doc:
    """Replace title, body and parent at version last + 1; one `page.updated` effect."""
    wanted = parse_input(payload)
    if str(payload.get("id", page_id)) != page_id:
        raise fail(400, f"The content id in the body does not match {page_id}")
    with sandbox.store.transaction() as tx:
        page = require_page(tx, page_id)
        number = _next_version(page, wanted.version)
        ensure_title_free(tx, page["space"], wanted.title, page_id)
        if wanted.parent is not None:
            _check_parent(tx, wanted.parent, page["space"], page_id)
            page["parent"] = wanted.parent
        page["title"] = wanted.title
        page["body"] = page["body"] if wanted.body is None else wanted.body
        page["version"] = {
            "number": number,
            "when": confluence_now(),
            "message": wanted.message,
            "minorEdit": wanted.minor_edit,
        }
        tx.put(PEER_NAME, "page", page_id, page)
        detail = {"id": page_id, "title": wanted.title, "version": number}
        key = f"confluence:page.update:{page_id}:v{number}"
        tx.record_effect(request, PEER_NAME, "page.updated", key, detail)
        return Renderer(tx, request, sandbox).content(page, WRITE_EXPAND, full=True)


def _next_version(page: Doc, number: int | None) -> int:
    """The new version number, which must be exactly the current one plus one."""
    current = int(page["version"]["number"])
    if number is None:
        raise fail(
            400, "Must supply an incremented version when updating Content. No version supplied."
        )
    if number != current + 1:
        raise fail(409, f"Version must be incremented on update. Current version is: {current}")
    return number


def _check_parent(tx: Transaction, parent_id: str, space: str, page_id: str | None) -> None:
    """A parent must exist in the same space and must not be the page or below it."""
    parent = require_page(tx, parent_id)
    if parent["space"] != space:
        raise fail(400, f"The parent page {parent_id} is not in space {space}")
    lineage = {a["id"] for a in ancestor_pages(tx, parent)} | {parent_id}
    if page_id is not None and page_id in lineage:
        raise fail(400, f"Page {page_id} cannot be moved under itself or its descendants")


def get_space(sandbox: Sandbox, request: Request, key: str) -> Doc:
    """One space by key."""
    with sandbox.store.transaction() as tx:
        return Renderer(tx, request, sandbox).space(require_space(tx, key), full=True)


def list_spaces(sandbox: Sandbox, request: Request, paging: tuple[int, int]) -> Doc:
    """Every space, paged."""
    start, limit = paging
    with sandbox.store.transaction() as tx:
        view = Renderer(tx, request, sandbox)
        return view.collection(request, tx.list(PEER_NAME, "space"), start, limit, view.space)


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
        limit: Limit = DEFAULT_LIMIT,
    ) -> Doc:
        query = ListQuery(
            space_key, title, content_type, status, expansions(expand), start, clamp_limit(limit)
        )
        return list_content(sandbox, request, query)

    @router.post("/rest/api/content")
    async def post_content(request: Request) -> Doc:
        payload = await json_object(request)
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
            raise fail(404, f"No {status} content found with id : ContentId{{id={page_id}}}")
        return get_content(sandbox, request, page_id, expansions(expand, SINGLE_EXPAND), version)

    @router.put("/rest/api/content/{page_id}")
    async def put_content(request: Request, page_id: str) -> Doc:
        payload = await json_object(request)
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
        limit: Limit = DEFAULT_LIMIT,
    ) -> Doc:
        query = ListQuery(
            None, None, "page", "current", expansions(expand), start, clamp_limit(limit)
        )
        return list_children(sandbox, request, page_id, child_type, query)

    @router.get("/rest/api/space")
    def read_spaces(request: Request, start: Start = 0, limit: Limit = DEFAULT_LIMIT) -> Doc:
        return list_spaces(sandbox, request, (start, clamp_limit(limit)))

    @router.get("/rest/api/space/{space_key}")
    def read_space(request: Request, space_key: str) -> Doc:
        return get_space(sandbox, request, space_key)

    return router


PEER = PeerSpec(
    name=PEER_NAME,
    prefix=PREFIX,
    build_router=build_router,
    seed=seed,
    error_body=error_body,
)

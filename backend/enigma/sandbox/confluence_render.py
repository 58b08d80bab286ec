"""Confluence's JSON: pages, spaces, versions, history and paged collections.

Answers keep Confluence's shape: ids are strings, a list shows only id, type, status and
title unless `expand` asks for more; `_links.self` and paging links are absolute URLs built
from the address the client used (the client resolves a relative `/rest/...` link against
the host alone and would drop the context path); `webui`, `tinyui` and `_expandable` paths
are relative to `_links.base`, as Confluence writes them.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from urllib.parse import quote_plus, urlencode

from fastapi import Request

from enigma.sandbox.confluence_input import Expand
from enigma.sandbox.confluence_store import (
    DEFAULT_LIMIT,
    DEFAULT_USER,
    PEER_NAME,
    PREFIX,
    Doc,
    ancestor_pages,
    child_pages,
)
from enigma.sandbox.core import Sandbox, Transaction, base_url

__all__ = ["Renderer"]

_EXPANDABLE = (
    *("container", "metadata", "operations", "children", "restrictions", "history"),
    *("ancestors", "body", "version", "descendants", "space"),
)
_REPRESENTATIONS = ("storage", "view", "editor", "export_view", "styled_view")


def _tiny(page_id: str) -> str:
    """Confluence's short link code: the id's little-endian bytes in base64."""
    raw = base64.b64encode(int(page_id).to_bytes(8, "little")).decode()
    return raw.rstrip("=").rstrip("A").replace("/", "-").replace("+", "_")


class Renderer:
    """Turns stored documents into Confluence JSON, links built from the client's address."""

    def __init__(self, tx: Transaction, request: Request, sandbox: Sandbox):
        self.tx = tx
        self.base = base_url(request, PREFIX)
        user = sandbox.seed.get(PEER_NAME, {}).get("user", DEFAULT_USER)
        self.user_name = str(user["name"])
        self.display_name = str(user.get("display_name", user["name"]))

    def api(self, path: str) -> str:
        """Absolute URL of a REST resource under this peer."""
        return f"{self.base}/rest/api{path}"

    def site_links(self) -> Doc:
        """The `base` and `context` links every top-level answer carries."""
        return {"base": self.base, "context": PREFIX}

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
        kids = child_pages(self.tx, page["id"])
        if "children.page" in expand:
            results = [self.content(kid, frozenset()) for kid in kids[:DEFAULT_LIMIT]]
            doc["page"] = {
                "results": results,
                "start": 0,
                "limit": DEFAULT_LIMIT,
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
        space = self.tx.get(PEER_NAME, "space", page["space"]) or {
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
            doc["ancestors"] = [self.content(a, frozenset()) for a in ancestor_pages(self.tx, page)]
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

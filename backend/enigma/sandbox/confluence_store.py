"""Where the sandbox Confluence keeps its pages and spaces, and its error shape.

Spaces and pages are documents in the sandbox store under the peer name ``confluence``; only
the current version of a page is kept (its storage body and version record). Titles are
unique per space, compared case-insensitively as Confluence does. Seeding writes no effects:
the seed is where the world starts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from enigma.sandbox.core import PeerError, Sandbox, Transaction

__all__ = [
    "COUNTER",
    "DEFAULT_LIMIT",
    "DEFAULT_USER",
    "MAX_LIMIT",
    "PEER_NAME",
    "PREFIX",
    "Doc",
    "ancestor_pages",
    "child_pages",
    "confluence_now",
    "ensure_title_free",
    "error_body",
    "fail",
    "first_content_id",
    "page_doc",
    "require_page",
    "require_space",
    "seed",
]

PEER_NAME = "confluence"
PREFIX = "/confluence"
COUNTER = "confluence:content"
FIRST_CONTENT_ID = 65537  # Confluence's first content id on a fresh instance
FIRST_SPACE_ID = 98305
DEFAULT_LIMIT = 25
MAX_LIMIT = 200
DEFAULT_USER = {"name": "release-bot", "display_name": "Release Bot"}

Doc = dict[str, Any]


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


def fail(status: int, message: str) -> PeerError:
    return PeerError(status, error_body(status, message))


def confluence_now() -> str:
    """A timestamp the way Confluence writes one (milliseconds, UTC)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def first_content_id(sandbox: Sandbox) -> int:
    """New pages are numbered above every page the seed brings."""
    pages = sandbox.seed.get(PEER_NAME, {}).get("pages", [])
    return max([int(p["id"]) + 1 for p in pages], default=FIRST_CONTENT_ID)


def page_doc(page_id: str, space: str, title: str, body: str, parent: str | None) -> Doc:
    """A stored page at version 1."""
    when = confluence_now()
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
    conf = sandbox.seed.get(PEER_NAME, {})
    with sandbox.store.transaction() as tx:
        for offset, space in enumerate(conf.get("spaces", [])):
            doc = {"key": space["key"], "name": space["name"], "id": FIRST_SPACE_ID + offset}
            tx.put(PEER_NAME, "space", space["key"], doc)
        for page in conf.get("pages", []):
            parent = str(page["parent"]) if page.get("parent") else None
            doc = page_doc(str(page["id"]), page["space"], page["title"], page["body"], parent)
            tx.put(PEER_NAME, "page", doc["id"], doc)


def require_space(tx: Transaction, key: str) -> Doc:
    space = tx.get(PEER_NAME, "space", key)
    if space is None:
        raise fail(404, f"No space found with key : {key}")
    return space


def require_page(tx: Transaction, page_id: str) -> Doc:
    page = tx.get(PEER_NAME, "page", page_id)
    if page is None:
        raise fail(404, f"No content found with id : ContentId{{id={page_id}}}")
    return page


def ensure_title_free(tx: Transaction, space: str, title: str, own_id: str | None) -> None:
    """Refuse a title another page of the space already has (case-insensitive)."""
    wanted = title.casefold()
    for page in tx.list(PEER_NAME, "page"):
        if page["space"] == space and page["title"].casefold() == wanted and page["id"] != own_id:
            raise fail(
                400,
                "A page with this title already exists: A page already exists with the title "
                f"{title} in the space with key {space}",
            )


def ancestor_pages(tx: Transaction, page: Doc) -> list[Doc]:
    """The page's ancestors, root first."""
    chain: list[Doc] = []
    parent_id = page.get("parent")
    while parent_id is not None and len(chain) < 100:
        parent = tx.get(PEER_NAME, "page", parent_id)
        if parent is None:
            break
        chain.insert(0, parent)
        parent_id = parent.get("parent")
    return chain


def child_pages(tx: Transaction, page_id: str) -> list[Doc]:
    return [p for p in tx.list(PEER_NAME, "page") if p.get("parent") == page_id]

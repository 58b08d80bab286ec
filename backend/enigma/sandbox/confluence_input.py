"""What a Confluence request asks for: JSON bodies, page fields and `expand`, checked.

Every malformed request is a 400 in Confluence's shape before the store is touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from enigma.sandbox.confluence_store import MAX_LIMIT, Doc, fail

__all__ = [
    "SINGLE_EXPAND",
    "WRITE_EXPAND",
    "Expand",
    "PageInput",
    "clamp_limit",
    "expansions",
    "json_object",
    "parse_input",
]

Expand = frozenset[str]

# What one piece of content expands when the caller names nothing, and what a write answers.
SINGLE_EXPAND: Expand = frozenset({"space", "history", "version"})
WRITE_EXPAND: Expand = frozenset(
    {"space", "history", "version", "ancestors", "container", "body.storage"}
)


@dataclass(frozen=True)
class PageInput:
    """What a create or update request asks for, checked for shape."""

    title: str
    body: str | None
    parent: str | None
    space: str | None
    version: int | None
    message: str
    minor_edit: bool


async def json_object(request: Request) -> Doc:
    """The request's JSON object; a 400 in Confluence's shape otherwise."""
    try:
        payload = json.loads(await request.body())
    except ValueError as exc:
        raise fail(400, f"Could not parse the request body as JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise fail(400, "The request body must be a JSON object")
    return payload


def _object(payload: Doc, name: str) -> Doc:
    """A nested object of the payload ({} when absent); a 400 when it is something else."""
    value = payload.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(400, f"{name} must be a JSON object")
    return value


def parse_input(payload: Doc) -> PageInput:
    """Validate the content fields Enigma's client sends (type, title, body, ancestors)."""
    if payload.get("type", "page") != "page":
        raise fail(400, f"The sandbox only holds pages, not {payload.get('type')!r} content")
    title = payload.get("title")
    if not isinstance(title, str) or not title.strip():
        raise fail(400, "Content title cannot be empty")
    version = _object(payload, "version")
    number = version.get("number")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
        raise fail(400, "version.number must be an integer")
    space = _object(payload, "space").get("key")
    return PageInput(
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
        raise fail(400, f"Unsupported body ({kinds}): the sandbox stores storage format only")
    return str(storage["value"])


def _parse_parent(ancestors: Any) -> str | None:
    if not ancestors:
        return None
    if not isinstance(ancestors, list) or not isinstance(ancestors[-1], dict):
        raise fail(400, "ancestors must be a list of content references")
    return str(ancestors[-1].get("id"))


def expansions(raw: str | None, default: Expand = frozenset()) -> Expand:
    """The `expand` parameter as a set of dotted names (unknown names are ignored later)."""
    if raw is None:
        return default
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def clamp_limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))

"""`Wiki` on atlassian-python-api's `Confluence`: publish a release-notes page idempotently.

Built with the library's own retries off (`backoff_and_retry=False`, and
`retry_with_header=False`, which otherwise sleeps once on a 429 by itself) and our timeout.
`ensure_page` is one check-then-act operation: find the page by title, create it under its
parent when absent, update it only when the stored body differs.

Confluence may re-serialise storage XHTML when it saves it; bodies are compared with runs of
whitespace collapsed, which covers what the sandbox and a plain Confluence do. A server that
rewrites markup more deeply would make every call an update (a new page version, never a
duplicate page).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from atlassian import Confluence
from pydantic import SecretStr

from enigma.integrations.base import PageRecord
from enigma.integrations.errors import NotFound
from enigma.integrations.http import CallPolicy, call
from enigma.integrations.scope import guard_session

__all__ = ["ConfluenceWiki"]

T = TypeVar("T")
_EXPAND = "body.storage,version"


class ConfluenceWiki:
    """The release's view of Confluence (Server / Data Center, or Cloud's v1 REST API)."""

    def __init__(
        self,
        url: str,
        token: SecretStr,
        user: str | None = None,
        policy: CallPolicy | None = None,
    ):
        self.url = url.rstrip("/")
        self.policy = policy or CallPolicy()
        self._token = token
        self._user = user
        self._local = threading.local()
        self._lock = threading.Lock()

    @property
    def _confluence(self) -> Any:
        """This thread's client, on a session that refuses to send once the run stopped."""
        client = getattr(self._local, "client", None)
        if client is None:
            secret = self._token.get_secret_value()
            auth: dict[str, Any] = (
                {"token": secret}
                if self._user is None
                else {"username": self._user, "password": secret}
            )
            session = requests.Session()
            guard_session(session)
            client = Confluence(
                url=self.url,
                timeout=max(1, math.ceil(self.policy.timeout)),
                backoff_and_retry=False,
                retry_with_header=False,
                session=session,
                **auth,
            )
            self._local.client = client
        return client

    def _call(self, what: str, op: Callable[[], T]) -> T:
        return call("confluence", op, self.policy, what)

    def ensure_page(
        self, space: str, title: str, body: str, parent_title: str | None
    ) -> PageRecord:
        """Create the page, or update it when its body differs; returns the page."""

        def find_create_or_update() -> PageRecord:
            page = self._find(space, title)
            if page is None:
                parent_id = self._parent_id(space, parent_title)
                created = self._confluence.create_page(
                    space, title, body, parent_id=parent_id, representation="storage"
                )
                return self._record(created)
            if _same_body(_storage(page), body):
                return self._record(page)
            updated = self._confluence.update_page(
                str(page["id"]), title, body, representation="storage", always_update=True
            )
            return self._record(updated)

        with self._lock:  # two threads publishing the same title would both create it
            return self._call("publish page", find_create_or_update)

    def _find(self, space: str, title: str) -> dict[str, Any] | None:
        """The page with this title in the space, with its body and version, or None."""
        found = self._confluence.get_page_by_title(space, title, expand=_EXPAND)
        if not found:
            return None
        if isinstance(found, dict) and "results" in found:  # 5.x returns the whole answer
            results = found.get("results") or []
            return dict(results[0]) if results else None
        return dict(found) if isinstance(found, dict) and found.get("id") else None

    def _parent_id(self, space: str, parent_title: str | None) -> str | None:
        if parent_title is None:
            return None
        parent = self._find(space, parent_title)
        if parent is None:
            raise NotFound("confluence", f"parent page {parent_title!r} not found in {space}", 404)
        return str(parent["id"])

    def _record(self, page: dict[str, Any]) -> PageRecord:
        links = page.get("_links") or {}
        webui = str(links.get("webui") or "")
        base = str(links.get("base") or self.url).rstrip("/")
        url = webui if webui.startswith(("http://", "https://")) else base + webui
        return PageRecord(
            id=str(page["id"]),
            title=str(page.get("title") or ""),
            url=url,
            version=int((page.get("version") or {}).get("number") or 1),
        )


def _storage(page: dict[str, Any]) -> str:
    return str(((page.get("body") or {}).get("storage") or {}).get("value") or "")


def _same_body(stored: str, wanted: str) -> bool:
    return " ".join(stored.split()) == " ".join(wanted.split())

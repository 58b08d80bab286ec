"""Read-only HTML pages behind the links the peers hand out.

Enigma writes links into pull requests, tickets and release notes (a PR's `html_url`, a
ticket's browse URL, a page's `webui`). In the sandbox those links should open something a
person can read, so each peer serves a plain page for them. They show stored data only, need
no token (like a public repository), and escape everything.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from enigma.sandbox.core import Sandbox

__all__ = ["build_views_router"]

_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:860px;margin:2rem auto;padding:0 1rem;"
    "color:#1f2328}h1{font-size:1.5rem}.meta{color:#59636e}.badge{display:inline-block;"
    "padding:.1rem .6rem;border-radius:1rem;background:#ddf4ff;margin-right:.4rem}"
    "pre{white-space:pre-wrap;background:#f6f8fa;padding:1rem;border-radius:6px}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style><body>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def _missing(what: str) -> HTMLResponse:
    return _page("Not found", f"<h1>Not found</h1><p>{escape(what)} does not exist.</p>", 404)


def _pull_page(doc: dict[str, Any]) -> HTMLResponse:
    state = "merged" if doc.get("merged") else str(doc.get("state", "open"))
    body = (
        f"<h1>{escape(str(doc.get('title', '')))} "
        f"<span class=meta>#{escape(str(doc.get('number')))}</span></h1>"
        f"<p><span class=badge>{escape(state)}</span>{escape(str(doc.get('repo', '')))}: "
        f"<code>{escape(str(doc.get('head', '')))}</code> → "
        f"<code>{escape(str(doc.get('base', '')))}</code></p>"
        f"<pre>{escape(str(doc.get('body') or ''))}</pre>"
    )
    return _page(f"{doc.get('title')} #{doc.get('number')}", body)


def _issue_page(doc: dict[str, Any]) -> HTMLResponse:
    comments = "".join(
        f"<pre>{escape(str(c.get('body', '')))}</pre>" for c in doc.get("comments", [])
    )
    body = (
        f"<h1>{escape(str(doc['key']))}: {escape(str(doc.get('summary', '')))}</h1>"
        f"<p><span class=badge>{escape(str(doc.get('status', '')))}</span>"
        f"{escape(str(doc.get('type', '')))} · {escape(', '.join(doc.get('labels', [])))}</p>"
        f"<h2>Comments</h2>{comments or '<p class=meta>none</p>'}"
    )
    return _page(str(doc["key"]), body)


def build_views_router(sandbox: Sandbox) -> APIRouter:
    """Pages for PR, ticket and wiki-page links."""
    router = APIRouter(include_in_schema=False)
    store = sandbox.store

    @router.get("/github/{owner}/{repo}/pull/{number}", response_class=HTMLResponse)
    def pull_request(owner: str, repo: str, number: int) -> HTMLResponse:
        doc = store.get("github", "pull", f"{owner}/{repo}#{number}")
        return _pull_page(doc) if doc else _missing(f"pull request {owner}/{repo}#{number}")

    @router.get("/jira/browse/{key}", response_class=HTMLResponse)
    def issue(key: str) -> HTMLResponse:
        doc = store.get("jira", "issue", key.upper())
        return _issue_page(doc) if doc else _missing(f"issue {key}")

    @router.get("/confluence/display/{space}/{title}", response_class=HTMLResponse)
    def wiki_page(space: str, title: str) -> HTMLResponse:
        wanted = title.replace("+", " ").casefold()
        for doc in store.list("confluence", "page"):
            if doc.get("space") == space and str(doc.get("title", "")).casefold() == wanted:
                # the storage body is our own XHTML from the seed or from Enigma; it is shown
                # inside a sandboxed frame so no script in it can run
                frame = (
                    f'<iframe sandbox srcdoc="{escape(str(doc.get("body", "")))}" '
                    'style="width:100%;height:70vh;border:1px solid #d1d9e0"></iframe>'
                )
                return _page(str(doc["title"]), f"<h1>{escape(str(doc['title']))}</h1>{frame}")
        return _missing(f"page {title} in {space}")

    return router

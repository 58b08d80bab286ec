"""Security headers on every answer, set in one place: a pure ASGI middleware.

Every response (the API, the web page, /docs, /metrics, errors, 404s, SSE streams) carries

- `Content-Security-Policy` with `frame-ancestors 'none'`: no other site may frame the
  page's approve buttons (clickjacking). The page's policy is the strict one it used to
  carry in a meta tag (a meta tag cannot say `frame-ancestors`); the documentation pages
  set their own, which allows their inline script by its hash (see `docs.py`), and this
  middleware keeps a policy a route set;
- `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`;
- `X-Content-Type-Options: nosniff`: a JSON answer is never run as a script;
- `Referrer-Policy: no-referrer`: run URLs do not leak to the sites the page links to.

Pure ASGI rather than `BaseHTTPMiddleware`: it only adds headers to the start message and
passes every body chunk on as it comes, so an SSE stream is not buffered.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PAGE_CSP", "SECURITY_HEADERS", "SecurityHeaders", "csp"]


def csp(**directives: str) -> str:
    """The page's policy with `directives` (underscores for dashes) replaced or added."""
    policy = {
        "default-src": "'self'",
        "img-src": "'self' data:",
        "style-src": "'self'",
        "script-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "frame-src": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    policy |= {name.replace("_", "-"): value for name, value in directives.items()}
    policy["frame-ancestors"] = "'none'"  # never relaxed, whatever a page needs
    return "; ".join(f"{name} {value}" for name, value in policy.items())


PAGE_CSP = csp()
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
"""What every response carries (a route may set a Content-Security-Policy of its own)."""

_RAW = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


class SecurityHeaders:
    """Add `SECURITY_HEADERS` to each HTTP response, keeping any the app already set."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _RAW if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)

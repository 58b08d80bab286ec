"""The API's documentation pages, served with their scripts and styles from this service.

FastAPI's own `/docs` and `/redoc` load Swagger UI and ReDoc from a CDN, so a release manager
on a network without the internet got a blank page. The assets ship in the `fastapi-offline`
package (pinned, so they change only when we bump it); this module serves them under
`/docs-assets` and builds the two pages with FastAPI's own HTML helpers. Nothing on either
page asks another host for anything: no favicon from fastapi.tiangolo.com, no Google fonts,
and Swagger UI's online validator badge is off.

Each page carries its own Content-Security-Policy (the security-headers middleware keeps it):
the page's strict policy, plus the inline `<script>` FastAPI's helpers write, allowed by its
SHA-256 hash rather than by `'unsafe-inline'`; inline styles (both UIs style elements from
script) and ReDoc's `blob:` worker. `frame-ancestors 'none'` stays.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from enigma.api.headers import csp

__all__ = ["ASSETS_URL", "mount_docs"]

ASSETS_URL = "/docs-assets"
_ASSETS = ("fastapi_offline", "static")
"""Where the assets ship: starlette finds the installed package's folder itself."""
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def with_policy(page: HTMLResponse, **directives: str) -> HTMLResponse:
    """`page` with a CSP that allows its own inline scripts (by hash) and `directives`."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body).decode())
    ]
    policy = csp(
        script_src=" ".join(["'self'", *hashes]),
        style_src="'self' 'unsafe-inline'",
        **directives,
    )
    page.headers["Content-Security-Policy"] = policy
    return page


def mount_docs(app: FastAPI) -> None:
    """Serve `/docs` (Swagger UI) and `/redoc` offline; build the app with both URLs None."""
    app.mount(ASSETS_URL, StaticFiles(packages=[_ASSETS]), name="docs-assets")
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            oauth2_redirect_url=f"{root}{redirect}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            # The validator badge would send the whole schema to validator.swagger.io.
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )
        return with_policy(page)

    @app.get(redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return with_policy(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        return with_policy(page, worker_src="'self' blob:")

"""The FastAPI app factory: lifespan (runtime, recovery, retention), errors, health, metrics.

Validation failures answer 422 with the field named; unknown runs 404; actions the run's
status does not allow 409; oversize bodies 413. No handler lets bad input become a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from enigma.api.auth import TokenBook
from enigma.api.routes import router
from enigma.bootstrap import open_runtime
from enigma.context import Context
from enigma.settings import Settings

__all__ = ["MAX_BODY_BYTES", "create_app"]

log = logging.getLogger("enigma.api")
MAX_BODY_BYTES = 64 * 1024
WEB_DIR = Path(__file__).resolve().parents[1] / "web"


class BodyLimit:
    """Refuse request bodies over the limit with 413 before any handler reads them."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers", [])).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.limit):
                response = JSONResponse(
                    {"detail": f"request body over {self.limit} bytes", "errors": []}, status_code=413
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append({"field": ".".join(loc) or "body", "message": message})
    return out


def create_app(settings: Settings | None = None, context: Context | None = None) -> FastAPI:
    """Build the service; everything heavy opens in the lifespan, inside the event loop."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        book, demo_token = TokenBook.from_settings(settings)
        app.state.tokens = book
        app.state.demo_token = demo_token
        async with open_runtime(settings, context) as runtime:
            app.state.runtime = runtime
            recovered = await runtime.manager.recover()
            if recovered:
                log.info("recovered %d runs: %s", len(recovered), ", ".join(recovered))
            runtime.manager.start_watchdog()
            retention = asyncio.get_running_loop().create_task(_retention(runtime.manager, settings))
            app.state.ready = True
            try:
                yield
            finally:
                app.state.ready = False
                retention.cancel()

    app = FastAPI(
        title="Enigma",
        version="0.1.0",
        summary="Release orchestration: Jira tickets to released versions, as a durable workflow.",
        lifespan=lifespan,
    )
    app.state.ready = False

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        text = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse({"detail": f"invalid request: {text}", "errors": errors}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc.detail), "errors": []}, status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    app.include_router(router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "not ready"}})
    async def readyz(request: Request) -> JSONResponse:
        """Store and checkpoints reachable, recovery done."""
        if not request.app.state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        request.app.state.runtime.manager.store.list(None, None, 1, 0)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text format."""
        manager = request.app.state.runtime.manager
        for status in ("queued", "running", "waiting_for_approval", "paused", "succeeded", "failed", "cancelled"):
            manager.metrics.runs.labels(status).set(manager.store.list(status, None, 1, 0)[1])
        return PlainTextResponse(manager.metrics.render().decode(), media_type="text/plain; version=0.0.4")

    if WEB_DIR.exists():
        app.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="web")

        @app.get("/", include_in_schema=False)
        async def index() -> RedirectResponse:
            return RedirectResponse("/ui/")

    app.add_middleware(BodyLimit)
    return app


async def _retention(manager: Any, settings: Settings) -> None:
    """Delete finished runs past the retention period, hourly."""
    while True:
        with contextlib.suppress(Exception):
            purged = await manager.purge(settings.retention_days * 86_400)
            if purged:
                log.info("retention: deleted %d finished runs", len(purged))
        await asyncio.sleep(3600)

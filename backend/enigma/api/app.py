"""The FastAPI app factory: lifespan (runtime, recovery, retention), errors, health, metrics.

Validation failures answer 422 with the field named; unknown runs 404; actions the run's
status does not allow 409; oversize bodies 413. No handler lets bad input become a 500, and
an unexpected error answers a plain 500 whose body carries no exception text (that could
echo a header or a URL with credentials); the traceback goes to the log.

Around the routes, outermost first: `SecurityHeaders` (headers.py) on every answer,
`Authenticate` (auth.py: the token before any validation), then `BodyLimit`. The 500 of an
unexpected error is answered outside the middleware stack, so it adds the headers itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enigma.api.auth import Authenticate, TokenBook
from enigma.api.docs import mount_docs
from enigma.api.headers import SECURITY_HEADERS, SecurityHeaders
from enigma.api.notify_routes import router as notify_router
from enigma.api.policy_routes import router as policy_router
from enigma.api.routes import router
from enigma.bootstrap import Runtime, check_policy, open_runtime
from enigma.context import Context
from enigma.policy import PolicyError
from enigma.runs.manager import RunManager
from enigma.runs.store import StoreUnavailable
from enigma.settings import Settings
from enigma.shipped import WEB_DIR

__all__ = ["MAX_BODY_BYTES", "RUN_STATUSES", "BodyLimit", "create_app"]

log = logging.getLogger("enigma.api")
MAX_BODY_BYTES = 64 * 1024
RETRY_AFTER_SECONDS = 5
READY_PROBE_SECONDS = 0.8
RUN_STATUSES = (
    "queued",
    "running",
    "waiting_for_approval",
    "paused",
    "succeeded",
    "failed",
    "cancelled",
)


class StartupRefused(RuntimeError):
    """The service will not start (the log says why)."""


OnReady = Callable[[Runtime, str | None], None]
"""Called once the service is ready, with the runtime and the generated demo token (if any)."""


class BodyLimit:
    """Refuse request bodies over the limit with 413 before any handler acts on them.

    A declared Content-Length over the limit is refused at once. A chunked body (no length)
    is counted as the handler reads it: past the limit the 413 is sent, the handler is told
    the client went away, and whatever it answers then is dropped.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, guarded)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body over {self.limit} bytes", "errors": []}, status_code=413
        )
        await response(scope, receive, send)


def _not_ready(cause: str) -> JSONResponse:
    return JSONResponse(
        {"status": "unavailable", "cause": cause},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append({"field": ".".join(loc) or "body", "message": message})
    return out


def _freeze_startup_objects() -> None:
    """Leave what the service was built from out of the collector's full passes.

    Imports, the graph, the routes and the runtime are ~160,000 tracked objects that live as
    long as the process; a full (generation 2) collection walks every one of them, ~80 ms
    on this kind of machine, and a busy service (a page of runs is ~250 KB of JSON) ran one
    every dozen requests: the p99 of `GET /api/runs` was that pause (bench row 8b: 85 ms,
    9 ms once frozen). A frozen object that later becomes cyclic garbage is not collected;
    reference counting still frees everything else. Nearly all of it lives until exit; the
    exception is what the runs resumed at start had built by that moment, once and bounded.
    """
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    context: Context | None = None,
    on_ready: OnReady | None = None,
) -> FastAPI:
    """Build the service; everything heavy opens in the lifespan, inside the event loop.

    The release policy is checked here, before anything starts: PolicyError (every problem,
    with its line) stops a service that could not follow it.
    """
    settings = settings or Settings()
    if context is None:  # a context brings its own clients: no sandbox, no example policy
        check_policy(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        book, demo_token = TokenBook.from_settings(settings)
        app.state.tokens = book
        try:
            async with open_runtime(settings, context) as runtime:
                app.state.runtime = runtime
                app.state.policy = runtime.policy
                _freeze_startup_objects()
                retention = asyncio.get_running_loop().create_task(
                    _retention(runtime.manager, settings)
                )
                app.state.ready = True
                if on_ready is not None:
                    on_ready(runtime, demo_token)
                try:
                    yield
                finally:
                    app.state.ready = False
                    retention.cancel()
        except PolicyError as exc:  # a service must not start on a policy it cannot follow
            log.error("%s\nThe service does not start: fix the file (enigma policy check).", exc)
            raise StartupRefused("invalid release policy") from None

    app = FastAPI(
        title="Enigma",
        version="0.1.0",
        summary="Release orchestration: Jira tickets to released versions, as a durable workflow.",
        lifespan=lifespan,
        docs_url=None,  # served offline by mount_docs (docs.py)
        redoc_url=None,
    )
    app.state.ready = False

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        text = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse(
            {"detail": f"invalid request: {text}", "errors": errors}, status_code=422
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc.detail), "errors": []},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": f"service degraded: {exc.cause}; try again shortly", "errors": []},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            {"detail": "internal error; the service log has the details", "errors": []},
            status_code=500,
            headers=SECURITY_HEADERS,
        )

    app.include_router(router)
    app.include_router(policy_router)
    app.include_router(notify_router)
    mount_docs(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process answers (liveness: never waits on the database)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "not ready, and why"}})
    async def readyz(request: Request) -> JSONResponse:
        """Recovery done and the run store writable now (answers within a second)."""
        if not request.app.state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        manager: RunManager = request.app.state.runtime.manager
        try:
            async with asyncio.timeout(READY_PROBE_SECONDS):
                await manager.store.probe()
        except StoreUnavailable as exc:
            return _not_ready(exc.cause)
        except TimeoutError:
            return _not_ready("database not answering")
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text format; wants a token when ENIGMA_METRICS_TOKEN is set."""
        manager: RunManager = request.app.state.runtime.manager
        for status in RUN_STATUSES:
            count = (await manager.store.list_runs(status, None, 1, 0))[1]
            manager.metrics.runs.labels(status).set(count)
        for status, count in (await manager.store.outbox_counts()).items():
            manager.metrics.notifications.labels(status).set(count)
        return PlainTextResponse(
            manager.metrics.render().decode(), media_type="text/plain; version=0.0.4"
        )

    if WEB_DIR.exists():
        app.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="web")

        @app.get("/", include_in_schema=False)
        async def index() -> RedirectResponse:
            return RedirectResponse("/ui/")

    app.add_middleware(BodyLimit)
    app.add_middleware(Authenticate, metrics_token=settings.metrics_token)
    app.add_middleware(SecurityHeaders)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, made exact where FastAPI's default is loose.

    - An optional query or header parameter is absent, never JSON `null`: FastAPI documents
      it as `anyOf [T, null]`, which tells clients (and schemathesis) that `?status=null` is
      valid; only `T` is kept.
    - The repositories a run may name are this deployment's: they are listed as an enum, so
      the docs offer them and a schema-valid request is one the service accepts.
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                options = parameter.get("schema", {}).get("anyOf")
                if parameter.get("in") != "path" and options:
                    kept = [o for o in options if o.get("type") != "null"]
                    if len(kept) == 1:
                        parameter["schema"] = {**parameter["schema"], **kept[0]}
                        del parameter["schema"]["anyOf"]
    runtime: Runtime | None = getattr(app.state, "runtime", None)
    if runtime is None:
        return schema  # not cached: asked before start-up finished
    if runtime.repositories:
        request = schema["components"]["schemas"]["RunRequest"]
        request["properties"]["repositories"]["items"]["enum"] = list(runtime.repositories)
    app.openapi_schema = schema
    return schema


async def _retention(manager: RunManager, settings: Settings) -> None:
    """Delete finished runs past the retention period, hourly."""
    while True:
        try:
            purged = await manager.purge(settings.retention_days * 86_400)
        except Exception:  # retention must not stop for one failure; the next hour retries
            log.exception("retention failed")
        else:
            if purged:
                log.info("retention: deleted %d finished runs", len(purged))
        await asyncio.sleep(3600)

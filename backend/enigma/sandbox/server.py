"""Assemble the three peers into one ASGI app and run it on a loopback port.

One server, three path prefixes (`/jira`, `/github/api/v3`, `/confluence`), the way on-premise
installations sit behind a context path. The real clients accept such bases, and it makes
every peer prove that the URLs it returns honour the prefix it was reached under.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from enigma.sandbox.core import (
    DEFAULT_SEED,
    FaultRule,
    PeerError,
    PeerSpec,
    Sandbox,
    check_token,
    spec_for_path,
)
from enigma.sandbox.middleware import SandboxMiddleware, SimulatedDrop
from enigma.sandbox.views import build_views_router

__all__ = ["SandboxServer", "SandboxUrls", "build_app", "peers", "reset_sandbox", "seed_if_empty"]

log = logging.getLogger("enigma.sandbox")


def peers() -> list[PeerSpec]:
    """The peers this sandbox serves, imported late so each module stays independent."""
    from enigma.sandbox.confluence_peer import PEER as CONFLUENCE
    from enigma.sandbox.github_peer import PEER as GITHUB
    from enigma.sandbox.jira_peer import PEER as JIRA

    return [JIRA, GITHUB, CONFLUENCE]


def seed_if_empty(sandbox: Sandbox, specs: list[PeerSpec]) -> None:
    """Seed every peer the first time a data directory is used."""
    with sandbox.store.transaction() as tx:
        if tx.get_meta("seeded") is not None:
            return
        for peer in specs:
            peer.seed(sandbox)
        tx.set_meta("seeded", str(time.time()))


def reset_sandbox(sandbox: Sandbox, specs: list[PeerSpec]) -> None:
    """Back to the seed: data, effect log, faults, request log and repositories."""
    with sandbox.store.transaction():
        sandbox.store.wipe()
        sandbox.faults.clear()
        sandbox.requests.clear()
        shutil.rmtree(sandbox.repos_dir, ignore_errors=True)
        seed_if_empty(sandbox, specs)


def _admin_router(
    sandbox: Sandbox, peer: str | None, prefix: str, specs: list[PeerSpec]
) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox admin"])

    @router.get("/effects")
    def effects(after: int = 0) -> dict[str, Any]:
        return {"effects": sandbox.store.effects(peer=peer, after=after)}

    @router.post("/faults")
    def add_faults(rules: FaultRule | list[FaultRule]) -> dict[str, Any]:
        new = rules if isinstance(rules, list) else [rules]
        if prefix:  # a peer's own admin API only faults that peer's routes
            new = [r.model_copy(update={"path_prefix": prefix}) for r in new]
        sandbox.faults.add(new)
        return {"rules": [r.model_dump() for r in sandbox.faults.rules]}

    @router.get("/faults")
    def list_faults() -> dict[str, Any]:
        return {
            "rules": [r.model_dump() for r in sandbox.faults.rules],
            "injected": sandbox.faults.injected,
        }

    @router.delete("/faults")
    def clear_faults() -> dict[str, Any]:
        sandbox.faults.clear()
        return {"rules": []}

    @router.get("/requests")
    def requests(after: int = 0) -> dict[str, Any]:
        found = sandbox.requests.entries(after)
        if prefix:
            found = [r for r in found if r["path"].startswith(prefix)]
        return {"requests": found, "total": len(found)}

    @router.delete("/requests")
    def clear_requests() -> dict[str, Any]:
        sandbox.requests.clear()
        return {"requests": []}

    @router.post("/reset")
    def reset() -> dict[str, Any]:
        reset_sandbox(sandbox, specs)
        return {"reset": True}

    return router


def build_app(sandbox: Sandbox, specs: list[PeerSpec] | None = None) -> FastAPI:
    """The sandbox as one ASGI app: the peers, their admin APIs and fault injection."""
    app = FastAPI(title="Enigma sandbox", docs_url="/_sandbox/docs", openapi_url=None)
    specs = peers() if specs is None else specs

    @app.exception_handler(PeerError)
    async def peer_error(request: Request, exc: PeerError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    _answer_errors_in_peer_shape(app, specs)
    for spec in specs:
        admin = _admin_router(sandbox, spec.name, spec.prefix, specs)
        app.include_router(admin, prefix=spec.prefix)
        app.include_router(
            spec.build_router(sandbox),
            prefix=spec.prefix + spec.api_suffix,
            dependencies=[Depends(_auth_dependency(sandbox, spec))],
        )
    app.include_router(_admin_router(sandbox, None, "", specs))
    app.include_router(build_views_router(sandbox))
    app.add_middleware(SandboxMiddleware, sandbox=sandbox, specs=specs)
    for spec in specs:  # added last, so outside: they see injected faults' answers too
        if spec.middleware is not None:
            app.add_middleware(spec.middleware, sandbox=sandbox)
    return app


def _answer_errors_in_peer_shape(app: FastAPI, specs: list[PeerSpec]) -> None:
    """Unknown routes, wrong methods and malformed requests answer in the peer's own shape.

    FastAPI would answer `{"detail": ...}`, which no real Jira, GitHub or Confluence does;
    a client that reads the error (PyGithub's `message`, jira's `errorMessages`) would then
    see nothing. Paths outside every peer keep FastAPI's answers.
    """

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        spec = spec_for_path(specs, request.url.path)
        if spec is None:
            return await http_exception_handler(request, exc)
        body = spec.error_body(exc.status_code, str(exc.detail))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        spec = spec_for_path(specs, request.url.path)
        if spec is None:
            return await request_validation_exception_handler(request, exc)
        if spec.validation_error is not None:
            error = spec.validation_error(exc.errors())
        else:
            text = "; ".join(_describe(e) for e in exc.errors())
            error = PeerError(400, spec.error_body(400, text))
        return JSONResponse(error.body, status_code=error.status, headers=error.headers)


def _describe(error: Any) -> str:
    """`query.startAt: Input should be a valid integer` from one pydantic error."""
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error.get('msg', 'invalid')}"


def _auth_dependency(sandbox: Sandbox, spec: PeerSpec) -> Any:
    def require_token(request: Request) -> None:
        if not check_token(sandbox, request.headers.get("authorization")):
            raise PeerError(401, spec.error_body(401, "Authentication required: bad or no token"))

    return require_token


class _DropFilter(logging.Filter):
    """Keep injected connection drops out of the server's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedDrop)


@dataclass(frozen=True)
class SandboxUrls:
    """Where the peers answer, and the token they accept."""

    jira: str
    github: str
    confluence: str
    token: str
    admin: str

    @classmethod
    def at(cls, root: str, token: str) -> SandboxUrls:
        """The URLs of a sandbox answering at `root` (e.g. http://127.0.0.1:8471)."""
        return cls(
            jira=f"{root}/jira",
            github=f"{root}/github/api/v3",
            confluence=f"{root}/confluence",
            token=token,
            admin=root,
        )

    def as_dict(self) -> dict[str, str]:
        """The JSON line `enigma sandbox --json` prints."""
        return {
            "jira": self.jira,
            "github": self.github,
            "confluence": self.confluence,
            "token": self.token,
        }


class SandboxServer:
    """Run the sandbox with uvicorn in a background thread (tests, CLI, demo)."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        seed_file: Path = DEFAULT_SEED,
        settings: dict[str, Any] | None = None,
        fault_seed: int | None = None,
        specs: list[PeerSpec] | None = None,
    ):
        self.sandbox = Sandbox(
            data_dir, token=token, seed_file=seed_file, settings=settings, fault_seed=fault_seed
        )
        self.specs = peers() if specs is None else specs
        seed_if_empty(self.sandbox, self.specs)
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            build_app(self.sandbox, self.specs),
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        logging.getLogger("uvicorn.error").addFilter(_DropFilter())

    @property
    def urls(self) -> SandboxUrls:
        """Base URLs to hand the real clients."""
        return SandboxUrls.at(f"http://{self.host}:{self.port}", self.sandbox.token)

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Start serving and wait until the socket accepts requests."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sandbox did not start; see the log above")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and close the store."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()
        self.sandbox.store.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

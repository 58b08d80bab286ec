"""Shared machinery of the sandbox peers: store, side-effect log, fault injection and auth.

The sandbox stands in for Jira, GitHub and Confluence. Each peer is a FastAPI router built by a
`PeerSpec` and mounted under its own path prefix on one server (see `server.py`). Everything a
peer keeps lives in one SQLite file in the data directory, so a restarted sandbox carries on
where it stopped, and every write a peer performs is appended to the side-effect log in the
same transaction as the data it changes. Tests read that log to prove that nothing was done
twice and nothing was lost.

Writing a peer:

    def build_router(sandbox: Sandbox) -> APIRouter: ...   # routes WITHOUT the prefix
    def seed(sandbox: Sandbox) -> None: ...                 # load sandbox.seed into the store
    PEER = PeerSpec(name="jira", prefix="/jira", build_router=build_router, seed=seed,
                    error_body=lambda status, msg: {"errorMessages": [msg], "errors": {}})

Inside a handler:

    with sandbox.store.transaction() as tx:
        tx.put("jira", "issue", key, doc)
        tx.record_effect(request, "jira", "transition", f"jira:transition:{key}:Done", {...})

Handlers that do blocking work (git, SQLite) are plain `def` so FastAPI runs them in its
thread pool; the store serialises access with a lock. Raise `PeerError` for an error answer
in the peer's own JSON shape.

The pieces live beside this module: `store.py` (SQLite documents and the effect log),
`faults.py` (fault rules), `middleware.py` (request ids, applying faults), `server.py`
(assembling the app); their public names are importable from here as before.
"""

from __future__ import annotations

import base64
import secrets
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.types import ASGIApp

from enigma.sandbox.faults import FaultInjector, FaultRule
from enigma.sandbox.request_log import RequestLog
from enigma.sandbox.store import Store, Transaction, request_id
from enigma.shipped import SANDBOX_SEED

__all__ = [
    "DEFAULT_SEED",
    "FaultInjector",
    "FaultRule",
    "PeerError",
    "PeerSpec",
    "Sandbox",
    "Store",
    "Transaction",
    "base_url",
    "check_token",
    "request_id",
    "spec_for_path",
]

DEFAULT_SEED = SANDBOX_SEED
"""The seed shipped in the package (`enigma/sandbox/seed.toml`)."""


class PeerError(Exception):
    """An error answer in the peer's own JSON shape (Jira, GitHub and Confluence differ)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass(frozen=True)
class PeerSpec:
    """How to build, seed and describe one peer.

    `error_body(status, message)` is the peer's error shape: every error answered under its
    prefix (auth, unknown routes, malformed requests, injected faults) is written with it.
    `validation_error` turns FastAPI's request-validation errors into the peer's own answer
    (default: 400 with `error_body`). `middleware(app, sandbox=...)`, when given, wraps the
    whole app; it must pass through requests outside the peer's own paths.
    """

    name: str
    prefix: str
    build_router: Callable[[Sandbox], APIRouter]
    seed: Callable[[Sandbox], None]
    error_body: Callable[[int, str], dict[str, Any]]
    api_suffix: str = ""
    validation_error: Callable[[Sequence[Any]], PeerError] | None = None
    middleware: Callable[..., ASGIApp] | None = None


def spec_for_path(specs: Iterable[PeerSpec], path: str) -> PeerSpec | None:
    """The peer whose prefix a request path is under (the longest prefix wins)."""
    hits = [s for s in specs if path == s.prefix or path.startswith(s.prefix.rstrip("/") + "/")]
    return max(hits, key=lambda s: len(s.prefix), default=None)


class Sandbox:
    """Everything the peers share: data directory, token, seed, store, faults, request log."""

    def __init__(
        self,
        data_dir: Path,
        token: str | None = None,
        seed_file: Path = DEFAULT_SEED,
        fault_seed: int | None = None,
        settings: dict[str, Any] | None = None,
    ):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.token = token or _load_or_create_token(data_dir / "token")
        self.seed_file = seed_file
        self.seed: dict[str, Any] = tomllib.loads(seed_file.read_text())
        self.settings: dict[str, Any] = dict(settings or {})
        self.store = Store(data_dir / "sandbox.sqlite3")
        self.faults = FaultInjector(seed=fault_seed)
        self.requests = RequestLog()
        self.repos_dir = data_dir / "repos"

    def setting(self, name: str, default: Any) -> Any:
        """A run-time override (tests shorten CI delays), else the seed's value, else default."""
        return self.settings.get(name, default)


def _load_or_create_token(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    token = "sbx_" + secrets.token_urlsafe(24)
    path.write_text(token)
    path.chmod(0o600)
    return token


def base_url(request: Request, prefix: str) -> str:
    """Absolute base URL of a peer as the client addressed it, e.g. http://127.0.0.1:5/jira."""
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}{prefix}"


def check_token(sandbox: Sandbox, authorization: str | None) -> bool:
    """Accept the token as `Bearer T`, `token T` (PyGithub) or Basic `user:T`."""
    if not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme in ("bearer", "token"):
        return secrets.compare_digest(value.strip(), sandbox.token)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except ValueError:
            return False
        return secrets.compare_digest(decoded.partition(":")[2], sandbox.token)
    return False

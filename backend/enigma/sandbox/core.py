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
"""

from __future__ import annotations

import asyncio
import builtins
import json
import random
import re
import secrets
import sqlite3
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
]

DEFAULT_SEED = Path(__file__).resolve().parents[3] / "data" / "sandbox" / "seed.toml"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    peer TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
    UNIQUE (peer, kind, id)
);
CREATE TABLE IF NOT EXISTS effects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, peer TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
    method TEXT NOT NULL, path TEXT NOT NULL, request_id TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class PeerError(Exception):
    """An error answer in the peer's own JSON shape (Jira, GitHub and Confluence differ)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


class Transaction:
    """Reads and writes inside one SQLite transaction; obtained from `Store.transaction()`."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def get(self, peer: str, kind: str, id: str) -> dict[str, Any] | None:
        """Return the stored document, or None."""
        row = self._conn.execute(
            "SELECT body FROM docs WHERE peer=? AND kind=? AND id=?", (peer, kind, id)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, peer: str, kind: str, id: str, doc: dict[str, Any]) -> None:
        """Insert or replace a document (insertion order is kept for listing)."""
        self._conn.execute(
            "INSERT INTO docs (peer, kind, id, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (peer, kind, id) DO UPDATE SET body = excluded.body",
            (peer, kind, id, json.dumps(doc)),
        )

    def delete(self, peer: str, kind: str, id: str) -> bool:
        """Delete a document; True if it existed."""
        cur = self._conn.execute(
            "DELETE FROM docs WHERE peer=? AND kind=? AND id=?", (peer, kind, id)
        )
        return cur.rowcount > 0

    def list(self, peer: str, kind: str) -> list[dict[str, Any]]:
        """All documents of a kind, oldest first."""
        rows = self._conn.execute(
            "SELECT body FROM docs WHERE peer=? AND kind=? ORDER BY seq", (peer, kind)
        ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def next_id(self, name: str, start: int = 1) -> int:
        """A counter that only goes up (issue numbers, comment ids, ...)."""
        row = self._conn.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        value = start if row is None else int(row[0]) + 1
        self._conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )
        return value

    def record_effect(
        self,
        request: Request | None,
        peer: str,
        kind: str,
        key: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one side effect to the log, atomically with the data written beside it."""
        method = request.method if request is not None else "INTERNAL"
        path = request.url.path if request is not None else ""
        rid = request_id(request) if request is not None else ""
        self._conn.execute(
            "INSERT INTO effects (at, peer, kind, key, method, path, request_id, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), peer, kind, key, method, path, rid, json.dumps(detail or {})),
        )

    def get_meta(self, key: str) -> str | None:
        """A small string setting kept with the data (seeded marker, flags)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a small string setting."""
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class Store:
    """The sandbox's SQLite file: documents, counters and the side-effect log."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(_SCHEMA)
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One atomic unit of work; nested calls join the outer transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield Transaction(self._conn)
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    def get(self, peer: str, kind: str, id: str) -> dict[str, Any] | None:
        """Read one document outside an explicit transaction."""
        with self.transaction() as tx:
            return tx.get(peer, kind, id)

    def list(self, peer: str, kind: str) -> list[dict[str, Any]]:
        """List documents outside an explicit transaction."""
        with self.transaction() as tx:
            return tx.list(peer, kind)

    def effects(self, peer: str | None = None, after: int = 0) -> builtins.list[dict[str, Any]]:
        """The side-effect log, oldest first, optionally for one peer and after an id."""
        sql = "SELECT id, at, peer, kind, key, method, path, request_id, detail FROM effects"
        sql += " WHERE id > ?" + (" AND peer = ?" if peer else "") + " ORDER BY id"
        args: tuple[Any, ...] = (after, peer) if peer else (after,)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        names = ("id", "at", "peer", "kind", "key", "method", "path", "request_id")
        return [dict(zip(names, r[:8], strict=True)) | {"detail": json.loads(r[8])} for r in rows]

    def wipe(self) -> None:
        """Forget everything (used by reset before re-seeding)."""
        with self.transaction():
            for table in ("docs", "effects", "counters", "meta"):
                self._conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


FaultKind = Literal["latency", "error", "rate_limit", "drop", "drop_after"]


class FaultRule(BaseModel):
    """One injected fault: which requests it hits, how often, and what happens to them.

    kinds: `latency` (sleep, then answer normally), `error` (answer `status`, default 503,
    without running the handler), `rate_limit` (429 with Retry-After, handler not run),
    `drop` (the connection is reset before the handler runs), `drop_after` (the handler runs
    and its side effects happen, then the connection is reset so the client never sees the
    answer: the case that tests idempotency).
    """

    kind: FaultKind
    route: str = Field(".*", description="regular expression searched in the request path")
    path_prefix: str = Field("", description="only paths under this prefix (a peer's own)")
    methods: list[str] | None = Field(None, description="HTTP methods hit; None means all")
    probability: float = Field(1.0, ge=0.0, le=1.0)
    count: int | None = Field(None, ge=1, description="hit only the next N matching calls")
    status: int = Field(503, ge=400, le=599)
    retry_after: float = Field(1.0, ge=0.0)
    latency_ms: int = Field(0, ge=0, le=60_000)

    def hits(self, method: str, path: str) -> bool:
        """Whether the rule applies to this request (before probability and count)."""
        if self.methods is not None and method.upper() not in {m.upper() for m in self.methods}:
            return False
        if not path.startswith(self.path_prefix):
            return False
        return re.search(self.route, path) is not None


@dataclass
class FaultInjector:
    """The active fault rules; thread-safe, deterministic for a given seed."""

    seed: int | None = None
    rules: list[FaultRule] = field(default_factory=list)
    injected: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def add(self, rules: list[FaultRule]) -> None:
        """Add rules; they apply in the order given."""
        with self._lock:
            self.rules.extend(rules)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self.rules.clear()

    def pick(self, method: str, path: str) -> tuple[int, FaultRule | None]:
        """Total latency to add and the failing rule to apply (if any) for one request."""
        latency = 0
        chosen: FaultRule | None = None
        with self._lock:
            for rule in list(self.rules):
                if not rule.hits(method, path) or self._rng.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self.rules.remove(rule)
                if rule.kind == "latency":
                    latency += rule.latency_ms
                    continue
                chosen = rule
                self.injected += 1
                break
        return latency, chosen


@dataclass(frozen=True)
class PeerSpec:
    """How to build, seed and describe one peer."""

    name: str
    prefix: str
    build_router: Callable[[Sandbox], APIRouter]
    seed: Callable[[Sandbox], None]
    error_body: Callable[[int, str], dict[str, Any]]
    api_suffix: str = ""


class Sandbox:
    """Everything the peers share: data directory, token, seed, store and faults."""

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


def request_id(request: Request) -> str:
    """The id the middleware gave this request (echoed as X-Request-Id)."""
    return str(request.scope.get("state", {}).get("request_id", ""))


def base_url(request: Request, prefix: str) -> str:
    """Absolute base URL of a peer as the client addressed it, e.g. http://127.0.0.1:5/jira."""
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}{prefix}"


def check_token(sandbox: Sandbox, authorization: str | None) -> bool:
    """Accept the token as `Bearer T`, `token T` (PyGithub) or Basic `user:T`."""
    import base64

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


class SimulatedDrop(Exception):
    """Raised to make the server drop a connection where the transport cannot be reached."""


class SandboxMiddleware:
    """Gives every request an id and applies injected faults before or after the handler.

    A pure ASGI middleware rather than BaseHTTPMiddleware: a dropped connection has to close the
    socket without an answer, which needs the transport. uvicorn's `receive` is a bound method
    of the request cycle that holds the transport; when it is reachable we `abort()` it (the
    client sees a reset connection), otherwise we start a response and break it off.
    """

    def __init__(self, app: ASGIApp, sandbox: Sandbox):
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _header(scope, b"x-request-id") or secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        path: str = scope["path"]
        if "/_sandbox/" in path or path.endswith("/_sandbox"):
            await self.app(scope, receive, _with_request_id(send, rid))
            return
        latency, rule = self.sandbox.faults.pick(scope["method"], path)
        if latency:
            await asyncio.sleep(latency / 1000)
        if rule is None:
            await self.app(scope, receive, _with_request_id(send, rid))
        elif rule.kind in ("error", "rate_limit"):
            await _send_fault(rule, scope, send)
        elif rule.kind == "drop":
            await _drop(receive, send)
        else:  # drop_after: let the handler act, then lose its answer
            await self.app(scope, receive, _discard)
            await _drop(receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _with_request_id(send: Send, rid: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
        await send(message)

    return wrapped


async def _discard(message: Message) -> None:
    return None


async def _send_fault(rule: FaultRule, scope: Scope, send: Send) -> None:
    status = 429 if rule.kind == "rate_limit" else rule.status
    body = json.dumps({"message": f"sandbox injected fault: {status}"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if rule.kind == "rate_limit":
        headers.append((b"retry-after", str(round(rule.retry_after)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(receive: Receive, send: Send) -> None:
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        await asyncio.sleep(0)
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
    )
    raise SimulatedDrop("sandbox injected a dropped connection")

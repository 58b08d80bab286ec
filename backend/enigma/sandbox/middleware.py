"""The ASGI middleware in front of every peer: request ids, the request log, injected faults.

Every request gets an id (the client's `X-Request-Id`, or a new one) that is echoed in the
answer and recorded with each side effect, and an entry in the request log (`request_log.py`)
with its timing, injected latency included: the time the client waited. Requests to the admin
API (`/_sandbox/...`) are never faulted nor logged, so a test can always clear the faults it
set and read the log without changing it.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enigma.sandbox.core import PeerSpec, Sandbox, spec_for_path
from enigma.sandbox.faults import FaultRule

__all__ = ["RATE_LIMIT_MESSAGE", "SandboxMiddleware", "SimulatedDrop"]

# GitHub's words for an exhausted primary rate limit (an installation token's quota).
RATE_LIMIT_MESSAGE = "API rate limit exceeded for installation ID 1."


class SimulatedDrop(Exception):
    """Raised to make the server drop a connection where the transport cannot be reached."""


class SandboxMiddleware:
    """Gives every request an id and applies injected faults before or after the handler.

    A pure ASGI middleware rather than BaseHTTPMiddleware: a dropped connection has to close the
    socket without an answer, which needs the transport. uvicorn's `receive` is a bound method
    of the request cycle that holds the transport; when it is reachable we `abort()` it (the
    client sees a reset connection), otherwise we start a response and break it off.
    """

    def __init__(self, app: ASGIApp, sandbox: Sandbox, specs: Sequence[PeerSpec] = ()):
        self.app = app
        self.sandbox = sandbox
        self.specs = tuple(specs)

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
        query = scope.get("query_string", b"").decode("latin-1")
        entry = self.sandbox.requests.start(scope["method"], path, query)
        status: list[int] = []
        send = _with_status(send, status)
        try:
            await self._answer(scope, receive, send, rid)
        finally:
            self.sandbox.requests.finish(entry, status[0] if status else None)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        path: str = scope["path"]
        latency, rule = self.sandbox.faults.pick(scope["method"], path)
        if latency:
            await asyncio.sleep(latency / 1000)
        if rule is None:
            await self.app(scope, receive, _with_request_id(send, rid))
        elif rule.kind in ("error", "rate_limit", "primary_rate_limit"):
            await _send_fault(rule, spec_for_path(self.specs, path), send)
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


def _with_status(send: Send, status: list[int]) -> Send:
    """`send` that notes the answer's status in `status` (the request log's)."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))
        await send(message)

    return wrapped


async def _discard(message: Message) -> None:
    return None


async def _send_fault(rule: FaultRule, spec: PeerSpec | None, send: Send) -> None:
    """Answer for the peer whose path was hit, in that peer's error shape."""
    headers = [(b"content-type", b"application/json")]
    if rule.kind == "primary_rate_limit":
        status, message = 403, RATE_LIMIT_MESSAGE
        reset = math.ceil(time.time() + rule.reset_after)
        headers += [(b"x-ratelimit-remaining", b"0"), (b"x-ratelimit-reset", str(reset).encode())]
        headers.append((b"x-ratelimit-resource", b"core"))
    else:
        status = 429 if rule.kind == "rate_limit" else rule.status
        message = f"sandbox injected fault: {status}"
    if rule.kind == "rate_limit":
        headers.append((b"retry-after", str(round(rule.retry_after)).encode()))
    shaped: dict[str, Any] = (
        {"message": message} if spec is None else spec.error_body(status, message)
    )
    body = json.dumps(shaped).encode()
    headers.append((b"content-length", str(len(body)).encode()))
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

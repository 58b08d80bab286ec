"""GitHub's primary rate limit: the X-RateLimit-* headers on every API answer, and its 403.

Every answer under `/github/api/v3` carries `X-RateLimit-Limit`, `-Remaining`, `-Used`,
`-Reset` (epoch seconds) and `-Resource: core`, counted over a window as GitHub counts an
installation token's quota. Options (a sandbox setting, else the seed's `[github]` table):

    rate_limit                  requests per window (default 5000)
    rate_limit_window_seconds   length of the window (default 3600)
    rate_limit_enforced         when true, a request past the quota is refused with GitHub's
                                403 until the window resets (default false: the window
                                starts over instead, so a long demo never runs dry)

GitHub's refusal is a 403, not a 429: `X-RateLimit-Remaining: 0`, no Retry-After, and the
body `{"message": "API rate limit exceeded for installation ID 1.", ...}`, which is what
PyGithub matches to raise `RateLimitExceededException`. The fault kind `primary_rate_limit`
(see `faults.py`) answers the same way for chosen requests without touching the count. This
middleware sits outside the fault middleware, so injected answers carry the headers too; an
answer that already reports `X-RateLimit-Remaining` (the fault's 0) keeps it, and the other
headers are made consistent with it.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enigma.sandbox.core import Sandbox
from enigma.sandbox.github_host import API_PREFIX, error_body, github_option
from enigma.sandbox.middleware import RATE_LIMIT_MESSAGE

__all__ = ["GitHubRateLimit", "Quota", "RateWindow"]


@dataclass(frozen=True)
class Quota:
    """The rate-limit numbers one answer reports."""

    limit: int
    remaining: int
    reset: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The five X-RateLimit-* headers GitHub sends."""
        values = {
            b"x-ratelimit-limit": self.limit,
            b"x-ratelimit-remaining": self.remaining,
            b"x-ratelimit-used": self.limit - self.remaining,
            b"x-ratelimit-reset": self.reset,
        }
        pairs = [(name, str(value).encode()) for name, value in values.items()]
        return [*pairs, (b"x-ratelimit-resource", b"core")]


class RateWindow:
    """A window of `limit` requests opened by the first request; thread-safe.

    The clock is injectable for tests.
    """

    def __init__(
        self, limit: int, seconds: float, enforced: bool, clock: Callable[[], float] = time.time
    ):
        self.limit = max(1, limit)
        self.seconds = max(1.0, seconds)
        self.enforced = enforced
        self._clock = clock
        self._lock = threading.Lock()
        self._used = 0
        self._reset = 0.0  # the first request opens the first window, as on GitHub

    def take(self) -> tuple[bool, Quota]:
        """Count one request: (allowed, the numbers to report with the answer)."""
        with self._lock:
            now = self._clock()
            if now >= self._reset:
                self._used, self._reset = 0, now + self.seconds
            if self._used >= self.limit:
                if self.enforced:
                    return False, self._quota()
                self._used, self._reset = 0, now + self.seconds  # not enforced: start over
            self._used += 1
            return True, self._quota()

    def _quota(self) -> Quota:
        return Quota(self.limit, self.limit - self._used, math.ceil(self._reset))


class GitHubRateLimit:
    """ASGI middleware: count GitHub API requests, report the quota, refuse past it."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox):
        self.app = app
        self.window = RateWindow(
            int(github_option(sandbox, "rate_limit", 5000)),
            float(github_option(sandbox, "rate_limit_window_seconds", 3600)),
            bool(github_option(sandbox, "rate_limit_enforced", False)),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(API_PREFIX + "/") or "/_sandbox" in path:
            await self.app(scope, receive, send)
            return
        allowed, quota = self.window.take()
        if not allowed:
            await _refuse(quota, send)
            return
        await self.app(scope, receive, _with_quota(send, quota))


def _with_quota(send: Send, quota: Quota) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = _merge(list(message.get("headers", [])), quota)
        await send(message)

    return wrapped


def _merge(headers: list[tuple[bytes, bytes]], quota: Quota) -> list[tuple[bytes, bytes]]:
    """Add the quota's headers; an answer that reports its own remaining count keeps it."""
    present = {name.lower(): value for name, value in headers}
    own = present.get(b"x-ratelimit-remaining")
    if own is not None:
        remaining = int(own)
        reset = int(present.get(b"x-ratelimit-reset", str(quota.reset).encode()))
        quota = Quota(quota.limit, remaining, reset)
    return headers + [(n, v) for n, v in quota.headers() if n not in present]


async def _refuse(quota: Quota, send: Send) -> None:
    body = json.dumps(error_body(403, RATE_LIMIT_MESSAGE)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers + quota.headers()})
    await send({"type": "http.response.body", "body": body})

"""Blocking client calls from async code: on the run's I/O threads, with outages waited out.

The vendor clients (jira, PyGithub, atlassian-python-api, git) block, so a node hands each
call to an executor sized by settings (`call_patiently(..., executor=...)`); the thread is
held for the length of the call only, never for a wait.

The choke point (`http.call`) already retries a blip a few times inside the call. When a
service stays down (refused connections, timeouts, 5xx, rate limits), the error that comes
out is still a `TransientError`: an outage, not a failure of the release. It is waited out
here, in the event loop, with capped exponential backoff (never sooner than Retry-After),
while the run's scope reports the cause ("github unreachable") so people can see why the run
waits. When the service answers, the run goes on by itself. Only once the outage budget is
spent does the error reach the workflow (`OutageExhausted`), which then asks a human.
Re-running the whole call is safe because every call is one check-then-act operation.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from enigma.integrations.errors import TransientError
from enigma.integrations.scope import current_scope

__all__ = ["OutageExhausted", "Patience", "call_patiently", "outage_cause", "run_blocking"]

log = logging.getLogger("enigma.integrations")

T = TypeVar("T")


@dataclass(frozen=True)
class Patience:
    """How long a run waits out a dependency that does not answer, and how it looks again."""

    budget: float = 1800.0
    """Seconds of outage after which a human is asked (ENIGMA_OUTAGE_BUDGET_SECONDS)."""
    first: float = 1.0
    """First pause before looking again, in seconds; doubles each time."""
    cap: float = 30.0
    """No pause is longer than this."""


class OutageExhausted(TransientError):
    """A service stayed unavailable for the whole outage budget."""


def outage_cause(exc: TransientError) -> str:
    """What a person should read: "github unreachable", "jira answering HTTP 503", ..."""
    if exc.status is None:
        return f"{exc.service} unreachable ({exc.message})"
    if exc.status in (403, 429):
        wait = f", retry after {exc.retry_after:.0f}s" if exc.retry_after else ""
        return f"{exc.service} rate limit reached (HTTP {exc.status}{wait})"
    return f"{exc.service} answering HTTP {exc.status} ({exc.message})"


async def run_blocking(executor: Executor | None, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` on `executor` with this task's context (so the thread sees the scope)."""
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(context.run, fn, *args))


async def call_patiently(
    fn: Callable[..., T],
    *args: Any,
    executor: Executor | None = None,
    patience: Patience | None = None,
) -> T:
    """`fn(*args)` on an I/O thread; a `TransientError` is retried until the budget is spent."""
    patience = patience or Patience()
    scope = current_scope()
    loop = asyncio.get_running_loop()
    since: float | None = None
    pauses = 0
    while True:
        try:
            result = await run_blocking(executor, fn, *args)
        except TransientError as exc:
            now = loop.time()
            since = now if since is None else since
            waited = now - since
            if waited >= patience.budget:
                scope.blocked(None)
                raise OutageExhausted(
                    exc.service,
                    f"still unavailable after {waited / 60:.0f} min: {exc.message}",
                    exc.status,
                ) from None
            cause = outage_cause(exc)
            scope.blocked(cause)
            pause = min(patience.cap, patience.first * 2**pauses)
            pause = min(max(pause, exc.retry_after or 0.0), patience.budget - waited)
            pauses += 1
            log.warning("%s; waiting %.1fs before trying again", cause, pause)
            await scope.sleep(max(pause, 0.0))
            continue
        if since is not None:
            scope.blocked(None)
        return result

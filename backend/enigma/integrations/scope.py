"""The run an external call works for: its stop signal, its lease clock, where to report waits.

A run's work is spread over asyncio tasks (the graph's nodes) and I/O threads (the blocking
vendor clients). Cancelling an asyncio task does not stop a thread, so every run carries a
`RunScope`, bound in a context variable that LangGraph's tasks and our I/O threads inherit
(`contextvars.copy_context()`), and the integrations look at it:

- before every HTTP request (the `StopAdapter` mounted on each client's session) and before
  every try of the choke point, `check()` raises `RunStopped` once the run was stopped hard
  (cancel, step timeout, run deadline, lost lease) or once its lease may have lapsed;
- every backoff sleep and poll wait is `wait()` / `sleep()`, which end early on any stop,
  soft ones (pause, shutdown) included: a wait is a safe place to stop, a half-done step is not;
- git subprocesses are killed on a hard stop (`run_process`).

A call already on the wire may finish; none starts after `stop()` returned. `RunStopped` is a
`BaseException`, like `asyncio.CancelledError`, so no `except Exception` on the way can turn
a stop into an ordinary error that the workflow would record and act on.

Outside a run (tests, Studio, the CLI's reads) `current_scope()` is a scope that never stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

__all__ = [
    "RunScope",
    "RunStopped",
    "StopAdapter",
    "bind_scope",
    "current_scope",
    "guard_session",
    "run_process",
]


class RunStopped(BaseException):
    """The run this work belongs to was stopped; nothing more may be done for it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RunScope:
    """One run's stop signal, lease clock and outage reporting (see the module docstring)."""

    def __init__(
        self,
        run_id: str | None = None,
        on_blocked: Callable[[str | None], None] | None = None,
    ):
        self.run_id = run_id
        self.reason: str | None = None
        self.hard = False
        self._stopped = threading.Event()
        self._sleepers: set[asyncio.Future[None]] = set()
        self._valid_until = float("inf")
        self._on_blocked = on_blocked

    # ---- stopping ----

    def stop(self, reason: str, *, hard: bool = True) -> None:
        """Stop the run's work: `hard` also refuses every new external call."""
        if self.reason is None or (hard and not self.hard):
            self.reason = reason
        self.hard = self.hard or hard
        self._stopped.set()
        for sleeper in list(self._sleepers):  # thread-safe: stop may come from any thread
            sleeper.get_loop().call_soon_threadsafe(_wake, sleeper)

    @property
    def stopped(self) -> bool:
        """Whether any stop (soft or hard) was asked for."""
        return self._stopped.is_set()

    def lease_valid_until(self, monotonic_deadline: float) -> None:
        """Refuse external calls after this `time.monotonic()` value unless renewed."""
        self._valid_until = monotonic_deadline

    def check(self) -> None:
        """Before an external call: raise `RunStopped` if the run may not make one now."""
        if self.hard:
            raise RunStopped(self.reason or "stopped")
        if time.monotonic() > self._valid_until:
            raise RunStopped("lease may have lapsed: not acting until it is renewed")

    def wait(self, seconds: float) -> None:
        """Block the calling thread for `seconds`, or until any stop (then `RunStopped`)."""
        if self._stopped.wait(max(0.0, seconds)):
            raise RunStopped(self.reason or "stopped")

    async def sleep(self, seconds: float) -> None:
        """Sleep in the event loop for `seconds`, or until any stop (then `RunStopped`)."""
        if self.stopped:
            raise RunStopped(self.reason or "stopped")
        sleeper = asyncio.get_running_loop().create_future()
        self._sleepers.add(sleeper)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, seconds)):
                    await sleeper
        finally:
            self._sleepers.discard(sleeper)
        if self.stopped:
            raise RunStopped(self.reason or "stopped")

    # ---- waiting out outages ----

    def blocked(self, cause: str | None) -> None:
        """Report that the run waits for a dependency (`None`: it answers again)."""
        if self._on_blocked is not None:
            self._on_blocked(cause)


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)


_NEVER = RunScope()
_current: contextvars.ContextVar[RunScope] = contextvars.ContextVar(
    "enigma_run_scope", default=_NEVER
)


def current_scope() -> RunScope:
    """The scope of the run the caller works for (one that never stops outside a run)."""
    return _current.get()


@contextlib.contextmanager
def bind_scope(scope: RunScope) -> Iterator[RunScope]:
    """Make `scope` current for this task and everything it starts."""
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


class StopAdapter(HTTPAdapter):
    """A requests transport that looks at the run's scope before every request it sends."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        """Refuse to send once the run was stopped; otherwise send as usual."""
        current_scope().check()
        return super().send(request, *args, **kwargs)


def guard_session(session: requests.Session, adapter: HTTPAdapter | None = None) -> None:
    """Mount a `StopAdapter` (no retries: the choke point retries) for http and https."""
    guard = adapter if isinstance(adapter, StopAdapter) else StopAdapter(max_retries=0)
    session.mount("http://", guard)
    session.mount("https://", guard)


def run_process(
    argv: list[str], env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run` that kills the process when the run is stopped hard (or times out).

    The process gets a process group of its own: a Ctrl-C in the terminal is the CLI's to
    handle (pause at the next step), not a signal that kills git in the middle of a step.
    """
    scope = current_scope()
    scope.check()
    with subprocess.Popen(
        argv,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
    ) as proc:
        deadline = time.monotonic() + timeout
        while True:
            try:
                out, err = proc.communicate(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                if scope.hard or time.monotonic() > deadline:
                    proc.kill()
                    proc.communicate()
                    if scope.hard:
                        raise RunStopped(scope.reason or "stopped") from None
                    raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

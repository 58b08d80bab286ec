"""The one choke point every call to Jira, GitHub and Confluence goes through.

`call(service, op, policy)` runs `op`, turns whatever the client library raised into one of
our own errors (`errors.py`) and retries the transient ones. The rules:

- Transient (retried): timeouts, refused / reset / dropped connections, truncated bodies,
  HTTP 408, 425, 429 and every 5xx, and GitHub's 403 rate-limit answers.
- Permanent (raised at once, one try): 401 / 403 -> `AuthError`, 404 -> `NotFound`,
  409 -> `ConflictError`, 422 -> `Unprocessable`, any other 4xx -> `PermanentError`.
- At most `policy.max_tries` tries in all. Between tries we sleep a "full jitter" exponential
  backoff, `uniform(0, min(cap, base * 2**(n-1)))`, but never less than the server's
  `Retry-After`. A `Retry-After` longer than `policy.max_retry_after` is not slept through:
  the error is raised at once so the workflow can park the step instead of a worker.

Every try first asks the run's scope (`scope.py`) whether the run may still act, and the
sleeps between tries end when the run stops. A service that stays down past these tries is
waited out by the async layer (`patience.py`), which holds no thread while it waits.

Why the whole operation is retried rather than the request: a connection dropped after the
server acted leaves us not knowing whether the write happened. So `op` must be the complete
check-then-act step ("find the comment with this marker; post it if absent"); retrying it then
finds the first attempt's effect instead of repeating it. The clients' own retries are turned
off where they are built so that this is the only place that retries.

Logging goes to `enigma.integrations` and names the service, the error class, the status and
the server's message, never a header or a token. Mapped errors are raised `from None`:
`JIRAError.__str__` prints response headers, and a chained traceback must not carry them.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
import urllib3.exceptions
from atlassian.errors import (
    ApiConflictError,
    ApiError,
    ApiNotFoundError,
    ApiPermissionError,
    ApiValueError,
)
from github import GithubException, RateLimitExceededException
from jira.exceptions import JIRAError

from enigma.integrations.errors import (
    AuthError,
    ConflictError,
    IntegrationError,
    NotFound,
    PermanentError,
    TransientError,
    Unprocessable,
)
from enigma.integrations.scope import current_scope

__all__ = ["CallPolicy", "call", "error_for_status", "map_exception", "parse_retry_after"]

log = logging.getLogger("enigma.integrations")

T = TypeVar("T")

_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,  # ProtocolError, ReadTimeoutError, ...
    http.client.HTTPException,  # IncompleteRead, RemoteDisconnected, BadStatusLine
    ConnectionError,  # the builtin: reset, refused, aborted
    TimeoutError,
)
_MAX_MESSAGE = 300


def _stoppable_sleep(seconds: float) -> None:
    """Sleep in the calling thread; a stop of the run ends the sleep (`RunStopped`)."""
    current_scope().wait(seconds)


@dataclass(frozen=True)
class CallPolicy:
    """How hard to try: tries, backoff, jitter and the per-request timeout."""

    max_tries: int = 3
    """Tries in all, the first included (1 means no retry)."""
    backoff: float = 0.5
    """Base of the exponential backoff, in seconds."""
    backoff_cap: float = 30.0
    """No backoff sleep is longer than this."""
    jitter: bool = True
    """Full jitter: sleep a uniform fraction of the backoff (spreads out a thundering herd)."""
    timeout: float = 15.0
    """Connect and read timeout handed to every client, in seconds."""
    max_retry_after: float = 120.0
    """A Retry-After above this is not waited out; the error is raised at once."""
    sleep: Callable[[float], None] = field(default=_stoppable_sleep, compare=False)
    """How to wait (ends early when the run stops); tests inject a recorder."""

    def delay(self, failed_tries: int, retry_after: float | None) -> float:
        """Seconds to wait after the `failed_tries`-th failure."""
        ceiling = min(self.backoff_cap, self.backoff * 2 ** (failed_tries - 1))
        wait = random.uniform(0, ceiling) if self.jitter else ceiling
        return max(wait, retry_after or 0.0)


def call(service: str, op: Callable[[], T], policy: CallPolicy, what: str = "") -> T:
    """Run `op`, mapping client errors onto ours and retrying the transient ones."""
    tries = 0
    scope = current_scope()
    while True:
        tries += 1
        scope.check()  # a stopped run starts no new call, not even a retry
        try:
            return op()
        except Exception as exc:  # every client raises its own tree; map, then decide
            error = map_exception(service, exc)
            if error is None:
                raise
        label = f"{service} {what}".strip()
        if what and error.operation is None:
            error.operation = what
        if not isinstance(error, TransientError):
            log.debug("%s: %s", label, _describe(error))  # the caller decides what it means
            raise error from None
        if tries >= policy.max_tries:
            log.warning("%s failed after %d tries: %s", label, tries, _describe(error))
            raise error from None
        if error.retry_after is not None and error.retry_after > policy.max_retry_after:
            log.warning("%s: server asks to wait %.0fs; giving up now", label, error.retry_after)
            raise error from None
        wait = policy.delay(tries, error.retry_after)
        log.warning(
            "%s: %s; try %d of %d, retrying in %.2fs",
            label,
            _describe(error),
            tries,
            policy.max_tries,
            wait,
        )
        policy.sleep(wait)


def map_exception(service: str, exc: BaseException) -> IntegrationError | None:
    """Our error for an exception any of the clients raised; None if it is not theirs."""
    if isinstance(exc, IntegrationError):
        return exc
    mapped = _map_http_error(service, exc)
    if mapped is not None:
        return mapped
    if isinstance(exc, _NETWORK_ERRORS):
        return TransientError(service, f"network error: {type(exc).__name__}")
    return None


def _map_http_error(service: str, exc: BaseException) -> IntegrationError | None:
    """Errors that carry an HTTP answer (jira, PyGithub, requests, atlassian)."""
    if isinstance(exc, RateLimitExceededException):
        headers = exc.headers or {}
        return TransientError(
            service, "rate limit exceeded", exc.status, _github_wait(headers) or None
        )
    if isinstance(exc, GithubException):
        message = _github_message(exc.data) or exc.message or type(exc).__name__
        return error_for_status(service, exc.status, message, exc.headers or {})
    if isinstance(exc, JIRAError):
        response = exc.response if isinstance(exc.response, requests.Response) else None
        if exc.status_code is None and response is None:
            return PermanentError(service, _clip(exc.text or "client error"))
        status = exc.status_code or (response.status_code if response is not None else 0)
        jira_headers: Mapping[str, str] = response.headers if response is not None else {}
        return error_for_status(service, status, exc.text or "", jira_headers)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return _from_response(service, exc.response, str(exc))
    return _map_atlassian_error(service, exc)


def _map_atlassian_error(service: str, exc: BaseException) -> IntegrationError | None:
    """atlassian-python-api wraps some HTTP errors in its own ApiError classes."""
    if not isinstance(exc, ApiError):
        return None
    reason = getattr(exc, "reason", None)
    if isinstance(reason, requests.HTTPError) and reason.response is not None:
        return _from_response(service, reason.response, str(exc))
    message = _clip(str(exc))
    kinds: list[tuple[type[ApiError], type[IntegrationError], int]] = [
        (ApiNotFoundError, NotFound, 404),
        (ApiPermissionError, AuthError, 403),
        (ApiConflictError, ConflictError, 409),
        (ApiValueError, Unprocessable, 400),
    ]
    for api_type, ours, status in kinds:
        if isinstance(exc, api_type):
            return ours(service, message, status)
    return PermanentError(service, message)


def _from_response(service: str, response: requests.Response, fallback: str) -> IntegrationError:
    return error_for_status(service, response.status_code, fallback, response.headers)


def error_for_status(
    service: str, status: int, message: str, headers: Mapping[str, str]
) -> IntegrationError:
    """Our error for an HTTP status (see the module docstring for the table)."""
    text = _clip(message) or f"HTTP {status}"
    retry_after = parse_retry_after(_header(headers, "retry-after"))
    if status >= 500 or status in _TRANSIENT_STATUSES:
        return TransientError(service, text, status, retry_after)
    exhausted = _header(headers, "x-ratelimit-remaining") == "0"
    if status == 403 and (retry_after is not None or exhausted):  # GitHub's rate limits
        return TransientError(service, text, status, retry_after or _github_wait(headers) or None)
    if status in (401, 403):
        return AuthError(service, text, status)
    by_status: dict[int, type[PermanentError]] = {
        404: NotFound,
        409: ConflictError,
        422: Unprocessable,
    }
    return by_status.get(status, PermanentError)(service, text, status)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _github_wait(headers: Mapping[str, str]) -> float:
    """Seconds until GitHub's primary rate limit resets (x-ratelimit-reset is epoch seconds)."""
    retry_after = parse_retry_after(_header(headers, "retry-after"))
    if retry_after is not None:
        return retry_after
    reset = _header(headers, "x-ratelimit-reset")
    try:
        return max(0.0, float(reset) - time.time()) if reset else 0.0
    except ValueError:
        return 0.0


def _github_message(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    message = str(data.get("message") or "")
    details = [
        str(e.get("message") or e.get("code") or "")
        for e in data.get("errors") or []
        if isinstance(e, dict)
    ]
    return "; ".join(part for part in [message, *details] if part)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _describe(error: IntegrationError) -> str:
    status = f" HTTP {error.status}" if error.status else ""
    return f"{type(error).__name__}{status}: {error.message}"

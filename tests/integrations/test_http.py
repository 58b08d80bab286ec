"""The choke point's rules, with the clients' own exception types and no network."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import urllib3.exceptions
from atlassian.errors import ApiNotFoundError, ApiPermissionError
from github import BadCredentialsException, GithubException, RateLimitExceededException
from jira.exceptions import JIRAError

from enigma.integrations.errors import (
    AuthError,
    ConflictError,
    NotFound,
    PermanentError,
    TransientError,
    Unprocessable,
)
from enigma.integrations.http import CallPolicy, call, map_exception, parse_retry_after

SECRET = "sbx_do-not-log-me"


class Recorder:
    """A sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def policy(sleeps: Recorder, **kw: Any) -> CallPolicy:
    return CallPolicy(backoff=0.01, sleep=sleeps, **kw)


def failing(*errors: BaseException, result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """An op raising `errors` in turn, then returning `result`; counts its tries."""
    tries = [0]

    def op() -> str:
        tries[0] += 1
        if tries[0] <= len(errors):
            raise errors[tries[0] - 1]
        return result

    return op, tries


def response(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.headers.update(headers or {})
    r._content = b'{"errorMessages": ["boom"]}'
    return r


def http_error(status: int, headers: dict[str, str] | None = None) -> requests.HTTPError:
    return requests.HTTPError(f"HTTP {status}", response=response(status, headers))


def test_transient_errors_are_retried_until_success() -> None:
    sleeps = Recorder()
    op, tries = failing(http_error(503), requests.ConnectionError("reset"))
    assert call("jira", op, policy(sleeps)) == "ok"
    assert tries == [3]
    assert len(sleeps.waits) == 2


def test_gives_up_after_max_tries() -> None:
    sleeps = Recorder()
    op, tries = failing(*[http_error(502)] * 5)
    with pytest.raises(TransientError) as info:
        call("confluence", op, policy(sleeps, max_tries=3))
    assert tries == [3]
    assert len(sleeps.waits) == 2
    assert info.value.status == 502


@pytest.mark.parametrize(
    ("exc", "kind", "status"),
    [
        (http_error(401), AuthError, 401),
        (http_error(403), AuthError, 403),
        (http_error(404), NotFound, 404),
        (http_error(409), ConflictError, 409),
        (http_error(422), Unprocessable, 422),
        (http_error(400), PermanentError, 400),
        (BadCredentialsException(401, {"message": "Bad credentials"}, {}), AuthError, 401),
        (GithubException(404, {"message": "Not Found"}, {}), NotFound, 404),
        (GithubException(409, {"message": "Merge conflict"}, {}), ConflictError, 409),
        (GithubException(422, {"message": "Validation Failed"}, {}), Unprocessable, 422),
        (JIRAError("nope", status_code=404, response=response(404)), NotFound, 404),
        (JIRAError("denied", status_code=403, response=response(403)), AuthError, 403),
        (ApiNotFoundError("no page"), NotFound, 404),
        (ApiPermissionError("no", reason=http_error(404)), NotFound, 404),
    ],
)
def test_permanent_errors_are_raised_at_once(
    exc: Exception, kind: type[Exception], status: int
) -> None:
    sleeps = Recorder()
    op, tries = failing(exc)
    with pytest.raises(kind) as info:
        call("svc", op, policy(sleeps))
    assert tries == [1]
    assert sleeps.waits == []
    assert getattr(info.value, "status", None) == status
    assert not isinstance(info.value, TransientError)


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError("refused"),
        requests.ReadTimeout("slow"),
        requests.exceptions.ChunkedEncodingError("cut"),
        urllib3.exceptions.ProtocolError("Connection aborted."),
        ConnectionResetError(104, "reset"),
        TimeoutError(),
        http_error(429),
        http_error(500),
        http_error(504),
        GithubException(502, {"message": "Bad Gateway"}, {}),
        JIRAError("unavailable", status_code=503, response=response(503)),
    ],
)
def test_network_errors_and_5xx_are_transient(exc: Exception) -> None:
    assert isinstance(map_exception("svc", exc), TransientError)


def test_retry_after_is_honoured() -> None:
    sleeps = Recorder()
    op, _ = failing(http_error(429, {"Retry-After": "3"}))
    assert call("jira", op, policy(sleeps)) == "ok"
    assert sleeps.waits == [3.0]


def test_github_rate_limit_uses_its_headers() -> None:
    sleeps = Recorder()
    limited = RateLimitExceededException(
        403, {"message": "API rate limit exceeded"}, {"retry-after": "2"}
    )
    op, _ = failing(limited)
    assert call("github", op, policy(sleeps)) == "ok"
    assert sleeps.waits == [2.0]


def test_github_secondary_rate_limit_403_is_transient() -> None:
    exc = GithubException(403, {"message": "slow down"}, {"x-ratelimit-remaining": "0"})
    assert isinstance(map_exception("github", exc), TransientError)


def test_a_retry_after_beyond_the_limit_is_not_waited_out() -> None:
    sleeps = Recorder()
    op, tries = failing(http_error(429, {"Retry-After": "3600"}))
    with pytest.raises(TransientError) as info:
        call("jira", op, policy(sleeps, max_retry_after=60))
    assert tries == [1]
    assert info.value.retry_after == 3600


def test_backoff_grows_and_stays_under_the_cap() -> None:
    p = CallPolicy(backoff=1.0, backoff_cap=4.0, jitter=False)
    assert [p.delay(n, None) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    jittered = CallPolicy(backoff=1.0, backoff_cap=4.0)
    assert all(0 <= jittered.delay(3, None) <= 4.0 for _ in range(100))
    assert jittered.delay(1, 9.0) == 9.0


def test_parse_retry_after_accepts_seconds_and_dates() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after(later) or 0) <= 31


def test_foreign_exceptions_pass_through_untouched() -> None:
    op, tries = failing(KeyError("bug"))
    with pytest.raises(KeyError):
        call("jira", op, policy(Recorder()))
    assert tries == [1]


def test_no_token_reaches_logs_or_messages(caplog: pytest.LogCaptureFixture) -> None:
    """JIRAError prints the response headers; what we log and raise must not."""
    leaky = response(503, {"Authorization": f"Bearer {SECRET}", "Set-Cookie": SECRET})
    assert SECRET in str(JIRAError("down", status_code=503, response=leaky))
    op, _ = failing(*[JIRAError("down", status_code=503, response=leaky)] * 3)
    caplog.set_level(logging.DEBUG, logger="enigma.integrations")
    with pytest.raises(TransientError) as info:
        call("jira", op, policy(Recorder()))
    assert SECRET not in caplog.text
    assert SECRET not in str(info.value)
    assert info.value.__suppress_context__
    assert "retrying" in caplog.text

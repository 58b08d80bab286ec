"""GitHub's error answers and its primary rate limit, as raw HTTP and as PyGithub sees them.

Every error under the GitHub prefix, whoever raises it (a handler, the router for an unknown
route or method, request validation, the auth check, an injected fault), carries GitHub's
shape `{"message", "documentation_url", "status"}`; every API answer carries the
X-RateLimit-* headers. A request past the quota, or hit by a `primary_rate_limit` fault, is
GitHub's 403 with `X-RateLimit-Remaining: 0`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from github import Auth, Github, RateLimitExceededException
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from enigma.sandbox.faults import FaultRule
from enigma.sandbox.github_peer import PEER as GITHUB
from enigma.sandbox.github_ratelimit import Quota, RateWindow
from enigma.sandbox.server import SandboxServer
from tests.sandbox.contract import load_contract

RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-used",
    "x-ratelimit-reset",
    "x-ratelimit-resource",
)
REPO = "/repos/acme/payments-api"


@pytest.fixture
def server(sandbox_factory: Callable[..., SandboxServer]) -> SandboxServer:
    """A GitHub-only sandbox (answers here are not all contract operations: no recorder)."""
    return sandbox_factory(specs=[GITHUB])


def call(
    server: SandboxServer, method: str, path: str, token: bool = True, **kw: Any
) -> requests.Response:
    """One raw request to the GitHub API, with the sandbox token unless told otherwise."""
    headers = {"Authorization": f"Bearer {server.urls.token}"} if token else {}
    headers |= kw.pop("headers", {})
    return requests.request(method, server.urls.github + path, headers=headers, timeout=10, **kw)


def fault(server: SandboxServer, **rule: Any) -> None:
    """Inject one fault on the next matching request."""
    server.sandbox.faults.add([FaultRule.model_validate({"count": 1} | rule)])


def assert_github_error(answer: requests.Response, status: int) -> dict[str, Any]:
    """The answer is GitHub's error shape for `status`, with the rate-limit headers."""
    body = answer.json()
    assert answer.status_code == status, body
    assert isinstance(body["message"], str) and body["message"]
    assert body["documentation_url"].startswith("https://docs.github.com/rest")
    assert body["status"] == str(status)
    schema = "validation-error" if "errors" in body else "basic-error"
    contract = load_contract()
    validator = Draft202012Validator({"$ref": f"#/components/schemas/{schema}"} | {
        "components": {"schemas": contract.schemas}
    })  # fmt: skip
    assert not list(validator.iter_errors(body))
    assert all(answer.headers.get(h) for h in RATE_HEADERS), dict(answer.headers)
    return dict(body)


def test_errors_from_every_layer_keep_githubs_shape(server: SandboxServer) -> None:
    assert assert_github_error(call(server, "GET", "/repos/acme/nope"), 404)["message"] == (
        "Not Found"
    )
    assert_github_error(call(server, "GET", "/no/such/route"), 404)
    assert_github_error(call(server, "PUT", REPO), 405)
    unauthenticated = assert_github_error(call(server, "GET", REPO, token=False), 401)
    assert unauthenticated["message"] == "Bad credentials"
    conflict = call(
        server,
        "POST",
        f"{REPO}/merges",
        json={
            "base": "feature/ENG-105-partner-rate-limit",
            "head": "feature/ENG-106-burst-limiter",
        },
    )
    assert assert_github_error(conflict, 409)["message"] == "Merge conflict"
    missing = assert_github_error(call(server, "POST", f"{REPO}/pulls", json={"base": "main"}), 422)
    assert missing["errors"] == [
        {"resource": "PullRequest", "code": "missing_field", "field": "title"}
    ]
    garbled = call(
        server,
        "POST",
        f"{REPO}/pulls",
        data=b"{title",
        headers={"Content-Type": "application/json"},
    )
    assert assert_github_error(garbled, 400)["message"] == "Problems parsing JSON"
    bad_page = assert_github_error(call(server, "GET", f"{REPO}/pulls?page=0"), 422)
    assert bad_page["errors"][0]["field"] == "page"


def test_injected_faults_on_the_github_prefix_keep_githubs_shape(server: SandboxServer) -> None:
    fault(server, kind="error", status=503, route=f"{REPO}$")
    assert_github_error(call(server, "GET", REPO), 503)
    fault(server, kind="rate_limit", retry_after=2, route=f"{REPO}$")
    throttled = call(server, "GET", REPO)
    assert_github_error(throttled, 429)
    assert throttled.headers["retry-after"] == "2"
    assert call(server, "GET", REPO).status_code == 200


def test_primary_rate_limit_fault_is_githubs_403(server: SandboxServer) -> None:
    fault(server, kind="primary_rate_limit", reset_after=30, route=f"{REPO}$")
    before = time.time()
    limited = call(server, "GET", REPO)
    body = assert_github_error(limited, 403)
    assert body == {
        "message": "API rate limit exceeded for installation ID 1.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        "status": "403",
    }
    headers = limited.headers
    assert (headers["x-ratelimit-remaining"], headers["x-ratelimit-resource"]) == ("0", "core")
    assert headers["x-ratelimit-used"] == headers["x-ratelimit-limit"] == "5000"
    assert before + 29 <= int(headers["x-ratelimit-reset"]) <= before + 32
    assert "retry-after" not in headers


def test_every_answer_reports_the_quota_it_used(server: SandboxServer) -> None:
    first, second = call(server, "GET", REPO), call(server, "GET", f"{REPO}/branches")
    assert first.status_code == second.status_code == 200
    assert first.headers["x-ratelimit-limit"] == "5000"
    assert int(first.headers["x-ratelimit-remaining"]) - 1 == int(
        second.headers["x-ratelimit-remaining"]
    )
    assert int(second.headers["x-ratelimit-used"]) == int(first.headers["x-ratelimit-used"]) + 1
    assert int(first.headers["x-ratelimit-reset"]) > time.time() + 3000


def pygithub(server: SandboxServer, **kw: Any) -> Github:
    """PyGithub against the sandbox without its write throttle."""
    auth = Auth.Token(server.urls.token)
    options: dict[str, Any] = {"seconds_between_requests": None, "seconds_between_writes": None}
    return Github(base_url=server.urls.github, auth=auth, **(options | kw))


def test_pygithub_without_retries_raises_rate_limit_exceeded(server: SandboxServer) -> None:
    """Enigma builds PyGithub with retry=None: the 403 surfaces at once, headers attached."""
    gh = pygithub(server, retry=None)
    fault(server, kind="primary_rate_limit", reset_after=30, route=f"{REPO}$")
    started = time.monotonic()
    with pytest.raises(RateLimitExceededException) as limited:
        gh.get_repo("acme/payments-api")
    assert time.monotonic() - started < 2
    assert limited.value.status == 403
    assert limited.value.headers is not None
    assert limited.value.headers["x-ratelimit-remaining"] == "0"
    assert gh.rate_limiting == (0, 5000)
    assert gh.rate_limiting_resettime >= int(time.time()) + 28
    assert gh.get_repo("acme/payments-api").name == "payments-api"
    remaining, limit = gh.rate_limiting
    assert limit == 5000 and 0 < remaining < 5000


def test_pygithub_default_retry_sleeps_until_the_reset(server: SandboxServer) -> None:
    """PyGithub's default GithubRetry waits out X-RateLimit-Reset + 1 s inside urllib3."""
    gh = pygithub(server)  # the default retry
    fault(server, kind="primary_rate_limit", reset_after=1, route=f"{REPO}$")
    started = time.monotonic()
    assert gh.get_repo("acme/payments-api").name == "payments-api"
    assert 1.0 <= time.monotonic() - started < 5
    assert server.sandbox.faults.injected == 1


def test_the_quota_runs_down_when_enforced(sandbox_factory: Callable[..., SandboxServer]) -> None:
    settings = {"rate_limit": 3, "rate_limit_window_seconds": 2, "rate_limit_enforced": True}
    server = sandbox_factory(specs=[GITHUB], settings=settings)
    gh = pygithub(server, retry=None)
    seen = []
    for _ in range(3):
        gh.get_repo("acme/web-app")
        seen.append(gh.rate_limiting[0])
    assert seen == [2, 1, 0]
    with pytest.raises(RateLimitExceededException) as exhausted:
        gh.get_repo("acme/web-app")
    assert exhausted.value.data["message"] == "API rate limit exceeded for installation ID 1."
    time.sleep(max(0.0, gh.rate_limiting_resettime - time.time()) + 0.05)
    assert gh.get_repo("acme/web-app").name == "web-app"
    assert gh.rate_limiting == (2, 3)


def test_the_window_opens_with_its_first_request_and_starts_over_unless_enforced() -> None:
    now = [1000.0]
    relaxed = RateWindow(2, 60, enforced=False, clock=lambda: now[0])
    strict = RateWindow(2, 60, enforced=True, clock=lambda: now[0])
    now[0] = 1030.0
    assert [relaxed.take()[1].remaining for _ in range(3)] == [1, 0, 1]  # spent: a new window
    assert [strict.take()[0] for _ in range(3)] == [True, True, False]
    assert strict.take()[1] == Quota(limit=2, remaining=0, reset=1090)
    now[0] = 1090.0
    assert strict.take() == (True, Quota(limit=2, remaining=1, reset=1150))

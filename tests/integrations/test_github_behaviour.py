"""GitHub as it behaves, not as the sandbox used to: lazy mergeability, the primary rate
limit, and error bodies in GitHub's shape, each handled by the real client adapter."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import SecretStr

from enigma.integrations.errors import NotFound, TransientError
from enigma.integrations.github_host import GitHubHost
from enigma.integrations.http import CallPolicy
from enigma.integrations.patience import Patience, call_patiently
from enigma.sandbox.core import FaultRule
from enigma.sandbox.server import SandboxServer
from tests.integrations.conftest import effects

REPO = "payments-api"
RELEASE = "release/2.4.0"


def _host(sandbox: SandboxServer, tries: int = 3) -> GitHubHost:
    policy = CallPolicy(max_tries=tries, backoff=0.05, backoff_cap=0.2, timeout=5.0)
    urls = sandbox.urls
    return GitHubHost(urls.github, "acme", SecretStr(urls.token), policy, pace_requests=False)


def _open_pull(host: GitHubHost) -> int:
    develop = host.branch_sha(REPO, "develop")
    assert develop is not None
    host.ensure_branch(REPO, RELEASE, develop)
    host.merge(REPO, RELEASE, "feature/ENG-101-refunds", "merge for the test")
    pr = host.get_or_create_pull_request(REPO, RELEASE, "main", "Release 2.4.0", "body")
    return pr["number"]


def test_a_merge_waits_while_github_computes_mergeability(sandbox: SandboxServer) -> None:
    sandbox.sandbox.settings["mergeable_delay_seconds"] = 2.5
    host = _host(sandbox, tries=2)
    number = _open_pull(host)
    began = time.monotonic()
    with pytest.raises(TransientError, match="mergeability not computed yet"):
        host.ensure_pull_request_merged(REPO, number, "Release 2.4.0")  # two quick tries
    assert effects(sandbox, "github", "pull.merge") == []

    async def patiently() -> str:  # what a run does: wait the computation out, then merge
        return await call_patiently(
            host.ensure_pull_request_merged,
            REPO,
            number,
            "Release 2.4.0",
            patience=Patience(budget=30, first=0.5, cap=1.0),
        )

    sha = asyncio.run(patiently())
    assert time.monotonic() - began >= 2.5
    assert host.pull_request(REPO, number)["merged"] is True
    assert len(effects(sandbox, "github", "pull.merge")) == 1
    assert host.ensure_pull_request_merged(REPO, number, "Release 2.4.0") == sha


def test_the_primary_rate_limit_is_waited_out_until_its_reset(sandbox: SandboxServer) -> None:
    host = _host(sandbox)
    sandbox.sandbox.faults.add(
        [FaultRule(kind="primary_rate_limit", path_prefix="/github", reset_after=2.0, count=1)]
    )
    began = time.monotonic()
    info = host.repository(REPO)  # 403 + X-RateLimit-Remaining: 0: wait for the reset, again
    assert info["name"] == REPO
    assert time.monotonic() - began >= 1.0, "it did not wait for the rate limit's reset"
    assert sandbox.sandbox.faults.injected == 1


def test_errors_quote_what_github_said_and_name_the_operation(sandbox: SandboxServer) -> None:
    host = _host(sandbox)
    with pytest.raises(NotFound) as caught:
        host.repository("no-such-repository")
    text = str(caught.value)
    assert text.startswith("github repository: HTTP 404: Not Found"), text

"""Helpers for tests of the sandbox GitHub peer: a recorder of its answers, the contract check.

`ResponseRecorder` wraps the sandbox app and keeps every answer under the GitHub API prefix;
`assert_all_answers_keep_the_contract` holds them to GitHub's OpenAPI description (the subset
in tests/contracts) and refuses URLs that leave the peer's own address. The fixtures that use
them (`peer_factory`, `peer`) are in this folder's conftest.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from github import Auth, Github
from github.Repository import Repository
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enigma.sandbox.server import SandboxServer
from tests.sandbox.contract import load_contract

__all__ = [
    "API_PREFIX",
    "CHECK_DELAY",
    "Peer",
    "PeerFactory",
    "ResponseRecorder",
    "Seen",
    "assert_all_answers_keep_the_contract",
    "client",
    "release_branch",
    "wait_for_check",
]

API_PREFIX = "/github/api/v3"
CHECK_DELAY = 0.6


@dataclass(frozen=True)
class Seen:
    """One answer of the GitHub API as it left the sandbox."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The decoded body, or None when there is none."""
        return json.loads(self.body) if self.body else None


class ResponseRecorder:
    """ASGI middleware that keeps every answer to a request under the GitHub API prefix."""

    def __init__(self, app: ASGIApp, seen: list[Seen]):
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, recording_send)
        headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
        path = scope["path"].removeprefix(API_PREFIX)
        self.seen.append(Seen(scope["method"], path, start["status"], headers, b"".join(chunks)))


@dataclass
class Peer:
    """A running sandbox with only the GitHub peer, a PyGithub client, and what it answered."""

    server: SandboxServer
    gh: Github
    seen: list[Seen] = field(default_factory=list)

    @property
    def root(self) -> str:
        """`http://127.0.0.1:PORT/github`: every URL the peer hands out must start here."""
        return self.server.urls.github.removesuffix("/api/v3")

    def repo(self, name: str = "payments-api") -> Repository:
        """A seeded repository through PyGithub."""
        return self.gh.get_repo(f"acme/{name}")

    def effect_keys(self) -> list[str]:
        """Keys of the GitHub side effects so far, in order."""
        return [e["key"] for e in self.server.sandbox.store.effects(peer="github")]


def client(server: SandboxServer, token: str | None = None, per_page: int = 30) -> Github:
    """PyGithub as Enigma would build it, without its write throttle (1 s per write)."""
    auth = Auth.Token(token or server.urls.token)
    return Github(
        base_url=server.urls.github,
        auth=auth,
        per_page=per_page,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


PeerFactory = Callable[..., Peer]


def assert_all_answers_keep_the_contract(seen: list[Seen], roots: list[str]) -> set[str]:
    """Validate every recorded answer; return the contract operations they covered."""
    contract = load_contract()
    covered = set()
    for answer in seen:
        op = contract.validate(answer.method, answer.path, answer.status, answer.json())
        covered.add(f"{op.method} {op.template}")
        for url in _urls(answer.json()) + _link_urls(answer.headers.get("link", "")):
            assert url.startswith(tuple(roots)), f"{answer.method} {answer.path}: foreign {url}"
    return covered


# Not built by the peer: errors link GitHub's docs site; a status links whatever CI posted it.
_FOREIGN_ALLOWED = frozenset({"documentation_url", "target_url"})


def _urls(value: Any) -> list[str]:
    """Absolute URLs in a body, except those the peer does not make (`_FOREIGN_ALLOWED`)."""
    if isinstance(value, dict):
        return [u for k, v in value.items() if k not in _FOREIGN_ALLOWED for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    is_url = isinstance(value, str) and value.startswith(("http://", "https://"))
    return [value] if is_url else []


def _link_urls(link: str) -> list[str]:
    return [part.split(">")[0].lstrip(" <") for part in link.split(",") if ">" in part]


def wait_for_check(commit: Any, timeout: float = 10.0) -> list[tuple[str, str | None]]:
    """Poll a commit's check runs until completed; return the (status, conclusion) seen."""
    observed: list[tuple[str, str | None]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (run,) = list(commit.get_check_runs())
        if not observed or observed[-1] != (run.status, run.conclusion):
            observed.append((run.status, run.conclusion))
        if run.status == "completed":
            return observed
        time.sleep(0.05)
    raise AssertionError(f"check run never completed: {observed}")


# -- repositories, branches, refs -------------------------------------------------------------


def release_branch(repo: Repository, name: str = "release/2.4.0") -> str:
    """Create a release branch at develop's tip; return that commit."""
    sha = repo.get_branch("develop").commit.sha
    repo.create_git_ref(f"refs/heads/{name}", sha)
    return sha

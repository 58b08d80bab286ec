"""Fixtures for the API suites: a seeded sandbox process and a real `enigma serve` process."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from enigma.sandbox.core import Sandbox
from enigma.sandbox.server import peers, seed_if_empty
from tests.api.harness import Api, SandboxProcess, Service


@dataclass(frozen=True)
class Tokens:
    """One API token per role, random per session so a grep for them means something."""

    manager: str
    approver: str
    viewer: str
    admin: str

    def env(self) -> str:
        """The value of ENIGMA_API_TOKENS."""
        return json.dumps(
            {
                self.manager: {"user": "alice", "roles": ["release_manager"]},
                self.approver: {"user": "bob", "roles": ["approver"]},
                self.viewer: {"user": "carol", "roles": ["viewer"]},
                self.admin: {"user": "dave", "roles": ["admin"]},
            }
        )


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    """The API tokens every test server accepts."""
    return Tokens(*(f"{role}-{secrets.token_urlsafe(18)}" for role in ("rm", "ap", "vw", "ad")))


@pytest.fixture(scope="session")
def seeded_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox data directory seeded once per session (seeding builds git repositories)."""
    data = tmp_path_factory.mktemp("sandbox-seed") / "sandbox"
    template = Sandbox(data, settings={})
    seed_if_empty(template, peers())
    template.store.close()
    return data


@dataclass
class Stack:
    """A sandbox process, a service process over the same data directory, and API clients."""

    sandbox: SandboxProcess
    service: Service
    tokens: Tokens

    def api(self, token: str | None = None) -> Api:
        """API helpers as one user (default: the release manager)."""
        return Api(self.service.client(self.tokens.manager if token is None else token))

    @property
    def manager(self) -> Api:
        """alice, release_manager."""
        return self.api(self.tokens.manager)

    @property
    def approver(self) -> Api:
        """bob, approver."""
        return self.api(self.tokens.approver)


StackFactory = Callable[..., Stack]


def _start_stack(
    base: Path, seeded: Path, tokens: Tokens, env: dict[str, str], with_tokens: bool = True
) -> Stack:
    data_dir = base / "data"
    shutil.copytree(seeded, data_dir / "sandbox")
    sandbox = SandboxProcess(data_dir).start()
    service = Service(data_dir, ({"ENIGMA_API_TOKENS": tokens.env()} if with_tokens else {}) | env)
    stack = Stack(sandbox, service, tokens)
    try:
        service.start()
    except BaseException:
        _stop(stack)
        raise
    return stack


def _stop(stack: Stack) -> None:
    try:
        stack.service.stop()
    finally:
        stack.sandbox.stop()


@pytest.fixture
def stack_factory(tmp_path: Path, seeded_sandbox: Path, tokens: Tokens) -> Iterator[StackFactory]:
    """Start sandbox + service (extra ENIGMA_* settings as keyword env); stopped at teardown.

    `with_tokens=False` leaves ENIGMA_API_TOKENS unset: the service makes a demo token.
    """
    started: list[Stack] = []

    def start(name: str = "stack", with_tokens: bool = True, **env: str) -> Stack:
        stack = _start_stack(tmp_path / name, seeded_sandbox, tokens, env, with_tokens)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        _stop(stack)


@pytest.fixture
def stack(stack_factory: StackFactory) -> Stack:
    """A stack of its own for one test: sandbox and service, tokens for every role."""
    return stack_factory()


@pytest.fixture(scope="session")
def shared_stack(
    tmp_path_factory: pytest.TempPathFactory, seeded_sandbox: Path, tokens: Tokens
) -> Iterator[Stack]:
    """One stack for the tests that do not release (validation, auth, contract, ops).

    Four-eyes is on here. Tests that start runs on it use their own fix versions and end
    their runs, so they do not disturb one another.
    """
    stack = _start_stack(
        tmp_path_factory.mktemp("shared"), seeded_sandbox, tokens, {"ENIGMA_FOUR_EYES": "true"}
    )
    yield stack
    _stop(stack)

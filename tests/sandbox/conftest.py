"""Fixtures of the sandbox tests: GitHub-only sandboxes whose answers are recorded and checked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.types import ASGIApp

from enigma.sandbox import server as server_module
from enigma.sandbox.github_peer import PEER as GITHUB
from enigma.sandbox.server import SandboxServer
from tests.sandbox.github_support import (
    CHECK_DELAY,
    Peer,
    PeerFactory,
    ResponseRecorder,
    Seen,
    assert_all_answers_keep_the_contract,
    client,
)


@pytest.fixture
def peer_factory(
    sandbox_factory: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch
) -> Iterator[PeerFactory]:
    """Start GitHub-only sandboxes whose answers are recorded; check them all at teardown."""
    seen: list[Seen] = []
    peers: list[Peer] = []
    build_app = server_module.build_app

    def recording_build_app(*args: Any, **kwargs: Any) -> ASGIApp:
        return ResponseRecorder(build_app(*args, **kwargs), seen)

    monkeypatch.setattr(server_module, "build_app", recording_build_app)

    def start(
        name: str = "sandbox",
        check_delay: float = CHECK_DELAY,
        per_page: int = 30,
        settings: dict[str, Any] | None = None,
    ) -> Peer:
        options = {"check_delay_seconds": check_delay} | dict(settings or {})
        server = sandbox_factory(specs=[GITHUB], settings=options, name=name)
        peers.append(Peer(server, client(server, per_page=per_page), seen))
        return peers[-1]

    yield start
    assert_all_answers_keep_the_contract(seen, [p.root for p in peers])
    latest = {p.server.sandbox.data_dir: p for p in peers}  # a restart reuses the log
    for peer in latest.values():
        duplicates = {k: n for k, n in Counter(peer.effect_keys()).items() if n > 1}
        assert not duplicates, f"effects recorded more than once: {duplicates}"


@pytest.fixture
def peer(peer_factory: PeerFactory) -> Peer:
    """One GitHub-only sandbox."""
    return peer_factory()

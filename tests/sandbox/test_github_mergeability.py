"""Lazily computed mergeability, as github.com does it, through PyGithub.

With `mergeable_delay_seconds` set, a pull request answers `mergeable: null` /
`mergeable_state: "unknown"` for that long after it is opened or its head moves, and a merge
asked meanwhile gets GitHub's transient 405. PyGithub does not poll: `mergeable` is simply
None (`complete()` only fetches attributes that were never sent, and null was sent), so the
caller has to fetch the pull request again. Every answer is held to the contract by the
`peer_factory` fixture.
"""

from __future__ import annotations

import time

import pytest
from github import GithubException
from github.PullRequest import PullRequest

from tests.sandbox.github_support import Peer, PeerFactory, release_branch

DELAY = 1.0  # generous: the tests act within it before it passes
BASE_MODIFIED = "Base branch was modified. Review and try the merge again."
MERGE_DOCS = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"


@pytest.fixture
def lazy(peer_factory: PeerFactory) -> Peer:
    """A GitHub sandbox whose mergeability takes DELAY seconds to compute."""
    return peer_factory(settings={"mergeable_delay_seconds": DELAY})


def unknown(pr: PullRequest) -> bool:
    """GitHub's "not computed yet": null (PyGithub types it bool, but passes None through)."""
    mergeable: object = pr.mergeable
    return mergeable is None and pr.mergeable_state == "unknown"


def settle(pr: PullRequest, timeout: float = 5.0) -> list[tuple[bool | None, str]]:
    """Re-read a pull request until its mergeability is known; return what was seen."""
    seen: list[tuple[bool | None, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = pr.base.repo.get_pull(pr.number)
        if not seen or seen[-1] != (current.mergeable, current.mergeable_state):
            seen.append((current.mergeable, current.mergeable_state))
        if current.mergeable is not None:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"mergeability never settled: {seen}")


def test_a_new_pull_request_is_unknown_then_mergeable(lazy: Peer) -> None:
    repo = lazy.repo()
    release_branch(repo)
    repo.merge("release/2.4.0", "feature/ENG-101-refunds")
    pr = repo.create_pull(base="main", head="release/2.4.0", title="Release 2.4.0")
    assert unknown(pr)
    with pytest.raises(GithubException) as early:
        pr.merge()
    assert early.value.status == 405
    assert early.value.data == {
        "message": BASE_MODIFIED,
        "documentation_url": MERGE_DOCS,
        "status": "405",
    }
    assert unknown(pr)  # PyGithub does not fetch again by itself
    assert settle(pr)[-1] == (True, "clean")
    assert pr.update() and pr.mergeable is True
    assert pr.merge().merged
    merges = [k for k in lazy.effect_keys() if k.startswith("github:pull.merge:")]
    assert merges == ["github:pull.merge:acme/payments-api:#1"]


def test_a_conflict_stays_not_mergeable(lazy: Peer) -> None:
    repo = lazy.repo()
    release_branch(repo)
    repo.merge("release/2.4.0", "feature/ENG-105-partner-rate-limit")
    pr = repo.create_pull(base="release/2.4.0", head="feature/ENG-106-burst-limiter", title="106")
    assert unknown(pr)
    assert settle(pr)[-1] == (False, "dirty")
    for _ in range(2):  # permanent: a retry gets the same answer
        with pytest.raises(GithubException) as refused:
            repo.get_pull(pr.number).merge()
        assert (refused.value.status, refused.value.data["message"]) == (
            405,
            "Pull Request is not mergeable",
        )


def test_a_moved_head_makes_it_unknown_again(lazy: Peer) -> None:
    repo = lazy.repo()
    release_branch(repo)
    repo.merge("release/2.4.0", "feature/ENG-101-refunds")
    pr = repo.create_pull(base="main", head="release/2.4.0", title="Release 2.4.0")
    settle(pr)
    repo.merge("release/2.4.0", "feature/ENG-102-currency-rounding")
    moved = repo.get_pull(pr.number)
    assert unknown(moved)
    with pytest.raises(GithubException) as early:
        moved.merge()
    assert (early.value.status, early.value.data["message"]) == (405, BASE_MODIFIED)
    time.sleep(DELAY)
    assert repo.get_pull(pr.number).merge().merged


def test_a_merge_asked_first_still_starts_the_clock(lazy: Peer) -> None:
    """Refused merges are not a way to keep a pull request unknown forever."""
    repo = lazy.repo()
    release_branch(repo)
    repo.merge("release/2.4.0", "feature/ENG-101-refunds")
    pr = repo.create_pull(base="main", head="release/2.4.0", title="Release 2.4.0")
    refused = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert pr.merge().merged
            break
        except GithubException as exc:
            assert exc.status == 405
            refused += 1
            time.sleep(0.1)
    else:
        raise AssertionError("the merge was never accepted")
    assert refused >= 1


def test_without_a_delay_mergeability_is_immediate(peer: Peer) -> None:
    repo = peer.repo()
    release_branch(repo)
    repo.merge("release/2.4.0", "feature/ENG-101-refunds")
    pr = repo.create_pull(base="main", head="release/2.4.0", title="Release 2.4.0")
    assert (pr.mergeable, pr.mergeable_state) == (True, "clean")
    assert pr.merge().merged

"""Per-repository CI conventions in the sandbox, as PyGithub sees them.

The seed's release 3.0.0 has a repository for each case a release policy must tell apart:
check runs only (lib, service), several named checks of which one always fails
(mobile-app), commit statuses only (legacy-billing), no CI at all (docs-site), and the old
repositories, whose CI reports both ways. Commit statuses can be posted too; the combined
status API combines posted and simulated ones and never counts check runs. Every answer is
held to the contract by the `peer_factory` fixture.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from github.Commit import Commit

from enigma.sandbox.core import DEFAULT_SEED, Sandbox
from enigma.sandbox.github_peer import PEER as GITHUB
from enigma.sandbox.github_seed import seed_github
from enigma.sandbox.server import SandboxServer
from tests.sandbox.github_support import Peer, PeerFactory, client, release_branch

DELAY = 0.3


@pytest.fixture
def ci(peer_factory: PeerFactory) -> Peer:
    """A GitHub sandbox whose CI jobs take DELAY, 1.5 DELAY, 2 DELAY, ... seconds."""
    return peer_factory(check_delay=DELAY)


def settled_checks(commit: Commit, timeout: float = 10.0) -> dict[str, str | None]:
    """Wait until every check run of a commit completed; return name -> conclusion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list(commit.get_check_runs())
        if all(run.status == "completed" for run in runs):
            return {run.name: run.conclusion for run in runs}
        time.sleep(0.05)
    raise AssertionError("check runs never completed")


def settled_status(commit: Commit, timeout: float = 10.0) -> tuple[str, dict[str, str], int]:
    """Wait until the combined status is not pending (or has no statuses at all)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        combined = commit.get_combined_status()
        if combined.state != "pending" or combined.total_count == 0:
            contexts = {s.context: s.state for s in combined.statuses}
            return combined.state, contexts, combined.total_count
        time.sleep(0.05)
    raise AssertionError("the combined status stayed pending")


def head(peer: Peer, repo: str, branch: str) -> Commit:
    return peer.repo(repo).get_branch(branch).commit


def test_check_runs_only(ci: Peer) -> None:
    commit = head(ci, "lib", "feature/ENG-140-retry-policy")
    assert settled_checks(commit) == {"build": "success"}
    assert settled_status(commit) == ("pending", {}, 0)  # github.com: no statuses = pending
    assert list(commit.get_statuses()) == []


def test_several_named_checks_one_always_failing(peer_factory: PeerFactory) -> None:
    slow = peer_factory(check_delay=0.8)  # jobs end at 0.8, 1.2 and 1.6 s: far enough apart
    repo = slow.repo("mobile-app")
    release_branch(repo, "release/3.0.0")
    assert repo.merge("release/3.0.0", "feature/ENG-145-offline-cart") is not None
    commit = repo.get_branch("release/3.0.0").commit  # a fresh commit: its CI starts now
    finished: list[str] = []
    deadline = time.monotonic() + 10
    while len(finished) < 3 and time.monotonic() < deadline:
        for run in commit.get_check_runs():
            if run.status == "completed" and run.name not in finished:
                finished.append(run.name)
        time.sleep(0.05)
    assert finished == ["build", "lint", "flaky-e2e"]
    assert settled_checks(commit) == {"build": "success", "lint": "success", "flaky-e2e": "failure"}
    only_build = list(commit.get_check_runs(check_name="build"))
    assert [run.name for run in only_build] == ["build"]
    assert commit.get_combined_status().total_count == 0


def test_commit_statuses_only(peer_factory: PeerFactory) -> None:
    slow = peer_factory(check_delay=1.0)  # long enough to see the pending status first
    repo = slow.repo("legacy-billing")
    release_branch(repo, "release/3.0.0")
    merged = repo.merge("release/3.0.0", "bugfix/ENG-144-tax-rounding")  # a fresh commit
    assert merged is not None
    commit = repo.get_branch("release/3.0.0").commit
    assert list(commit.get_check_runs()) == []
    first = commit.get_combined_status()
    assert (first.state, [s.context for s in first.statuses]) == ("pending", ["ci/jenkins"])
    assert settled_status(commit) == ("success", {"ci/jenkins": "success"}, 1)
    history = [(s.context, s.state) for s in commit.get_statuses()]
    assert history == [("ci/jenkins", "success"), ("ci/jenkins", "pending")]  # newest first


def test_no_ci_at_all(ci: Peer) -> None:
    commit = head(ci, "docs-site", "feature/ENG-143-upgrade-guide")
    time.sleep(DELAY)
    assert list(commit.get_check_runs()) == []
    assert list(commit.get_statuses()) == []
    combined = commit.get_combined_status()
    assert (combined.state, combined.total_count, combined.statuses) == ("pending", 0, [])


def test_the_old_repositories_report_both_ways(ci: Peer) -> None:
    commit = head(ci, "payments-api", "feature/ENG-101-refunds")
    assert settled_checks(commit) == {"enigma-ci": "success"}
    assert settled_status(commit) == ("success", {"enigma-ci": "success"}, 1)


def test_custom_branch_patterns_are_seeded(ci: Peer) -> None:
    service = ci.repo("service").get_branch("ENG-141_fast-path")
    assert service.commit.commit.message == "ENG-141: fast path"
    lib = ci.repo("lib").get_branch("users/alice/ENG-142")
    assert lib.commit.commit.message == "ENG-142: changes"
    assert {b.name for b in ci.repo("lib").get_branches()} == {
        "main",
        "develop",
        "feature/ENG-140-retry-policy",
        "users/alice/ENG-142",
    }


def test_posted_statuses_combine_with_simulated_ones(ci: Peer) -> None:
    commit = head(ci, "lib", "feature/ENG-140-retry-policy")
    posted = commit.create_status(
        "pending", target_url="https://ci.acme.example/1", description="running", context="ci/e2e"
    )
    assert (posted.state, posted.context, posted.creator.login) == (
        "pending",
        "ci/e2e",
        "release-bot",
    )
    assert commit.get_combined_status().state == "pending"
    commit.create_status("success", context="ci/e2e")
    assert settled_status(commit) == ("success", {"ci/e2e": "success"}, 1)
    commit.create_status("error", context="CI/Security")
    assert commit.get_combined_status().state == "failure"
    assert [s.context for s in commit.get_statuses()][:1] == ["CI/Security"]
    payments = head(ci, "payments-api", "develop")
    assert settled_status(payments)[0] == "success"  # its own CI first
    payments.create_status("failure", context="ci/extra")
    state, contexts, _ = settled_status(payments)
    assert (state, contexts) == ("failure", {"enigma-ci": "success", "ci/extra": "failure"})
    keys = [k for k in ci.effect_keys() if k.startswith("github:status:")]
    assert keys == [
        f"github:status:acme/lib:{commit.sha}:ci/e2e:pending",
        f"github:status:acme/lib:{commit.sha}:ci/e2e:success",
        f"github:status:acme/lib:{commit.sha}:CI/Security:error",
        f"github:status:acme/payments-api:{payments.sha}:ci/extra:failure",
    ]


def test_a_status_must_name_a_known_state_and_commit(ci: Peer) -> None:
    sha = head(ci, "lib", "develop").sha
    url = f"{ci.server.urls.github}/repos/acme/lib/statuses"
    auth = {"Authorization": f"Bearer {ci.server.urls.token}"}
    bad_state = requests.post(f"{url}/{sha}", json={"state": "green"}, headers=auth, timeout=10)
    assert bad_state.status_code == 422
    assert bad_state.json()["errors"][0]["field"] == "state"
    unknown = requests.post(
        f"{url}/{'0' * 40}", json={"state": "success"}, headers=auth, timeout=10
    )
    assert (unknown.status_code, unknown.json()["message"]) == (
        422,
        f"No commit found for SHA: {'0' * 40}",
    )
    assert not [k for k in ci.effect_keys() if k.startswith("github:status:")]


def seed_file(tmp_path: Path, repo: dict[str, Any]) -> Path:
    """A seed with the default Jira and Confluence and one repository of the test's own."""
    options = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in repo.items())
    text = DEFAULT_SEED.read_text().split("[[github.repos]]", 1)[0] + textwrap.dedent(
        f"""
        [[github.repos]]
        name = "own"
        release_tag = "v1.0.0"
        {options}
        [github.repos.files]
        "README.md" = "own\\n"
        [[github.repos.branches]]
        name = "feature/ENG-1-x"
        from = "develop"
        files = {{ "x" = "1\\n" }}

        [confluence]
        spaces = []
        """
    )
    path = tmp_path / "seed.toml"
    path.write_text(text)
    return path


def test_tests_build_their_own_ci_cases(tmp_path: Path) -> None:
    options = {
        "ci": "statuses",
        "checks": ["unit", "integration"],
        "failing_checks": ["integration"],
    }
    settings = {"check_delay_seconds": DELAY}
    with SandboxServer(
        tmp_path / "data", seed_file=seed_file(tmp_path, options), specs=[GITHUB], settings=settings
    ) as server:
        commit = client(server).get_repo("acme/own").get_branch("feature/ENG-1-x").commit
        assert list(commit.get_check_runs()) == []
        state, contexts, count = settled_status(commit)
    assert (state, contexts, count) == ("failure", {"unit": "success", "integration": "failure"}, 2)


def test_an_unknown_ci_mode_fails_the_seed(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "data", seed_file=seed_file(tmp_path, {"ci": "travis"}))
    try:
        with pytest.raises(ValueError, match="ci must be one of"):
            seed_github(sandbox)
    finally:
        sandbox.store.close()

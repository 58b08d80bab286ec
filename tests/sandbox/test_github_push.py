"""`git push` to the sandbox over smart HTTP, with the real git client.

Clones are anonymous; a push carries the sandbox token (`Authorization: Bearer`, or Basic
`x-access-token:TOKEN` from a credential helper). The token reaches git through the
environment (`GIT_CONFIG_*`, `SANDBOX_TOKEN`), never its argument list. What the push did is
seen the way a client sees it: the branches through the REST API (PyGithub), the side-effect
log, and the simulated CI of the new head.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from github import GithubException

from tests.sandbox.github_support import Peer, release_branch, wait_for_check

CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; echo username=x-access-token; '
    'echo "password=$SANDBOX_TOKEN"; }; f'
)


class Git:
    """The git client in a scrubbed environment, in one work tree."""

    def __init__(self, home: Path, token: str | None = None, how: str = "bearer"):
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        self.env |= {"HOME": str(home), "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
        self.env |= {"GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@acme.example"}
        self.env |= {"GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@acme.example"}
        if token is not None and how == "bearer":
            self.config("http.extraHeader", f"Authorization: Bearer {token}")
        elif token is not None:
            self.env["SANDBOX_TOKEN"] = token
            self.config("credential.helper", CREDENTIAL_HELPER)

    def config(self, key: str, value: str) -> None:
        """One `-c key=value` given through the environment (git >= 2.31)."""
        n = int(self.env.get("GIT_CONFIG_COUNT", "0"))
        self.env |= {f"GIT_CONFIG_KEY_{n}": key, f"GIT_CONFIG_VALUE_{n}": value}
        self.env["GIT_CONFIG_COUNT"] = str(n + 1)

    def __call__(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=self.env, capture_output=True, text=True, check=False
        )

    def ok(self, *args: str, cwd: Path | None = None) -> str:
        """Run and insist on success; return stdout stripped."""
        done = self(*args, cwd=cwd)
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()


def commit(git: Git, work: Path, path: str, text: str, message: str) -> str:
    """Write one file and commit it; return the new commit id."""
    (work / path).parent.mkdir(parents=True, exist_ok=True)
    (work / path).write_text(text)
    git.ok("add", path, cwd=work)
    git.ok("commit", "-q", "-m", message, cwd=work)
    return git.ok("rev-parse", "HEAD", cwd=work)


@pytest.fixture
def clone(peer: Peer, tmp_path: Path) -> Path:
    """An anonymous clone of payments-api."""
    dest = tmp_path / "payments-api"
    Git(tmp_path).ok("clone", "-q", peer.repo().clone_url, str(dest))
    return dest


def push_effects(peer: Peer) -> list[dict[str, Any]]:
    """The `push.ref` effects so far, oldest first."""
    return [e for e in peer.server.sandbox.store.effects(peer="github") if e["kind"] == "push.ref"]


def test_push_a_new_branch_and_fast_forward_another(peer: Peer, clone: Path) -> None:
    bearer = Git(clone.parent, peer.server.urls.token, how="bearer")
    bearer.ok("checkout", "-q", "-b", "feature/ENG-150-pushed", "origin/develop", cwd=clone)
    new_tip = commit(bearer, clone, "src/pushed.py", "PUSHED = True\n", "ENG-150: pushed")
    bearer.ok("push", "-q", "origin", "feature/ENG-150-pushed", cwd=clone)

    basic = Git(clone.parent, peer.server.urls.token, how="basic")
    basic.ok("checkout", "-q", "-b", "refunds", "origin/feature/ENG-101-refunds", cwd=clone)
    old_tip = basic.ok("rev-parse", "HEAD", cwd=clone)
    forward = commit(basic, clone, "src/refunds.py", "def refund() -> None: ...\n", "ENG-101: v2")
    basic.ok("push", "-q", "origin", "refunds:feature/ENG-101-refunds", cwd=clone)

    repo = peer.repo()
    assert repo.get_branch("feature/ENG-150-pushed").commit.sha == new_tip
    assert repo.get_git_ref("heads/feature/ENG-101-refunds").object.sha == forward
    assert "feature/ENG-150-pushed" in [b.name for b in repo.get_branches()]
    assert repo.get_branch("feature/ENG-150-pushed").commit.commit.message == "ENG-150: pushed"
    assert [(e["key"], e["detail"]) for e in push_effects(peer)] == [
        (
            f"github:push:acme/payments-api:refs/heads/feature/ENG-150-pushed@{new_tip}",
            {"ref": "refs/heads/feature/ENG-150-pushed", "old": "0" * 40, "new": new_tip,
             "forced": False},
        ),
        (
            f"github:push:acme/payments-api:refs/heads/feature/ENG-101-refunds@{forward}",
            {"ref": "refs/heads/feature/ENG-101-refunds", "old": old_tip, "new": forward,
             "forced": False},
        ),
    ]  # fmt: skip
    head = repo.get_branch("feature/ENG-150-pushed").commit
    assert wait_for_check(head)[-1] == ("completed", "success")
    assert repo.pushed_at > repo.created_at  # the push moved it; it was the creation time


def test_replaying_a_push_records_nothing_and_tags_are_refs_too(peer: Peer, clone: Path) -> None:
    git = Git(clone.parent, peer.server.urls.token)
    git.ok("checkout", "-q", "-b", "hotfix", "origin/main", cwd=clone)
    tip = commit(git, clone, "FIX", "x\n", "fix")
    git.ok("tag", "v2.3.1-rc1", cwd=clone)
    for _ in range(2):
        git.ok("push", "-q", "origin", "hotfix", "v2.3.1-rc1", cwd=clone)
    keys = [str(e["key"]) for e in push_effects(peer)]
    assert keys == [
        f"github:push:acme/payments-api:refs/heads/hotfix@{tip}",
        f"github:push:acme/payments-api:refs/tags/v2.3.1-rc1@{tip}",
    ]
    assert peer.repo().get_git_ref("tags/v2.3.1-rc1").object.sha == tip
    git.ok("push", "-q", "origin", ":hotfix", cwd=clone)  # a deletion is a ref update too
    assert str(push_effects(peer)[-1]["key"]).endswith(f"refs/heads/hotfix@{'0' * 40}")
    assert "hotfix" not in [b.name for b in peer.repo().get_branches()]


def test_a_push_without_the_token_is_refused_as_an_auth_error(peer: Peer, clone: Path) -> None:
    cases = [
        (Git(clone.parent), "could not read Username"),  # 401 challenge, nothing to answer
        (Git(clone.parent, "wrong-token", how="basic"), "Authentication failed"),
    ]
    for git, complaint in cases:
        git.ok("checkout", "-q", "-B", "sneaky", "origin/develop", cwd=clone)
        commit(git, clone, "SNEAKY", "x\n", "sneaky")
        pushed = git("push", "origin", "sneaky", cwd=clone)
        assert pushed.returncode != 0
        assert complaint in pushed.stderr, pushed.stderr
    with pytest.raises(GithubException):
        peer.repo().get_branch("sneaky")
    assert push_effects(peer) == []
    advert = requests.get(f"{peer.repo().clone_url}/info/refs?service=git-receive-pack", timeout=10)
    assert advert.status_code == 401
    assert advert.headers["www-authenticate"] == 'Basic realm="enigma sandbox"'


def test_a_force_push_is_recorded_as_forced(peer: Peer, clone: Path) -> None:
    git = Git(clone.parent, peer.server.urls.token)
    git.ok("checkout", "-q", "-b", "rewrite", "origin/feature/ENG-130-saved-cards", cwd=clone)
    git.ok("reset", "-q", "--hard", "origin/develop", cwd=clone)
    tip = commit(git, clone, "src/cards.py", "CARDS: tuple[str, ...] = ()\n", "ENG-130: again")
    git.ok("push", "-q", "--force", "origin", "rewrite:feature/ENG-130-saved-cards", cwd=clone)
    (effect,) = push_effects(peer)
    assert (effect["detail"]["new"], effect["detail"]["forced"]) == (tip, True)


def test_pushes_and_merges_on_one_branch_never_lose_an_update(peer: Peer, clone: Path) -> None:
    """Pushes and API merges race on one branch; every accepted update is in the final tip."""
    repo = peer.repo()
    release_branch(repo)
    git = Git(clone.parent, peer.server.urls.token)
    git.ok("fetch", "-q", "origin", cwd=clone)
    git.ok("checkout", "-q", "-b", "release", "origin/release/2.4.0", cwd=clone)
    pushed: list[str] = []

    def pusher() -> None:
        for n in range(4):
            for _ in range(10):  # rebase on what the merges did, then try again
                git.ok("pull", "-q", "--no-rebase", "origin", "release/2.4.0", cwd=clone)
                tip = commit(git, clone, f"notes/{n}.md", f"{n}\n", f"note {n}")
                if git("push", "-q", "origin", "release:release/2.4.0", cwd=clone).returncode == 0:
                    pushed.append(tip)
                    break
                git.ok("reset", "-q", "--hard", "HEAD~1", cwd=clone)

    thread = threading.Thread(target=pusher)
    thread.start()
    merged = []
    for feature in ("feature/ENG-101-refunds", "feature/ENG-102-currency-rounding"):
        for _ in range(20):
            try:
                commit_ = repo.merge("release/2.4.0", feature)
            except GithubException as exc:  # the push moved the base under the merge
                assert exc.status == 409
                continue
            merged.append(repo.get_branch(feature).commit.sha)
            assert commit_ is not None
            break
    thread.join(timeout=60)
    assert len(pushed) == 4 and len(merged) == 2
    tip = repo.get_branch("release/2.4.0").commit.sha
    contained = Git(clone.parent)
    contained.ok("fetch", "-q", "origin", cwd=clone)
    for sha in pushed + merged:
        contained.ok("merge-base", "--is-ancestor", sha, tip, cwd=clone)
    assert Counter(e["kind"] for e in peer.server.sandbox.store.effects(peer="github")) == {
        "ref.create": 1,
        "merge": 2,
        "push.ref": 4,
    }

"""The seeded repositories: deterministic, and shaped like the story in seed.toml."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from enigma.sandbox.core import Sandbox
from enigma.sandbox.github_host import GitHubHost
from enigma.sandbox.github_seed import commit_message_for, seed_github
from enigma.sandbox.gitrepo import MergeConflict

Seeded = Callable[[Path], GitHubHost]


@pytest.fixture
def seeded() -> Iterator[Seeded]:
    """Seed the GitHub side of a sandbox in a directory; stores are closed at teardown."""
    hosts: list[GitHubHost] = []

    def make(path: Path) -> GitHubHost:
        sandbox = Sandbox(path)
        seed_github(sandbox)
        hosts.append(GitHubHost(sandbox))
        return hosts[-1]

    yield make
    for host in hosts:
        host.sandbox.store.close()


def test_same_seed_same_commits(seeded: Seeded, tmp_path: Path) -> None:
    one, two = seeded(tmp_path / "one"), seeded(tmp_path / "two")
    for name in ("payments-api", "web-app", "notifications"):
        refs_one = [(r.name, r.object_sha) for r in one.git("acme", name).list_refs()]
        refs_two = [(r.name, r.object_sha) for r in two.git("acme", name).list_refs()]
        assert refs_one == refs_two
        assert ("refs/tags/v2.3.0", "tag") in [
            (r.name, r.object_type) for r in one.git("acme", name).list_refs()
        ]


def test_seed_leaves_existing_repositories_alone(seeded: Seeded, tmp_path: Path) -> None:
    host = seeded(tmp_path)
    git = host.git("acme", "payments-api")
    moved = git.commit_files({"x": "1"}, "local change", parents=[git.rev_parse("main") or ""])
    git.update_ref("refs/heads/main", moved)
    seed_github(host.sandbox)
    assert git.rev_parse("main") == moved


def test_the_story_of_the_seed(seeded: Seeded, tmp_path: Path) -> None:
    host = seeded(tmp_path)
    payments = host.git("acme", "payments-api")
    develop = payments.rev_parse("develop") or ""
    first = payments.merge(
        develop, payments.rev_parse("feature/ENG-105-partner-rate-limit") or "", "m"
    )
    with pytest.raises(MergeConflict) as conflict:
        payments.merge(first or "", payments.rev_parse("feature/ENG-106-burst-limiter") or "", "m")
    assert conflict.value.files == ("config/limits.toml",)
    hotfix = payments.commit_info("bugfix/ENG-120-double-charge")
    assert hotfix.parents == (payments.rev_parse("v2.3.0"),)
    assert payments.commit_info("feature/cache-warmup").message == "cache warmup"
    repo_doc = host.sandbox.store.get("github", "repo", "acme/notifications") or {}
    tip = host.git("acme", "notifications").rev_parse("feature/ENG-131-digest-emails")
    assert repo_doc["ci_failing"] == [tip]


@pytest.mark.parametrize(
    ("branch", "message"),
    [
        ("feature/ENG-101-refunds", "ENG-101: refunds"),
        ("bugfix/ENG-120-double-charge", "ENG-120: double charge"),
        ("feature/cache-warmup", "cache warmup"),
    ],
)
def test_commit_message_for(branch: str, message: str) -> None:
    assert commit_message_for(branch) == message

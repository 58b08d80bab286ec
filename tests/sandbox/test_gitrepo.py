"""The bare-repository wrapper behind the sandbox GitHub peer, on real repos in tmp_path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from enigma.sandbox.git_http import parse_cgi_output, run_http_backend
from enigma.sandbox.gitrepo import (
    ZERO_SHA,
    GitError,
    GitRepo,
    InvalidRefName,
    MergeConflict,
    RefConflict,
)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """A bare repo with main (one commit) and two branches off it that touch limits.toml."""
    r = GitRepo.init_bare(tmp_path / "acme" / "payments-api.git")
    base = r.commit_files({"README.md": "hi\n", "limits.toml": "rpm = 100\n"}, "initial")
    r.create_ref("refs/heads/main", base)
    a = r.commit_files({"limits.toml": "rpm = 600\n"}, "ENG-105 raise", parents=[base])
    b = r.commit_files({"limits.toml": "rpm = 150\n"}, "ENG-106 burst", parents=[base])
    c = r.commit_files({"src/refunds.py": "pass\n"}, "ENG-101 refunds", parents=[base])
    r.create_ref("refs/heads/feature/ENG-105", a)
    r.create_ref("refs/heads/feature/ENG-106", b)
    r.create_ref("refs/heads/feature/ENG-101", c)
    return r


def test_commits_are_deterministic(tmp_path: Path) -> None:
    one = GitRepo.init_bare(tmp_path / "one.git").commit_files({"a.txt": "x"}, "m")
    two = GitRepo.init_bare(tmp_path / "two.git").commit_files({"a.txt": "x"}, "m")
    assert one == two


def test_commit_info_and_files(repo: GitRepo) -> None:
    head = repo.rev_parse("refs/heads/feature/ENG-101")
    assert head is not None
    info = repo.commit_info(head)
    assert info.message == "ENG-101 refunds"
    assert info.parents == (repo.rev_parse("main"),)
    assert info.author.name == "Enigma Sandbox"
    assert repo.list_files(head) == ["README.md", "limits.toml", "src/refunds.py"]
    assert repo.read_file(head, "src/refunds.py") == b"pass\n"
    assert repo.read_file(head, "missing.txt") is None


def test_rev_parse_unknown_is_none(repo: GitRepo) -> None:
    assert repo.rev_parse("refs/heads/nope") is None
    assert repo.rev_parse("0" * 40) is None


def test_list_refs(repo: GitRepo) -> None:
    names = [r.name for r in repo.list_refs("refs/heads")]
    assert names == [
        "refs/heads/feature/ENG-101",
        "refs/heads/feature/ENG-105",
        "refs/heads/feature/ENG-106",
        "refs/heads/main",
    ]


def test_clean_merge_makes_a_merge_commit(repo: GitRepo) -> None:
    main, head = repo.rev_parse("main"), repo.rev_parse("feature/ENG-101")
    assert main and head
    step = repo.merge(main, repo.rev_parse("feature/ENG-105") or "", "merge 105")
    assert step is not None
    merged = repo.merge(step, head, "Merge feature/ENG-101")
    assert merged is not None
    info = repo.commit_info(merged)
    assert info.parents == (step, head)
    assert repo.read_file(merged, "limits.toml") == b"rpm = 600\n"
    assert repo.read_file(merged, "src/refunds.py") == b"pass\n"
    assert repo.is_ancestor(head, merged)


def test_conflicting_merge_names_the_file(repo: GitRepo) -> None:
    main = repo.rev_parse("main") or ""
    first = repo.merge(main, repo.rev_parse("feature/ENG-105") or "", "merge 105")
    assert first is not None
    with pytest.raises(MergeConflict) as caught:
        repo.merge(first, repo.rev_parse("feature/ENG-106") or "", "merge 106")
    assert caught.value.files == ("limits.toml",)


def test_already_merged_returns_none(repo: GitRepo) -> None:
    main = repo.rev_parse("main") or ""
    head = repo.rev_parse("feature/ENG-101") or ""
    merged = repo.merge(main, head, "merge")
    assert merged is not None
    assert repo.merge(merged, head, "again") is None
    assert repo.merge(head, main, "main into feature") is None


def test_update_ref_compare_and_swap(repo: GitRepo) -> None:
    main = repo.rev_parse("main") or ""
    new = repo.commit_files({"x": "1"}, "next", parents=[main])
    with pytest.raises(RefConflict) as caught:
        repo.update_ref("refs/heads/main", new, old_sha=new)
    assert caught.value.actual == main
    assert repo.rev_parse("main") == main
    repo.update_ref("refs/heads/main", new, old_sha=main)
    assert repo.rev_parse("main") == new
    with pytest.raises(RefConflict):
        repo.create_ref("refs/heads/main", main)
    repo.update_ref("refs/heads/main", main)  # no expectation: force
    assert repo.rev_parse("main") == main


def test_delete_ref(repo: GitRepo) -> None:
    with pytest.raises(RefConflict):
        repo.delete_ref("refs/heads/feature/ENG-101", old_sha=ZERO_SHA[:-1] + "1")
    repo.delete_ref("refs/heads/feature/ENG-101")
    assert repo.ref("refs/heads/feature/ENG-101") is None


@pytest.mark.parametrize(
    "name", ["refs/heads/a..b", "refs/heads/x y", "-x", "main", "refs/heads/a~1"]
)
def test_bad_ref_names_are_refused(repo: GitRepo, name: str) -> None:
    with pytest.raises(InvalidRefName):
        repo.create_ref(name, repo.rev_parse("main") or "")


def test_option_like_revisions_are_refused(repo: GitRepo) -> None:
    with pytest.raises(GitError):
        repo.is_ancestor("--output=/tmp/x", "main")


def test_compare_ahead_behind_commits_files(repo: GitRepo) -> None:
    main = repo.rev_parse("main") or ""
    moved = repo.commit_files({"README.md": "hello\nworld\n"}, "docs", parents=[main])
    repo.update_ref("refs/heads/main", moved, old_sha=main)
    cmp = repo.compare("main", "feature/ENG-101")
    assert (cmp.status, cmp.ahead_by, cmp.behind_by) == ("diverged", 1, 1)
    assert cmp.merge_base == main
    assert [c.message for c in cmp.commits] == ["ENG-101 refunds"]
    assert [(f.filename, f.status, f.additions) for f in cmp.files] == [
        ("src/refunds.py", "added", 1)
    ]
    assert repo.compare("main", "main").status == "identical"
    assert repo.compare("feature/ENG-101", main).status == "behind"


def test_tags(repo: GitRepo) -> None:
    main = repo.rev_parse("main") or ""
    light = repo.create_tag("v1.0.0", main)
    assert light == main
    obj = repo.create_tag("v1.0.1", main, message="Release 1.0.1")
    assert obj != main
    tags = {r.name: r for r in repo.list_refs("refs/tags")}
    assert tags["refs/tags/v1.0.1"].object_type == "tag"
    assert tags["refs/tags/v1.0.1"].commit_sha == main
    assert tags["refs/tags/v1.0.0"].object_type == "commit"
    assert repo.rev_parse("v1.0.1") == main


def test_clone_over_smart_http_cgi(repo: GitRepo, tmp_path: Path) -> None:
    """The CGI round trip: ref advertisement for upload-pack, refusal for receive-pack."""
    root = tmp_path
    adv = run_http_backend(
        root, "/acme/payments-api.git/info/refs", "GET", "service=git-upload-pack"
    )
    assert adv.status == 200
    assert ("Content-Type", "application/x-git-upload-pack-advertisement") in adv.headers
    assert b"refs/heads/main" in adv.body
    push = run_http_backend(
        root, "/acme/payments-api.git/info/refs", "GET", "service=git-receive-pack"
    )
    assert push.status == 403
    assert run_http_backend(root, "/acme/../etc.git/info/refs", "GET").status == 404


def test_parse_cgi_output() -> None:
    out = parse_cgi_output(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope")
    assert (out.status, out.headers, out.body) == (404, [("Content-Type", "text/plain")], b"nope")


def test_git_itself_reads_the_repo(repo: GitRepo) -> None:
    out = subprocess.run(
        ["git", f"--git-dir={repo.path}", "fsck", "--strict"], capture_output=True, check=False
    )
    assert out.returncode == 0, out.stderr

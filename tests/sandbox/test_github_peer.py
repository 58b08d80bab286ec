"""The sandbox GitHub peer, driven only through the real PyGithub client over HTTP (and git).

Every answer the peer gives during these tests is recorded by an ASGI middleware wrapped
around the sandbox app, and checked at teardown: against GitHub's own OpenAPI description
(the contract subset in tests/contracts), and for URLs that leave the peer's own address. The
side-effect log is checked too: no effect key may appear twice.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from github import BadCredentialsException, Github, GithubException, InputGitAuthor

from tests.sandbox.contract import load_contract
from tests.sandbox.github_support import (
    Peer,
    PeerFactory,
    assert_all_answers_keep_the_contract,
    client,
    wait_for_check,
)
from tests.sandbox.github_support import (
    release_branch as _release_branch,
)

# -- repositories, branches, refs -------------------------------------------------------------


def test_repository_and_branches(peer: Peer, peer_factory: PeerFactory) -> None:
    repo = peer.repo()
    assert repo.full_name == "acme/payments-api"
    assert repo.default_branch == "main"
    assert repo.clone_url == f"{peer.root}/acme/payments-api.git"
    paged = peer_factory(name="paged", per_page=2).repo()
    names = [b.name for b in paged.get_branches()]
    assert "develop" in names and "feature/ENG-101-refunds" in names and len(names) == 9
    branch = repo.get_branch("feature/ENG-101-refunds")
    assert branch.commit.commit.message == "ENG-101: refunds"
    with pytest.raises(GithubException) as missing:
        repo.get_branch("feature/nope")
    assert missing.value.status == 404


def test_create_ref_then_duplicate_is_422(peer: Peer) -> None:
    repo = peer.repo()
    develop = repo.get_branch("develop").commit.sha
    ref = repo.create_git_ref("refs/heads/release/2.4.0", develop)
    assert (ref.ref, ref.object.sha) == ("refs/heads/release/2.4.0", develop)
    with pytest.raises(GithubException) as dup:
        repo.create_git_ref("refs/heads/release/2.4.0", develop)
    assert (dup.value.status, dup.value.data["message"]) == (422, "Reference already exists")
    assert repo.get_git_ref("heads/release/2.4.0").object.sha == develop
    assert peer.effect_keys() == ["github:ref:acme/payments-api:refs/heads/release/2.4.0"]


def test_update_and_delete_ref(peer: Peer) -> None:
    repo = peer.repo()
    main = repo.get_branch("main").commit.sha
    develop = repo.get_branch("develop").commit.sha
    ref = repo.create_git_ref("refs/heads/scratch", main)
    ref.edit(develop)
    assert repo.get_branch("scratch").commit.sha == develop
    with pytest.raises(GithubException) as not_ff:
        ref.edit(main)
    assert not_ff.value.status == 422
    ref.edit(main, force=True)
    ref.delete()
    with pytest.raises(GithubException) as gone:
        repo.get_git_ref("heads/scratch")
    assert gone.value.status == 404
    assert [k.split(":")[1] for k in peer.effect_keys()] == [
        "ref",
        "ref.update",
        "ref.update",
        "ref.delete",
    ]


def test_annotated_tag_object(peer: Peer) -> None:
    repo = peer.repo()
    main = repo.get_branch("main").commit.sha
    who = InputGitAuthor("Release Bot", "bot@acme.example")
    tag = repo.create_git_tag("v2.4.0-rc1", "Release candidate", main, "commit", tagger=who)
    assert (tag.tag, tag.object.sha, tag.tagger.name) == ("v2.4.0-rc1", main, "Release Bot")
    repo.create_git_ref("refs/tags/v2.4.0-rc1", tag.sha)
    assert repo.get_git_ref("tags/v2.4.0-rc1").object.type == "tag"


# -- merges -----------------------------------------------------------------------------------


def test_clean_merge_makes_a_merge_commit(peer: Peer) -> None:
    repo = peer.repo()
    before = _release_branch(repo)
    head = repo.get_branch("feature/ENG-101-refunds").commit.sha
    commit = repo.merge("release/2.4.0", "feature/ENG-101-refunds", "Merge ENG-101")
    assert commit is not None
    assert [p.sha for p in commit.parents] == [before, head]
    assert commit.commit.message == "Merge ENG-101"
    assert repo.get_branch("release/2.4.0").commit.sha == commit.sha
    assert "github:merge:acme/payments-api:release/2.4.0<-feature/ENG-101-refunds" in (
        peer.effect_keys()
    )


def test_conflicting_merge_is_409_and_moves_nothing(peer: Peer) -> None:
    repo = peer.repo()
    _release_branch(repo)
    assert repo.merge("release/2.4.0", "feature/ENG-105-partner-rate-limit") is not None
    tip = repo.get_branch("release/2.4.0").commit.sha
    with pytest.raises(GithubException) as conflict:
        repo.merge("release/2.4.0", "feature/ENG-106-burst-limiter")
    assert (conflict.value.status, conflict.value.data["message"]) == (409, "Merge conflict")
    assert repo.get_branch("release/2.4.0").commit.sha == tip


def test_already_merged_answers_204_none(peer: Peer) -> None:
    repo = peer.repo()
    _release_branch(repo)
    assert repo.merge("release/2.4.0", "feature/ENG-101-refunds") is not None
    assert repo.merge("release/2.4.0", "feature/ENG-101-refunds") is None
    assert repo.merge("release/2.4.0", "develop") is None
    merges = [k for k in peer.effect_keys() if k.startswith("github:merge:")]
    assert merges == ["github:merge:acme/payments-api:release/2.4.0<-feature/ENG-101-refunds"]


def test_merge_with_missing_branch_is_404(peer: Peer) -> None:
    repo = peer.repo()
    for base, head in (("release/none", "develop"), ("develop", "feature/none")):
        with pytest.raises(GithubException) as missing:
            repo.merge(base, head)
        assert missing.value.status == 404


def test_compare(peer: Peer) -> None:
    repo = peer.repo()
    cmp = repo.compare("develop", "feature/ENG-102-currency-rounding")
    assert (cmp.status, cmp.ahead_by, cmp.behind_by, cmp.total_commits) == ("ahead", 1, 0, 1)
    assert [c.commit.message for c in cmp.commits] == ["ENG-102: currency rounding"]
    assert [(f.filename, f.status) for f in cmp.files] == [("src/money.py", "modified")]
    back = repo.compare("feature/ENG-102-currency-rounding", "main")
    assert (back.status, back.behind_by) == ("behind", 2)
    hotfix = repo.compare("develop", "bugfix/ENG-120-double-charge")
    assert (hotfix.status, hotfix.ahead_by, hotfix.behind_by) == ("diverged", 1, 1)


# -- pull requests ----------------------------------------------------------------------------


def test_pull_request_lifecycle(peer: Peer) -> None:
    repo = peer.repo()
    _release_branch(repo)
    repo.merge("release/2.4.0", "feature/ENG-101-refunds")
    pr = repo.create_pull(base="main", head="release/2.4.0", title="Release 2.4.0", body="Notes")
    assert (pr.number, pr.state, pr.mergeable, pr.head.ref) == (1, "open", True, "release/2.4.0")
    with pytest.raises(GithubException) as dup:
        repo.create_pull(base="main", head="acme:release/2.4.0", title="Again")
    assert dup.value.status == 422
    assert dup.value.data["errors"][0]["message"] == (
        "A pull request already exists for acme:release/2.4.0."
    )
    listed = repo.get_pulls(state="open", head="acme:release/2.4.0", base="main")
    assert [p.number for p in listed] == [1]
    assert list(repo.get_pulls(head="acme:feature/ENG-101-refunds")) == []
    assert [p.number for p in repo.get_pulls(head="feature/ENG-101-refunds")] == [1]  # as GitHub
    pr.edit(title="Release 2.4.0 (payments)")
    got = repo.get_pull(1)
    assert (got.title, got.commits, got.is_merged()) == ("Release 2.4.0 (payments)", 3, False)
    status = got.merge(merge_method="merge")
    assert status.merged
    merged = repo.get_pull(1)
    assert (merged.state, merged.merged, merged.merge_commit_sha) == ("closed", True, status.sha)
    assert merged.is_merged()
    assert repo.get_branch("main").commit.sha == status.sha
    assert peer.effect_keys()[-3:] == [
        "github:pull:acme/payments-api:release/2.4.0->main",
        "github:pull.update:acme/payments-api:#1",
        "github:pull.merge:acme/payments-api:#1",
    ]


def test_pull_request_without_commits_is_422(peer: Peer) -> None:
    repo = peer.repo()
    _release_branch(repo)
    with pytest.raises(GithubException) as empty:
        repo.create_pull(base="develop", head="release/2.4.0", title="Nothing")
    assert empty.value.status == 422
    assert "No commits between develop and release/2.4.0" in str(empty.value.data)


def test_conflicting_pull_request_is_not_mergeable(peer: Peer) -> None:
    repo = peer.repo()
    _release_branch(repo)
    repo.merge("release/2.4.0", "feature/ENG-105-partner-rate-limit")
    pr = repo.create_pull(base="release/2.4.0", head="feature/ENG-106-burst-limiter", title="106")
    assert (pr.mergeable, pr.mergeable_state) == (False, "dirty")
    with pytest.raises(GithubException) as refused:
        pr.merge()
    assert refused.value.status == 405
    with pytest.raises(GithubException) as stale:
        repo.get_pull(pr.number).merge(sha="0" * 40)
    assert stale.value.status == 409


def test_comments_on_a_pull_request(peer: Peer) -> None:
    repo = peer.repo()
    _release_branch(repo)
    repo.merge("release/2.4.0", "feature/ENG-101-refunds")
    pr = repo.create_pull(base="main", head="release/2.4.0", title="Release 2.4.0")
    pr.create_issue_comment("<!-- enigma:run-1 --> CI is green")
    assert [c.body for c in pr.get_issue_comments()] == ["<!-- enigma:run-1 --> CI is green"]
    assert repo.get_pull(pr.number).comments == 1


# -- CI ---------------------------------------------------------------------------------------


def test_check_runs_progress_to_success(peer_factory: PeerFactory) -> None:
    repo = peer_factory(check_delay=1.5).repo()
    _release_branch(repo)
    commit = repo.merge("release/2.4.0", "feature/ENG-101-refunds")
    assert commit is not None
    observed = wait_for_check(repo.get_branch("release/2.4.0").commit)
    assert observed == [("queued", None), ("in_progress", None), ("completed", "success")]
    assert repo.get_branch("release/2.4.0").commit.get_combined_status().state == "success"


def test_a_failing_branch_fails_every_commit_that_contains_it(peer: Peer) -> None:
    repo = peer.repo("notifications")
    _release_branch(repo, "release/2.5.0")
    repo.merge("release/2.5.0", "feature/ENG-131-digest-emails")
    assert wait_for_check(repo.get_branch("release/2.5.0").commit)[-1] == ("completed", "failure")
    pr = repo.create_pull(base="develop", head="feature/ENG-131-digest-emails", title="131")
    head_commit = repo.get_branch(pr.head.ref).commit
    assert wait_for_check(head_commit)[-1] == ("completed", "failure")
    assert head_commit.get_combined_status().state == "failure"
    clean = repo.get_branch("feature/ENG-112-push-dedupe").commit
    assert wait_for_check(clean)[-1] == ("completed", "success")


# -- releases, auth, clone, restart -----------------------------------------------------------


def test_release_creates_its_tag_once(peer: Peer) -> None:
    repo = peer.repo()
    main = repo.get_branch("main").commit.sha
    release = repo.create_git_release("v2.4.0", "2.4.0", "Notes", target_commitish="main")
    assert (release.tag_name, release.title) == ("v2.4.0", "2.4.0")
    assert repo.get_git_ref("tags/v2.4.0").object.sha == main
    assert repo.get_release("v2.4.0").id == release.id
    with pytest.raises(GithubException) as dup:
        repo.create_git_release("v2.4.0", "again", "x")
    assert dup.value.status == 422
    assert dup.value.data["errors"][0]["code"] == "already_exists"
    assert [r.tag_name for r in repo.get_releases()] == ["v2.4.0"]
    assert peer.effect_keys() == ["github:release:acme/payments-api:v2.4.0"]


def test_no_token_is_401(peer: Peer) -> None:
    anonymous = Github(base_url=peer.server.urls.github, retry=None)
    with pytest.raises(GithubException) as no_token:
        anonymous.get_repo("acme/payments-api")
    assert no_token.value.status == 401
    with pytest.raises(BadCredentialsException):
        client(peer.server, token="wrong").get_repo("acme/payments-api")


def test_git_clone_over_smart_http(peer: Peer, tmp_path: Path) -> None:
    repo = peer.repo()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    dest = tmp_path / "clone"

    def git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )

    cloned = git("clone", repo.clone_url, str(dest))
    assert cloned.returncode == 0, cloned.stderr
    assert (dest / "src" / "money.py").read_text().startswith("def round_amount")
    remote = git("branch", "-r", cwd=dest).stdout
    assert "origin/feature/ENG-101-refunds" in remote
    assert git("tag", cwd=dest).stdout.split() == ["v2.3.0"]
    git("checkout", "-b", "sneaky", cwd=dest)
    pushed = git("push", "origin", "sneaky", cwd=dest)
    assert pushed.returncode != 0
    with pytest.raises(GithubException):
        repo.get_branch("sneaky")


def test_state_survives_a_restart(peer_factory: PeerFactory) -> None:
    first = peer_factory(name="durable")
    repo = first.repo()
    _release_branch(repo)
    repo.merge("release/2.4.0", "feature/ENG-101-refunds")
    pr = repo.create_pull(base="main", head="release/2.4.0", title="Release 2.4.0")
    repo.create_git_release("v2.4.0-rc1", "rc1", "rc", target_commitish="release/2.4.0")
    first.server.stop()
    second = peer_factory(name="durable").repo()
    assert second.get_pull(pr.number).title == "Release 2.4.0"
    assert [r.tag_name for r in second.get_releases()] == ["v2.4.0-rc1"]
    head = second.get_branch("release/2.4.0").commit
    assert wait_for_check(head)[-1] == ("completed", "success")


# -- the whole contract and the effect log ----------------------------------------------------


def test_every_contract_operation_answers_to_the_contract(peer: Peer) -> None:
    """Reach all 25 operations of the contract; every answer validates against it."""
    repo = peer.repo()
    repo.get_branches().totalCount  # noqa: B018 - fetch the list
    _release_branch(repo)
    release_branch = repo.get_branch("release/2.4.0")
    ref = repo.get_git_ref("heads/release/2.4.0")
    repo.merge("release/2.4.0", "feature/ENG-101-refunds")
    with pytest.raises(GithubException):
        repo.merge("release/2.4.0", "feature/nope")
    scratch = repo.create_git_ref("refs/heads/scratch", release_branch.commit.sha)
    scratch.edit(repo.get_branch("release/2.4.0").commit.sha)
    scratch.delete()
    repo.create_git_tag("v2.4.0-rc1", "rc1", release_branch.commit.sha, "commit")
    repo.compare("main", "release/2.4.0").commits.totalCount  # noqa: B018
    pr = repo.create_pull(base="main", head="release/2.4.0", title="Release 2.4.0")
    list(repo.get_pulls(head="acme:release/2.4.0"))
    pr.edit(body="Tickets: ENG-101")
    pr.create_issue_comment("hello")
    list(pr.get_issue_comments())
    commit = repo.get_branch("release/2.4.0").commit
    list(commit.get_check_runs())
    commit.create_status("success", context="ci/extra")
    list(commit.get_statuses())
    commit.get_combined_status()
    assert not pr.is_merged()
    repo.get_pull(pr.number).merge()
    assert pr.is_merged()
    repo.create_git_release("v2.4.0", "2.4.0", "Notes", target_commitish="main")
    list(repo.get_releases())
    repo.get_release("v2.4.0")
    assert ref.ref == "refs/heads/release/2.4.0"

    covered = assert_all_answers_keep_the_contract(peer.seen, [peer.root])
    every = {f"{op.method} {op.template}" for op in load_contract().operations}
    assert covered == every, f"not exercised: {sorted(every - covered)}"


def test_each_effect_is_recorded_exactly_once(peer: Peer) -> None:
    """Retries of every write (as a client repeating after a lost answer) add no effect."""
    repo = peer.repo()
    _release_branch(repo)
    with pytest.raises(GithubException):
        _release_branch(repo)
    for _ in range(2):
        repo.merge("release/2.4.0", "feature/ENG-101-refunds")
    pr = repo.create_pull(base="main", head="release/2.4.0", title="Release 2.4.0")
    with pytest.raises(GithubException):
        repo.create_pull(base="main", head="release/2.4.0", title="Release 2.4.0")
    pr.merge()
    with pytest.raises(GithubException):
        repo.get_pull(pr.number).merge()
    repo.create_git_release("v2.4.0", "2.4.0", "Notes", target_commitish="main")
    with pytest.raises(GithubException):
        repo.create_git_release("v2.4.0", "2.4.0", "Notes", target_commitish="main")
    assert Counter(peer.effect_keys()) == Counter(
        {
            "github:ref:acme/payments-api:refs/heads/release/2.4.0": 1,
            "github:merge:acme/payments-api:release/2.4.0<-feature/ENG-101-refunds": 1,
            "github:pull:acme/payments-api:release/2.4.0->main": 1,
            "github:pull.merge:acme/payments-api:#1": 1,
            "github:release:acme/payments-api:v2.4.0": 1,
        }
    )

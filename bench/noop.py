"""No-op clients: in-memory Tracker, CodeHost, Wiki and GitPlanner that answer at once.

They implement the protocols of `enigma.integrations.base` with deterministic data (three
repositories, three ticket branches each, checks already green) and keep no state, so a
benchmark run measures the engine, the run manager and the API, not the services. Memory use
per run stays flat however many runs share one set of clients.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

from enigma.context import Clients, Context
from enigma.integrations.base import (
    CheckRun,
    MergePrediction,
    MergeResult,
    PageRecord,
    PullRequestRecord,
    RepoInfo,
    Ticket,
    VersionRecord,
)

__all__ = ["REPOS", "noop_clients", "noop_context", "release_request"]

REPOS = ["payments-api", "web-app", "notifications"]
BRANCHES_PER_REPO = 3
_TYPES = ("Story", "Bug", "Task")


def _sha(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode(), usedforsecurity=False).hexdigest()


def _tickets(fix_version: str) -> list[Ticket]:
    out = []
    for r, repo in enumerate(REPOS):
        for b in range(BRANCHES_PER_REPO):
            n = 101 + r * BRANCHES_PER_REPO + b
            out.append(
                Ticket(
                    key=f"ENG-{n}",
                    summary=f"{repo} change {b}",
                    type=_TYPES[b % 3],
                    status="In Review",
                    fix_versions=[fix_version],
                    sprint="Sprint 42",
                    labels=[repo],
                    url=f"https://jira.invalid/browse/ENG-{n}",
                )
            )
    return out


def _branches(repo: str) -> list[str]:
    r = REPOS.index(repo) if repo in REPOS else 0
    return [f"feature/ENG-{101 + r * BRANCHES_PER_REPO + b}-work" for b in range(BRANCHES_PER_REPO)]


class NoopTracker:
    """Jira that knows nine tickets and accepts every write."""

    def browse_url(self, key: str) -> str:
        return f"https://jira.invalid/browse/{key}"

    def search_tickets(self, project: str, fix_version: str, sprint: str | None) -> list[Ticket]:
        return _tickets(fix_version)

    def list_versions(self, project: str) -> list[VersionRecord]:
        return [VersionRecord(id="1", name="2.4.0", released=False, archived=False)]

    def version(self, project: str, name: str) -> VersionRecord | None:
        return VersionRecord(id="1", name=name, released=False, archived=False)

    def statuses(self, keys: list[str]) -> dict[str, str]:
        return dict.fromkeys(keys, "Done")

    def ensure_status(self, key: str, status: str) -> bool:
        return True

    def ensure_comment(self, key: str, marker: str, body: str) -> bool:
        return True

    def ensure_remote_link(self, key: str, url: str, title: str) -> bool:
        return True

    def ensure_version_released(self, project: str, name: str, release_date: str) -> bool:
        return True


class NoopCodeHost:
    """GitHub whose merges are clean, pull requests open and checks green."""

    def repository(self, repo: str) -> RepoInfo:
        return RepoInfo(
            name=repo,
            full_name=f"acme/{repo}",
            default_branch="main",
            clone_url=f"https://git.invalid/acme/{repo}.git",
            html_url=f"https://git.invalid/acme/{repo}",
        )

    def git_auth_header(self) -> str:
        return "Authorization: Bearer noop"

    def branch_sha(self, repo: str, branch: str) -> str | None:
        return _sha(repo, branch)

    def ensure_branch(self, repo: str, branch: str, sha: str) -> bool:
        return True

    def merge(self, repo: str, base: str, head: str, message: str) -> MergeResult:
        return MergeResult(outcome="merged", sha=_sha(repo, base, head))

    def get_or_create_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str
    ) -> PullRequestRecord:
        return self.pull_request(repo, 1 + REPOS.index(repo) if repo in REPOS else 1)

    def pull_request(self, repo: str, number: int) -> PullRequestRecord:
        return PullRequestRecord(
            number=number,
            url=f"https://git.invalid/api/acme/{repo}/pulls/{number}",
            html_url=f"https://git.invalid/acme/{repo}/pull/{number}",
            head="release/x",
            base="main",
            head_sha=_sha(repo, "head"),
            state="open",
            merged=False,
        )

    def checks(self, repo: str, sha: str, sources: tuple[str, ...]) -> list[CheckRun]:
        return [
            CheckRun(name="ci", status="completed", conclusion="success", url="https://ci.invalid")
        ]

    def find_pull_request(self, repo: str, head: str, base: str) -> PullRequestRecord | None:
        return None

    def find_release(self, repo: str, tag: str) -> str | None:
        return None

    def compare_url(self, repo: str, base: str, head: str) -> str:
        return f"https://git.invalid/acme/{repo}/compare/{base}...{head}"

    def ensure_pull_request_merged(
        self, repo: str, number: int, message: str, method: str = "merge"
    ) -> str:
        return _sha(repo, "merged", str(number))

    def ensure_release(self, repo: str, tag: str, target: str, name: str, body: str) -> str:
        return f"https://git.invalid/acme/{repo}/releases/{tag}"


class NoopWiki:
    """Confluence that publishes every page as version 1."""

    def ensure_page(
        self, space: str, title: str, body: str, parent_title: str | None
    ) -> PageRecord:
        return PageRecord(id="1", title=title, url="https://wiki.invalid/1", version=1)


class NoopPlanner:
    """A git mirror where every branch merges cleanly."""

    def sync(self, repo: RepoInfo, auth_header: str) -> Path:
        return Path("/nonexistent/mirrors") / repo["name"]

    def branches(self, mirror: Path) -> dict[str, str]:
        names = ["main", "develop", *_branches(mirror.name)]
        return {b: _sha(mirror.name, b) for b in names}

    def last_release_tag(self, mirror: Path) -> str | None:
        return "v2.3.0"

    def tags(self, mirror: Path) -> list[str]:
        return ["v2.3.0"]

    def contains(self, mirror: Path, commit: str, of: str) -> bool:
        return False

    def resolve(self, mirror: Path, ref: str) -> str:
        return _sha(mirror.name, ref)

    def predict_merges(
        self, mirror: Path, base_sha: str, branches: list[str]
    ) -> list[MergePrediction]:
        return [
            MergePrediction(
                branch=b,
                sha=_sha(mirror.name, b),
                outcome="clean",
                files=[f"src/{b.rsplit('/', 1)[-1]}.py"],
                conflicts_with=[],
            )
            for b in branches
        ]


def noop_clients() -> Clients:
    """One set of no-op clients (stateless, so it may be shared by every run)."""
    return Clients(NoopTracker(), NoopCodeHost(), NoopWiki(), NoopPlanner())


def noop_context() -> Context:
    """A run context on the no-op clients that never waits."""
    return Context(
        clients=noop_clients(),
        check_poll_seconds=0.0,
        check_timeout_seconds=5.0,
        retry_backoff_seconds=0.0,
    )


AUTO_APPROVE = {
    "auto_approve": True,
    "on_conflict": "skip",
    "on_check_failure": "abort",
    "on_error": "abort",
    "auto_retries": 2,
}
ASK = {
    "auto_approve": False,
    "on_conflict": "ask",
    "on_check_failure": "ask",
    "on_error": "ask",
    "auto_retries": 2,
}


_VERSIONS = itertools.count(1)


def release_request(auto_approve: bool = True, fix_version: str | None = None) -> dict[str, object]:
    """The body of POST /api/runs (and the manager's RunRequest) for a no-op release.

    Each request releases a fix version of its own unless one is given: Enigma refuses a
    second run of a version while one is active (409), and benchmarks hold many at once.
    """
    return {
        "fix_version": fix_version or f"5.{next(_VERSIONS)}.0",
        "repositories": list(REPOS),
        "release_type": "minor",
        "policy": dict(AUTO_APPROVE if auto_approve else ASK),
    }

"""What the workflow needs from a tracker, a code host, a wiki and git, as protocols.

Nodes talk to these protocols only; `jira_tracker.py`, `github_host.py`, `confluence_wiki.py`
and `git_mirror.py` implement them on the real clients. Every record they return is a plain
TypedDict, so it can go straight into the checkpointed workflow state.

Writes are idempotent and say so in their names (`ensure_*`, `get_or_create_*`): each one
looks before it acts, so a node that re-runs after a crash or a resume changes nothing twice.
Each write returns whether it changed anything (or the record it found or made).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from typing_extensions import TypedDict

__all__ = [
    "CheckRun",
    "Clients",
    "CodeHost",
    "GitPlanner",
    "MergePrediction",
    "MergeResult",
    "PageRecord",
    "PullRequestRecord",
    "RepoInfo",
    "Ticket",
    "Tracker",
    "VersionRecord",
    "Wiki",
]


class Ticket(TypedDict):
    """One Jira issue as the release sees it."""

    key: str
    summary: str
    type: str
    status: str
    fix_versions: list[str]
    sprint: str | None
    labels: list[str]
    url: str


class VersionRecord(TypedDict):
    """A Jira fix version."""

    id: str
    name: str
    released: bool
    archived: bool


class RepoInfo(TypedDict):
    """A repository on the code host."""

    name: str
    full_name: str
    default_branch: str
    clone_url: str
    html_url: str


class MergeResult(TypedDict):
    """What merging one branch did: `merged` (new commit) or `already` (nothing to merge)."""

    outcome: Literal["merged", "already"]
    sha: str


class PullRequestRecord(TypedDict):
    """A pull request Enigma opened or found."""

    number: int
    url: str
    html_url: str
    head: str
    base: str
    head_sha: str
    state: str
    merged: bool


class CheckRun(TypedDict):
    """One CI check on a commit."""

    name: str
    status: str
    conclusion: str | None
    url: str


class PageRecord(TypedDict):
    """A wiki page Enigma published."""

    id: str
    title: str
    url: str
    version: int


class MergePrediction(TypedDict):
    """Whether a branch would merge cleanly onto the release branch, given the ones before."""

    branch: str
    sha: str
    outcome: Literal["clean", "conflict", "already"]
    files: list[str]
    conflicts_with: list[str]


class Tracker(Protocol):
    """Jira, as the release needs it."""

    def browse_url(self, key: str) -> str:
        """Human link to a ticket."""
        ...

    def search_tickets(self, project: str, fix_version: str, sprint: str | None) -> list[Ticket]:
        """Every ticket of the project in the fix version (and sprint, when given)."""
        ...

    def list_versions(self, project: str) -> list[VersionRecord]:
        """The project's fix versions."""
        ...

    def version(self, project: str, name: str) -> VersionRecord | None:
        """One fix version of the project by name, or None if there is none."""
        ...

    def statuses(self, keys: list[str]) -> dict[str, str]:
        """The current status of each ticket (keys the tracker does not know are left out)."""
        ...

    def ensure_status(self, key: str, status: str) -> bool:
        """Walk the workflow until the ticket is in `status`; False if it already was."""
        ...

    def ensure_comment(self, key: str, marker: str, body: str) -> bool:
        """Add `body` unless a comment containing `marker` is already there."""
        ...

    def ensure_remote_link(self, key: str, url: str, title: str) -> bool:
        """Link the ticket to `url` unless that link exists."""
        ...

    def ensure_version_released(self, project: str, name: str, release_date: str) -> bool:
        """Mark the fix version released unless it already is."""
        ...


class CodeHost(Protocol):
    """GitHub, as the release needs it. `repo` is the repository name under the owner."""

    def repository(self, repo: str) -> RepoInfo:
        """Look up a repository (NotFound if it does not exist)."""
        ...

    def git_auth_header(self) -> str:
        """The HTTP header value git needs to fetch from this host."""
        ...

    def branch_sha(self, repo: str, branch: str) -> str | None:
        """The commit a branch points at, or None."""
        ...

    def ensure_branch(self, repo: str, branch: str, sha: str) -> bool:
        """Create `branch` at `sha` unless it exists; False if it was already there."""
        ...

    def merge(self, repo: str, base: str, head: str, message: str) -> MergeResult:
        """Merge `head` into `base` (MergeConflict if it conflicts)."""
        ...

    def get_or_create_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str
    ) -> PullRequestRecord:
        """The open pull request from head to base, opened now if there was none."""
        ...

    def pull_request(self, repo: str, number: int) -> PullRequestRecord:
        """Re-read a pull request."""
        ...

    def checks(self, repo: str, sha: str, sources: tuple[str, ...]) -> list[CheckRun]:
        """CI on a commit: its check runs and/or its commit statuses (`sources`)."""
        ...

    def find_pull_request(self, repo: str, head: str, base: str) -> PullRequestRecord | None:
        """The open (or else the merged) pull request from head to base, or None."""
        ...

    def find_release(self, repo: str, tag: str) -> str | None:
        """The URL of the release for `tag`, or None."""
        ...

    def compare_url(self, repo: str, base: str, head: str) -> str:
        """Where a person sees what `head` would bring into `base`."""
        ...

    def ensure_pull_request_merged(
        self, repo: str, number: int, message: str, method: str = "merge"
    ) -> str:
        """Merge the pull request unless merged; returns the merge commit sha.

        Waits (as a transient error) while GitHub is still computing mergeability.
        """
        ...

    def ensure_release(self, repo: str, tag: str, target: str, name: str, body: str) -> str:
        """Publish a release (and its tag) unless one exists for `tag`; returns its URL."""
        ...


class Wiki(Protocol):
    """Confluence, as the release needs it."""

    def ensure_page(
        self, space: str, title: str, body: str, parent_title: str | None
    ) -> PageRecord:
        """Create the page, or update it when its body differs; returns the page."""
        ...


class GitPlanner(Protocol):
    """Local git over a fetched mirror: what the plan needs that no REST API answers."""

    def sync(self, repo: RepoInfo, auth_header: str) -> Path:
        """Fetch the repository into the local mirror; returns its path."""
        ...

    def branches(self, mirror: Path) -> dict[str, str]:
        """Branch name to commit sha."""
        ...

    def last_release_tag(self, mirror: Path) -> str | None:
        """The highest `vX.Y.Z` tag, or None."""
        ...

    def tags(self, mirror: Path) -> list[str]:
        """Every tag name."""
        ...

    def contains(self, mirror: Path, commit: str, of: str) -> bool:
        """Whether `commit` is in the history of `of` (an ancestor of it, or it)."""
        ...

    def resolve(self, mirror: Path, ref: str) -> str:
        """Commit sha of a branch or tag."""
        ...

    def predict_merges(
        self, mirror: Path, base_sha: str, branches: list[str]
    ) -> list[MergePrediction]:
        """Merge `branches` in order onto `base_sha` in memory; report each outcome."""
        ...


@dataclass(frozen=True)
class Clients:
    """The four things a release talks to."""

    tracker: Tracker
    code_host: CodeHost
    wiki: Wiki
    planner: GitPlanner

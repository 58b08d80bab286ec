"""`CodeHost` on PyGithub: branches, merges, pull requests, checks and releases.

The client is built with `retry=None` (no urllib3 retries), our timeout, and `lazy=True`, so
`get_repo` and friends cost no request until an attribute is read: every request then happens
inside an `http.call` operation. Each write is one check-then-act operation, so a retry after
a dropped answer finds what the first try did instead of doing it twice.

PyGithub keeps one connection per `Github` object and stores a request's verb, URL and body
on it between `request()` and `getresponse()`: one object shared by threads sends requests to
each other's URLs. So every I/O thread gets a `Github` of its own (`threading.local`), and its
session carries the `StopAdapter`, which refuses to send once the run was stopped.
"""

from __future__ import annotations

import base64
import math
import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from github import Auth, Github, GithubException
from pydantic import SecretStr

from enigma.integrations.base import CheckRun, MergeResult, PullRequestRecord, RepoInfo
from enigma.integrations.errors import MergeConflict, NotFound, TransientError
from enigma.integrations.http import CallPolicy, call
from enigma.integrations.scope import guard_session

__all__ = ["GitHubHost"]

T = TypeVar("T")


class GitHubHost:
    """The release's view of GitHub (github.com or Enterprise Server) for one owner."""

    def __init__(
        self,
        base_url: str,
        owner: str,
        token: SecretStr,
        policy: CallPolicy | None = None,
        *,
        pace_requests: bool = True,
    ):
        """`pace_requests` keeps PyGithub's spacing of requests (0.25 s) and writes (1 s),
        which GitHub asks integrations to respect; the sandbox turns it off."""
        self.base_url = base_url.rstrip("/")
        self.owner = owner
        self._token = token
        self.policy = policy or CallPolicy()
        self.pace_requests = pace_requests
        self._local = threading.local()

    def _github(self) -> Github:
        """This thread's client (PyGithub objects are not safe to share between threads)."""
        github: Github | None = getattr(self._local, "github", None)
        if github is None:
            github = Github(
                base_url=self.base_url,
                auth=Auth.Token(self._token.get_secret_value()),
                timeout=max(1, math.ceil(self.policy.timeout)),  # PyGithub insists on an int
                retry=None,
                lazy=True,
                seconds_between_requests=0.25 if self.pace_requests else None,
                seconds_between_writes=1.0 if self.pace_requests else None,
            )
            # PyGithub makes its session lazily and offers no hook for its transport: make
            # the connection now (no request is sent) and mount the stop check on its session
            make_connection = getattr(github.requester, "_Requester__createConnection")  # noqa: B009
            guard_session(make_connection().session)
            self._local.github = github
        return github

    def _call(self, what: str, op: Callable[[], T]) -> T:
        return call("github", op, self.policy, what)

    def _repo(self, repo: str) -> Any:
        return self._github().get_repo(f"{self.owner}/{repo}")

    def repository(self, repo: str) -> RepoInfo:
        """Look up a repository (NotFound if it does not exist)."""

        def read() -> RepoInfo:
            r = self._repo(repo)
            return RepoInfo(
                name=r.name,
                full_name=r.full_name,
                default_branch=r.default_branch,
                clone_url=r.clone_url,
                html_url=r.html_url,
            )

        return self._call("repository", read)

    def git_auth_header(self) -> str:
        """`Authorization: Basic ...` with user `x-access-token`, as GitHub takes it over git."""
        pair = f"x-access-token:{self._token.get_secret_value()}".encode()
        return "Authorization: Basic " + base64.b64encode(pair).decode()

    def branch_sha(self, repo: str, branch: str) -> str | None:
        """The commit a branch points at, or None."""
        try:
            return self._call("branch", lambda: self._ref_sha(repo, branch))
        except NotFound:
            return None

    def _ref_sha(self, repo: str, branch: str) -> str:
        return str(self._repo(repo).get_git_ref(f"heads/{branch}").object.sha)

    def ensure_branch(self, repo: str, branch: str, sha: str) -> bool:
        """Create `branch` at `sha` unless it exists; False if it was already there."""

        created = False  # set before the POST: a retry that finds the branch found ours

        def find_or_create() -> bool:
            nonlocal created
            try:
                self._ref_sha(repo, branch)
                return created
            except GithubException as exc:
                if exc.status != 404:
                    raise
            try:
                created = True
                self._repo(repo).create_git_ref(f"refs/heads/{branch}", sha)
            except GithubException as exc:
                if exc.status == 422 and _says(exc, "already exists"):
                    return False  # someone else made it meanwhile
                raise
            return True

        return self._call("create branch", find_or_create)

    def merge(self, repo: str, base: str, head: str, message: str) -> MergeResult:
        """Merge `head` into `base` (MergeConflict if it conflicts).

        GitHub answers 204 when `base` already contains `head`: that is outcome `already`.
        Re-merging is harmless, so the request itself is the check; a retry after a lost
        answer gets 204 and reports `merged` (this call did merge). Either way the sha is the
        merge commit that brought `head` into `base`, found with the compare API, so a re-run
        reports the same commit as the run that merged.
        """
        tried = False

        def merge_once() -> MergeResult:
            nonlocal tried
            r = self._repo(repo)
            try:
                first, tried = not tried, True
                commit = r.merge(base, head, message)
            except GithubException as exc:
                if exc.status == 409:
                    raise MergeConflict(repo, base, head) from None
                raise
            if commit is None:
                outcome: Literal["merged", "already"] = "already" if first else "merged"
                return MergeResult(outcome=outcome, sha=self._merge_commit_of(repo, base, head))
            return MergeResult(outcome="merged", sha=str(commit.sha))

        return self._call("merge", merge_once)

    def _merge_commit_of(self, repo: str, base: str, head: str) -> str:
        """The first commit on `base` whose parents include `head`'s tip (or the tip itself)."""
        tip = self._ref_sha(repo, head)
        for commit in self._repo(repo).compare(tip, base).commits:
            if tip in {parent.sha for parent in commit.parents}:
                return str(commit.sha)
        return tip  # fast-forwarded: the branch's own commit is on base

    def get_or_create_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str
    ) -> PullRequestRecord:
        """The open pull request from head to base, opened now if there was none."""

        def find_or_open() -> PullRequestRecord:
            found = self._open_pull(repo, head, base)
            if found is not None:
                return found
            try:
                pr = self._repo(repo).create_pull(base=base, head=head, title=title, body=body)
            except GithubException as exc:
                if exc.status == 422 and _says(exc, "already exists"):
                    again = self._open_pull(repo, head, base)
                    if again is not None:
                        return again
                if exc.status == 422 and _says(exc, "No commits between"):
                    # the release was already merged (another run of this version got there
                    # first): that merged pull request is the one this release is about
                    merged = self._merged_pull(repo, head, base)
                    if merged is not None:
                        return merged
                raise
            return _pull_record(pr)

        return self._call("pull request", find_or_open)

    def _open_pull(self, repo: str, head: str, base: str) -> PullRequestRecord | None:
        pulls = self._repo(repo).get_pulls(state="open", head=f"{self.owner}:{head}", base=base)
        for pr in pulls:
            if pr.head.ref == head and pr.base.ref == base:
                return _pull_record(pr)
        return None

    def _merged_pull(self, repo: str, head: str, base: str) -> PullRequestRecord | None:
        pulls = self._repo(repo).get_pulls(state="closed", head=f"{self.owner}:{head}", base=base)
        for pr in pulls:
            if pr.head.ref == head and pr.base.ref == base and pr.merged_at is not None:
                return _pull_record(pr)
        return None

    def pull_request(self, repo: str, number: int) -> PullRequestRecord:
        """Re-read a pull request."""
        # complete() first: a lazy object still holds the relative URL it was made from
        return self._call(
            "pull request", lambda: _pull_record(self._repo(repo).get_pull(number).complete())
        )

    def checks(self, repo: str, sha: str, sources: tuple[str, ...]) -> list[CheckRun]:
        """CI on a commit: check runs and/or commit statuses (the combined status API).

        A status reads as a check: `pending` is in progress; `success` a green completion;
        `failure` and `error` a red one. Its `context` is its name.
        """

        def read() -> list[CheckRun]:
            commit = self._repo(repo).get_commit(sha)
            found: list[CheckRun] = []
            if "check_runs" in sources:
                found += [
                    CheckRun(
                        name=str(run.name),
                        status=str(run.status),
                        conclusion=run.conclusion,
                        url=str(run.html_url or run.url),
                    )
                    for run in commit.get_check_runs()
                ]
            if "statuses" in sources:
                for status in commit.get_combined_status().statuses:
                    state = str(status.state)
                    found.append(
                        CheckRun(
                            name=str(status.context),
                            status="in_progress" if state == "pending" else "completed",
                            conclusion=None if state == "pending" else _STATUS[state],
                            url=str(status.target_url or status.url),
                        )
                    )
            return found

        return self._call("checks", read)

    def find_pull_request(self, repo: str, head: str, base: str) -> PullRequestRecord | None:
        """The open (or else the merged) pull request from head to base, or None."""
        return self._call(
            "pull request",
            lambda: self._open_pull(repo, head, base) or self._merged_pull(repo, head, base),
        )

    def find_release(self, repo: str, tag: str) -> str | None:
        """The URL of the release for `tag`, or None."""

        def read() -> str | None:
            try:
                return str(self._repo(repo).get_release(tag).html_url)
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise

        return self._call("release", read)

    def compare_url(self, repo: str, base: str, head: str) -> str:
        """The web page comparing `base...head` (no request is made)."""
        web = self.base_url.removesuffix("/api/v3")
        if web == "https://api.github.com":
            web = "https://github.com"
        return f"{web}/{self.owner}/{repo}/compare/{quote(base, safe='')}...{quote(head, safe='')}"

    def ensure_pull_request_merged(
        self, repo: str, number: int, message: str, method: str = "merge"
    ) -> str:
        """Merge the pull request unless merged; returns the merge commit sha.

        GitHub computes a pull request's mergeability lazily: right after it was opened or
        updated, `mergeable` is null and a merge may be refused with 405 "Base branch was
        modified". Both are transient: the choke point (and, past it, the run's patience)
        tries again. A pull request GitHub has decided it cannot merge is a permanent error.
        """

        def find_or_merge() -> str:
            pr = self._repo(repo).get_pull(number)
            if pr.merged:
                return str(pr.merge_commit_sha)
            if pr.mergeable is None:
                raise TransientError(
                    "github", f"#{number}: mergeability not computed yet", None, 1.0
                )
            try:
                status = pr.merge(commit_message=message, merge_method=method)
            except GithubException as exc:
                # 405 "not mergeable" also answers a merge that someone finished a moment ago
                again = self._repo(repo).get_pull(number)
                if exc.status in (405, 409) and again.merged:
                    return str(again.merge_commit_sha)
                if exc.status == 405 and (again.mergeable is None or _says(exc, "modified")):
                    raise TransientError(
                        "github", f"#{number}: {_message(exc)}", 405, 1.0
                    ) from None
                raise
            return str(status.sha)

        return self._call("merge pull request", find_or_merge)

    def ensure_release(self, repo: str, tag: str, target: str, name: str, body: str) -> str:
        """Publish a release (and its tag) unless one exists for `tag`; returns its URL."""

        def find_or_publish() -> str:
            r = self._repo(repo)
            try:
                return str(r.get_release(tag).html_url)
            except GithubException as exc:
                if exc.status != 404:
                    raise
            try:
                release = r.create_git_release(tag, name, body, target_commitish=target)
            except GithubException as exc:
                if exc.status == 422 and _says(exc, "already_exists", "already exists"):
                    return str(r.get_release(tag).html_url)
                raise
            return str(release.html_url)

        return self._call("release", find_or_publish)


def _pull_record(pr: Any) -> PullRequestRecord:
    """Plain data from a PullRequest; `merged_at` because list answers carry no `merged`."""
    return PullRequestRecord(
        number=int(pr.number),
        url=str(pr.url),
        html_url=str(pr.html_url),
        head=str(pr.head.ref),
        base=str(pr.base.ref),
        head_sha=str(pr.head.sha),
        state=str(pr.state),
        merged=pr.merged_at is not None,
    )


_STATUS = {"success": "success", "failure": "failure", "error": "failure"}


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    return str(data.get("message") or exc.message or f"HTTP {exc.status}")


def _says(exc: GithubException, *phrases: str) -> bool:
    """Whether GitHub's error (message or `errors[]`) contains one of `phrases`."""
    text = str(exc.data).lower() if exc.data is not None else ""
    return any(p.lower() in text for p in phrases)

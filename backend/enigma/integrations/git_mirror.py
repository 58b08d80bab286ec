"""`GitPlanner` over local mirrors: what a release plan needs that no REST API answers.

`sync` keeps one bare mirror per repository under the cache directory (`git clone --mirror`
once, then `git fetch --prune`), guarded by a per-repository file lock so parallel runs do not
collide. `predict_merges` replays the planned merges in memory with `git merge-tree
--write-tree` (git >= 2.38), chaining synthetic merge commits made with `commit-tree`, so no
work tree is ever touched and no ref is moved.

Safety: git runs with argument lists, never a shell. Branch names are checked with
`git check-ref-format --branch` before they reach any command, and URLs must be http(s).
The auth header reaches git through `GIT_CONFIG_COUNT` / `GIT_CONFIG_KEY_0=http.extraHeader`
in the environment, so it never appears in an argument list (visible in `ps`), a log line,
or the mirror's config file. Prompts and credential helpers are off. Every git process is
killed when the run it works for is stopped (`scope.run_process`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from enigma.files import private_dir
from enigma.integrations.base import MergePrediction, RepoInfo
from enigma.integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidInput,
    NotFound,
    PermanentError,
    TransientError,
)
from enigma.integrations.http import CallPolicy, call
from enigma.integrations.scope import run_process

__all__ = ["GitMirror", "check_branch_name"]

log = logging.getLogger("enigma.integrations")

_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
_PLANNER = {
    "GIT_AUTHOR_NAME": "Enigma planner",
    "GIT_AUTHOR_EMAIL": "planner@enigma.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "Enigma planner",
    "GIT_COMMITTER_EMAIL": "planner@enigma.invalid",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}
_AUTH_FAILED = re.compile(r"authentication failed|error: 40[13]|could not read username", re.I)
_MISSING = re.compile(r"not found|error: 404|does not appear to be a git repository", re.I)
# askpass programs could prompt; trace variables would print the auth header
_ENV_DROP = frozenset(
    {
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_TRACE",
        "GIT_TRACE_CURL",
        "GIT_CURL_VERBOSE",
        "GIT_TRACE_PACKET",
        "GIT_TRACE2",
        "GIT_TRACE2_EVENT",
    }
)
Outcome = Literal["clean", "conflict", "already"]
_LOCAL_TIMEOUT = 120.0


class GitMirror:
    """Bare mirrors of the release's repositories in `cache_dir`."""

    def __init__(
        self,
        cache_dir: Path,
        policy: CallPolicy | None = None,
        fetch_timeout: float = 300.0,
    ):
        self.cache_dir = cache_dir
        self.policy = policy or CallPolicy()
        self.fetch_timeout = fetch_timeout

    # --- fetching ------------------------------------------------------------------------

    def sync(self, repo: RepoInfo, auth_header: str) -> Path:
        """Fetch the repository into the local mirror; returns its path."""
        name = repo["full_name"]
        url = repo["clone_url"]
        if not _REPO_NAME.match(name) or ".." in name:
            raise InvalidInput("git", f"refusing repository name {name!r}")
        if not url.startswith(("https://", "http://")):
            raise InvalidInput("git", "refusing a clone URL that is not http(s)")
        if "@" in urlsplit(url).netloc:  # credentials belong in the header, never in a URL
            raise InvalidInput("git", "refusing a clone URL that carries credentials")
        mirror = self.cache_dir / (name.replace("/", "__") + ".git")
        env = _auth_env(auth_header)
        private_dir(self.cache_dir)
        with _file_lock(mirror.with_suffix(".lock")):
            if (mirror / "HEAD").exists():
                refspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
                # by URL, not by the stored remote: the sandbox's port changes between runs
                args = ["fetch", "--prune", "--quiet", "--", url, *refspecs]
                call("git", lambda: self._network(mirror, args, env), self.policy, "fetch")
            else:
                call("git", lambda: self._clone(url, mirror, env), self.policy, "clone")
        return mirror

    def _clone(self, url: str, mirror: Path, env: Mapping[str, str]) -> None:
        """Clone into a temporary directory, then rename: a half clone is never a mirror."""
        tmp = Path(tempfile.mkdtemp(prefix=mirror.name + ".", dir=self.cache_dir))
        try:
            _run(
                ["git", "clone", "--mirror", "--quiet", "--", url, str(tmp / "m")],
                env,
                self.fetch_timeout,
            )
            (tmp / "m").rename(mirror)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _network(self, mirror: Path, args: list[str], env: Mapping[str, str]) -> None:
        _run(["git", f"--git-dir={mirror}", *args], env, self.fetch_timeout)

    # --- reading -------------------------------------------------------------------------

    def branches(self, mirror: Path) -> dict[str, str]:
        """Branch name to commit sha."""
        out = _git(mirror, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {ref.removeprefix("refs/heads/"): sha for sha, ref in pairs}

    def last_release_tag(self, mirror: Path) -> str | None:
        """The highest `vX.Y.Z` tag, or None."""
        versions = [
            (tuple(map(int, m.groups())), m.group(0))
            for m in map(_RELEASE_TAG.match, self.tags(mirror))
            if m
        ]
        return max(versions)[1] if versions else None

    def tags(self, mirror: Path) -> list[str]:
        """Every tag name."""
        out = _git(mirror, "for-each-ref", "--format=%(refname:strip=2)", "refs/tags/")
        return [line for line in out.splitlines() if line]

    def contains(self, mirror: Path, commit: str, of: str) -> bool:
        """Whether `commit` is in the history of `of` (an ancestor of it, or it)."""
        return _is_ancestor(mirror, self.resolve(mirror, commit), self.resolve(mirror, of))

    def resolve(self, mirror: Path, ref: str) -> str:
        """Commit sha of a branch, tag or commit (NotFound if there is none)."""
        if not ref or ref.startswith("-") or "\0" in ref or "\n" in ref:
            raise InvalidInput("git", f"refusing ref {ref!r}")
        try:
            out = _git(
                mirror, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
            )
        except PermanentError:
            raise NotFound("git", f"no commit for {ref!r} in {mirror.name}", 404) from None
        return out.strip()

    # --- predicting ----------------------------------------------------------------------

    def predict_merges(
        self, mirror: Path, base_sha: str, branches: list[str]
    ) -> list[MergePrediction]:
        """Merge `branches` in order onto `base_sha` in memory; report each outcome.

        A clean merge is committed (unreferenced) and the next branch merges onto it; a
        conflicting one is reported with its files and the earlier clean branches touching
        those files, and skipped. A branch already contained is `already`.
        """
        for branch in branches:
            check_branch_name(branch)
        current = self.resolve(mirror, base_sha)
        base = current
        merged: list[tuple[str, set[str]]] = []
        out: list[MergePrediction] = []
        heads = self.branches(mirror)  # one git for every branch's sha, not one per branch
        for branch in branches:
            sha = heads.get(branch) or self.resolve(mirror, f"refs/heads/{branch}")
            if _is_ancestor(mirror, sha, current):
                out.append(_prediction(branch, sha, "already"))
                continue
            clean, tree, files = _merge_tree(mirror, current, sha)
            if not clean:
                culprits = [b for b, touched in merged if touched & set(files)]
                out.append(_prediction(branch, sha, "conflict", files, culprits))
                continue
            touched = _touched(mirror, base, sha)
            current = _commit(mirror, tree, current, sha, f"predict: merge {branch}")
            merged.append((branch, set(touched)))
            out.append(_prediction(branch, sha, "clean", touched))
        return out


def check_branch_name(name: str) -> str:
    """`name` if git accepts it as a branch name as written; InvalidInput otherwise."""
    if not name or "\0" in name or "\n" in name or name.startswith("-"):
        raise InvalidInput("git", f"refusing branch name {name!r}")
    proc = subprocess.run(
        ["git", "check-ref-format", "--branch", name],
        env=_base_env(),
        capture_output=True,
        text=True,
        check=False,
        process_group=0,  # out of the terminal's reach, like every git of a run (scope.py)
    )
    # --branch expands `@{-1}`-style names: anything but the name itself back is a refusal
    if proc.returncode != 0 or proc.stdout.strip() != name:
        raise InvalidInput("git", f"refusing branch name {name!r}")
    return name


def _prediction(
    branch: str,
    sha: str,
    outcome: Outcome,
    files: Sequence[str] = (),
    conflicts_with: Sequence[str] = (),
) -> MergePrediction:
    return MergePrediction(
        branch=branch,
        sha=sha,
        outcome=outcome,
        files=sorted(files),
        conflicts_with=list(conflicts_with),
    )


def _is_ancestor(mirror: Path, commit: str, of: str) -> bool:
    proc = _run_raw(mirror, "merge-base", "--is-ancestor", commit, of)
    if proc.returncode not in (0, 1):
        raise _git_error(proc.stderr, "merge-base")
    return proc.returncode == 0


def _merge_tree(mirror: Path, ours: str, theirs: str) -> tuple[bool, str, list[str]]:
    """(clean, tree, conflicting files) of merging `theirs` into `ours`, all in memory."""
    proc = _run_raw(
        mirror, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs
    )
    if proc.returncode not in (0, 1):
        raise _git_error(proc.stderr, "merge-tree")
    parts = [part for part in proc.stdout.split("\0") if part]
    if not parts:
        raise PermanentError("git", "merge-tree printed no tree")
    return proc.returncode == 0, parts[0], parts[1:]


def _touched(mirror: Path, base: str, sha: str) -> list[str]:
    """Files the branch changed since it left `base`'s history."""
    out = _git(mirror, "diff", "--name-only", "-z", f"{base}...{sha}")
    return [f for f in out.split("\0") if f]


def _commit(mirror: Path, tree: str, first: str, second: str, message: str) -> str:
    out = _git(
        mirror, "commit-tree", tree, "-p", first, "-p", second, "-m", message, extra_env=_PLANNER
    )
    return out.strip()


# --- running git ---------------------------------------------------------------------------


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ALLOW_PROTOCOL="http:https",
        GIT_CONFIG_NOSYSTEM="1",
        LC_ALL="C",
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="credential.helper",  # an empty helper clears any configured one
        GIT_CONFIG_VALUE_0="",
    )
    return env


def _auth_env(auth_header: str) -> dict[str, str]:
    """The environment carrying the auth header as `http.extraHeader` (never in argv)."""
    header = auth_header.strip()
    if "\n" in header or "\r" in header:
        raise InvalidInput("git", "refusing an auth header with a line break")
    if header and not re.match(r"^[A-Za-z0-9-]+:", header):  # a bare value: "Basic ..."
        header = f"Authorization: {header}"
    env = _base_env()
    if header:
        env.update(
            GIT_CONFIG_COUNT="2", GIT_CONFIG_KEY_1="http.extraHeader", GIT_CONFIG_VALUE_1=header
        )
    return env


def _git(mirror: Path, *args: str, extra_env: Mapping[str, str] | None = None) -> str:
    proc = _run_raw(mirror, *args, extra_env=extra_env)
    if proc.returncode != 0:
        raise _git_error(proc.stderr, args[0])
    return proc.stdout


def _run_raw(
    mirror: Path, *args: str, extra_env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = _base_env() | dict(extra_env or {})
    try:
        return run_process(["git", f"--git-dir={mirror}", *args], env, _LOCAL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise TransientError("git", f"git {args[0]} timed out") from None


def _run(argv: list[str], env: Mapping[str, str], timeout: float) -> None:
    """Run a networked git command; map its failure onto our errors."""
    log.info("git %s", " ".join(a for a in argv[1:] if not a.startswith("--git-dir=")))
    try:
        proc = run_process(argv, env, timeout)
    except subprocess.TimeoutExpired:
        raise TransientError("git", f"git {argv[1]} timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise _git_error(proc.stderr, argv[1], network=True)


def _git_error(stderr: str, what: str, network: bool = False) -> IntegrationError:
    text = " ".join(stderr.split())[:300] or f"git {what} failed"
    if network and _AUTH_FAILED.search(text):
        return AuthError("git", text)
    if network and _MISSING.search(text):
        return NotFound("git", text, 404)
    if network:  # refused, reset, timed out, 5xx, early EOF: worth another try
        return TransientError("git", text)
    return PermanentError("git", text)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (blocks until free; released on exit or crash)."""
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

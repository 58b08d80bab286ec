"""What the sandbox's git wrapper speaks in: errors, value types, environment, parsing.

`gitrepo.GitRepo` runs the commands; this module holds what those commands take and give
back, so that readers of commits, refs and comparisons (the GitHub peer's JSON views, the
smart-HTTP push handler) need not know how git is driven. Ref names are checked with
`git check-ref-format` itself, and revisions that git could read as options are refused
before they reach a command line.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

__all__ = [
    "LOG_FORMAT",
    "STATUS_LETTERS",
    "ZERO_SHA",
    "ChangedFile",
    "CommitInfo",
    "Comparison",
    "GitError",
    "Identity",
    "InvalidRefName",
    "MergeConflict",
    "Ref",
    "RefConflict",
    "check_path",
    "check_ref_name",
    "checked_rev",
    "git_env",
    "parse_commit",
    "parse_numstat",
]

ZERO_SHA = "0" * 40
_FIELD = "\x1f"
LOG_FORMAT = _FIELD.join(["%H", "%T", "%P", "%an", "%ae", "%at", "%cn", "%ce", "%ct", "%B"])


class GitError(Exception):
    """A git command failed; carries the command's stderr."""


class InvalidRefName(GitError):
    """`git check-ref-format` rejects the name."""


class RefConflict(GitError):
    """A compare-and-swap ref update found another value than the one expected."""

    def __init__(self, ref: str, expected: str | None, actual: str | None):
        super().__init__(f"{ref}: expected {expected or 'absent'}, found {actual or 'absent'}")
        self.ref = ref
        self.expected = expected
        self.actual = actual


class MergeConflict(GitError):
    """A merge cannot be made without a human; `files` are the conflicting paths."""

    def __init__(self, files: Sequence[str]):
        super().__init__("merge conflict in " + ", ".join(files))
        self.files = tuple(files)


@dataclass(frozen=True)
class Identity:
    """Who made a commit or tag, and when."""

    name: str = "Enigma Sandbox"
    email: str = "sandbox@enigma.invalid"
    when: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    def git_date(self) -> str:
        """The date in git's internal `<epoch> <tz>` form."""
        return f"{int(self.when.timestamp())} +0000"


@dataclass(frozen=True)
class CommitInfo:
    """What `git log` tells about one commit."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: Identity
    committer: Identity


@dataclass(frozen=True)
class Ref:
    """One ref: its full name, the object it points at, and the commit it peels to."""

    name: str
    object_sha: str
    object_type: str
    commit_sha: str


@dataclass(frozen=True)
class ChangedFile:
    """One file changed between two commits."""

    filename: str
    status: Literal["added", "removed", "modified", "changed"]
    sha: str
    additions: int
    deletions: int


@dataclass(frozen=True)
class Comparison:
    """How head relates to base, as GitHub's compare API reports it (three-dot diff)."""

    status: Literal["identical", "ahead", "behind", "diverged"]
    ahead_by: int
    behind_by: int
    merge_base: str
    commits: tuple[CommitInfo, ...]
    files: tuple[ChangedFile, ...]


def git_env(identity: Identity | None = None) -> dict[str, str]:
    """A scrubbed environment for git: no user config, no prompts, fixed identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    who = identity or Identity()
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
        GIT_AUTHOR_NAME=who.name,
        GIT_AUTHOR_EMAIL=who.email,
        GIT_AUTHOR_DATE=who.git_date(),
        GIT_COMMITTER_NAME=who.name,
        GIT_COMMITTER_EMAIL=who.email,
        GIT_COMMITTER_DATE=who.git_date(),
    )
    return env


# `git diff-tree` status letters as GitHub's compare API names them.
STATUS_LETTERS: dict[str, Literal["added", "removed", "modified", "changed"]] = {
    "A": "added",
    "D": "removed",
    "M": "modified",
}


def check_ref_name(ref: str) -> str:
    """Return `ref` if it is a full ref name git accepts; raise InvalidRefName otherwise."""
    if not ref.startswith("refs/") or not _ref_format_ok(ref):
        raise InvalidRefName(f"invalid ref name: {ref!r}")
    return ref


@functools.lru_cache(maxsize=4096)
def _ref_format_ok(ref: str) -> bool:
    """Ask `git check-ref-format` (cached: the answer depends on the name alone)."""
    proc = subprocess.run(
        ["git", "check-ref-format", ref], env=git_env(), capture_output=True, check=False
    )
    return proc.returncode == 0


def checked_rev(rev: str) -> str:
    """Refuse revisions git could read as options or that carry control characters."""
    if not rev or rev.startswith("-") or any(c in rev for c in "\0\n"):
        raise GitError(f"invalid revision: {rev!r}")
    return rev


def check_path(path: str) -> None:
    """Refuse file paths that leave the tree, name `.git`, or carry control characters."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts):
        raise GitError(f"invalid file path: {path!r}")
    if any(c in path for c in "\0\n"):
        raise GitError(f"invalid file path: {path!r}")


def parse_commit(record: str) -> CommitInfo:
    """One `git log --format=LOG_FORMAT` record."""
    sha, tree, parents, an, ae, at, cn, ce, ct, body = record.lstrip("\n").split(_FIELD, 9)
    author = Identity(an, ae, datetime.fromtimestamp(int(at), UTC))
    committer = Identity(cn, ce, datetime.fromtimestamp(int(ct), UTC))
    return CommitInfo(sha, tree, tuple(parents.split()), body.rstrip("\n"), author, committer)


def parse_numstat(out: str) -> dict[str, tuple[int, int]]:
    """`git diff-tree --numstat -z` output as {path: (additions, deletions)}."""
    counts = {}
    for rec in out.split("\0"):
        adds, _, rest = rec.partition("\t")
        dels, _, path = rest.partition("\t")
        if path:  # binary files report "-": count them as no lines
            counts[path] = (int(adds) if adds.isdigit() else 0, int(dels) if dels.isdigit() else 0)
    return counts

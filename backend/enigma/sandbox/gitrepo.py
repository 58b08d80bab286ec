"""A small typed wrapper over a bare git repository, driven through `git` itself.

The sandbox GitHub peer keeps its repositories as real bare repositories so that merges,
conflicts, ancestry and clones behave exactly as git makes them behave. Every call runs `git`
with an argument list (never a shell) in a scrubbed environment: no system or global config,
no prompts, C locale, and a fixed author and committer so the same inputs give the same
commit ids. Ref names are checked with `git check-ref-format` before they reach a command,
and ref updates go through `git update-ref --stdin -z`, which takes names and values as data
rather than as options.

Commits are built without a work tree: blobs are written with `hash-object`, a temporary index
(`GIT_INDEX_FILE`) is filled with `read-tree` and `update-index --index-info`, and `write-tree`
plus `commit-tree` make the commit. Merges use `git merge-tree --write-tree` (git >= 2.38).

Errors, value types, the environment and output parsing live in `git_types`; their names are
importable from here as before.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from enigma.sandbox.git_types import (
    LOG_FORMAT,
    STATUS_LETTERS,
    ZERO_SHA,
    ChangedFile,
    CommitInfo,
    Comparison,
    GitError,
    Identity,
    InvalidRefName,
    MergeConflict,
    Ref,
    RefConflict,
    check_path,
    check_ref_name,
    checked_rev,
    git_env,
    parse_commit,
    parse_numstat,
)

__all__ = [
    "ZERO_SHA",
    "ChangedFile",
    "CommitInfo",
    "Comparison",
    "GitError",
    "GitRepo",
    "Identity",
    "InvalidRefName",
    "MergeConflict",
    "Ref",
    "RefConflict",
    "check_ref_name",
    "git_env",
]


class GitRepo:
    """A bare repository on disk, read and written only through `git` commands."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def init_bare(cls, path: Path, default_branch: str = "main") -> GitRepo:
        """Create a bare repository (or reopen an existing one) with HEAD on default_branch."""
        check_ref_name(f"refs/heads/{default_branch}")
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path)],
            env=git_env(),
            check=True,
            capture_output=True,
        )
        return cls(path)

    def git(
        self,
        *args: str,
        stdin: bytes | None = None,
        identity: Identity | None = None,
        extra_env: Mapping[str, str] | None = None,
        ok_codes: Sequence[int] = (0,),
    ) -> subprocess.CompletedProcess[bytes]:
        """Run one git command in this repository; raise GitError on an unexpected exit code."""
        env = git_env(identity) | dict(extra_env or {})
        proc = subprocess.run(
            ["git", f"--git-dir={self.path}", *args],
            input=stdin,
            env=env,
            capture_output=True,
            check=False,
        )
        if proc.returncode not in ok_codes:
            err = proc.stderr.decode(errors="replace").strip()
            raise GitError(f"git {args[0]} failed ({proc.returncode}): {err}")
        return proc

    def _out(self, *args: str, stdin: bytes | None = None) -> str:
        return self.git(*args, stdin=stdin).stdout.decode().strip()

    # -- reading -------------------------------------------------------------------------------

    def rev_parse(self, rev: str, peel: str = "commit") -> str | None:
        """The object id `rev` names, peeled to `peel` ("commit", "tree", "" for none); or None."""
        spec = f"{rev}^{{{peel}}}" if peel else rev
        proc = self.git(
            "rev-parse", "--verify", "--quiet", "--end-of-options", spec, ok_codes=(0, 1)
        )
        out = proc.stdout.decode().strip()
        return out if proc.returncode == 0 and out else None

    def list_refs(self, *prefixes: str) -> list[Ref]:
        """Refs under the given prefixes (default: heads and tags), sorted by name."""
        fmt = "%(refname)%00%(objectname)%00%(objecttype)%00%(*objectname)"
        out = self._out(
            "for-each-ref", f"--format={fmt}", *(prefixes or ("refs/heads", "refs/tags"))
        )
        refs = []
        for line in out.splitlines():
            name, sha, kind, peeled = line.split("\0")
            refs.append(Ref(name, sha, kind, peeled or sha))
        return refs

    def ref(self, name: str) -> Ref | None:
        """One ref by full name, or None when absent."""
        check_ref_name(name)
        return next((r for r in self.list_refs(name) if r.name == name), None)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor)."""
        proc = self.git(
            "merge-base",
            "--is-ancestor",
            checked_rev(ancestor),
            checked_rev(descendant),
            ok_codes=(0, 1),
        )
        return proc.returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two commits, or None for unrelated histories."""
        proc = self.git("merge-base", checked_rev(a), checked_rev(b), ok_codes=(0, 1))
        return proc.stdout.decode().strip() or None

    def commit_info(self, rev: str) -> CommitInfo:
        """Message, author, committer, parents and tree of one commit."""
        sha = self.rev_parse(rev)
        if sha is None:
            raise GitError(f"unknown revision {rev!r}")
        out = self.git("log", "-1", "-z", f"--format={LOG_FORMAT}", sha).stdout.decode()
        return parse_commit(out.rstrip("\0"))

    def log(self, rev_range: str, limit: int = 250) -> list[CommitInfo]:
        """Commits in a range such as `base..head`, oldest first (as GitHub lists them)."""
        args = ["log", "-z", "--reverse", f"--max-count={limit}", f"--format={LOG_FORMAT}"]
        out = self.git(*args, checked_rev(rev_range), "--").stdout.decode()
        return [parse_commit(rec) for rec in out.split("\0") if rec.strip()]

    def count(self, rev_range: str) -> int:
        """Number of commits in a range."""
        return int(self._out("rev-list", "--count", checked_rev(rev_range), "--"))

    def read_file(self, rev: str, path: str) -> bytes | None:
        """A file's contents at a commit, or None when it has no such file."""
        proc = self.git("cat-file", "blob", f"{checked_rev(rev)}:{path}", ok_codes=(0, 128))
        return proc.stdout if proc.returncode == 0 else None

    def list_files(self, rev: str) -> list[str]:
        """Every file path in a commit's tree."""
        out = self.git("ls-tree", "-r", "-z", "--name-only", checked_rev(rev), "--").stdout.decode()
        return [p for p in out.split("\0") if p]

    def compare(self, base: str, head: str) -> Comparison:
        """Ahead/behind counts, commits and changed files between base and head."""
        mb = self.merge_base(base, head)
        if mb is None:
            raise GitError(f"{base} and {head} have no common history")
        ahead, behind = self.count(f"{base}..{head}"), self.count(f"{head}..{base}")
        status: Literal["identical", "ahead", "behind", "diverged"]
        if ahead and behind:
            status = "diverged"
        elif ahead:
            status = "ahead"
        elif behind:
            status = "behind"
        else:
            status = "identical"
        commits = tuple(self.log(f"{base}..{head}"))
        return Comparison(status, ahead, behind, mb, commits, tuple(self.diff_files(mb, head)))

    def diff_files(self, old: str, new: str) -> list[ChangedFile]:
        """Files that differ between two commits, with line counts."""
        pair = (checked_rev(old), checked_rev(new), "--")
        raw = self.git("diff-tree", "-r", "-z", "--no-renames", *pair).stdout.decode()
        stat = self.git("diff-tree", "-r", "-z", "--no-renames", "--numstat", *pair)
        counts = parse_numstat(stat.stdout.decode())
        parts = [p for p in raw.split("\0") if p]
        files = []
        for meta, path in zip(parts[0::2], parts[1::2], strict=True):
            _, _, _, new_sha, letter = meta.lstrip(":").split(" ")
            adds, dels = counts.get(path, (0, 0))
            files.append(
                ChangedFile(path, STATUS_LETTERS.get(letter[0], "changed"), new_sha, adds, dels)
            )
        return files

    # -- writing -------------------------------------------------------------------------------

    def write_blob(self, data: bytes) -> str:
        """Store a blob and return its id."""
        return self._out("hash-object", "-w", "--stdin", stdin=data)

    def commit_files(
        self,
        files: Mapping[str, str | bytes | None],
        message: str,
        parents: Sequence[str] = (),
        identity: Identity | None = None,
    ) -> str:
        """Commit `files` (None deletes) on top of the first parent's tree; return the sha."""
        with tempfile.TemporaryDirectory(prefix="enigma-index-") as tmp:
            index_env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parents:
                self.git("read-tree", f"{parents[0]}^{{tree}}", extra_env=index_env)
            else:
                self.git("read-tree", "--empty", extra_env=index_env)
            lines = []
            for path, content in sorted(files.items()):
                check_path(path)
                if content is None:
                    lines.append(f"0 {ZERO_SHA}\t{path}")
                else:
                    data = content.encode() if isinstance(content, str) else content
                    lines.append(f"100644 {self.write_blob(data)}\t{path}")
            stdin = "".join(line + "\0" for line in lines).encode()
            self.git("update-index", "-z", "--index-info", stdin=stdin, extra_env=index_env)
            tree = self.git("write-tree", extra_env=index_env).stdout.decode().strip()
        return self.commit_tree(tree, message, parents, identity)

    def commit_tree(
        self, tree: str, message: str, parents: Sequence[str], identity: Identity | None = None
    ) -> str:
        """Make a commit object for a tree and parents; the message is read from stdin."""
        args = ["commit-tree", checked_rev(tree)]
        for parent in parents:
            args += ["-p", checked_rev(parent)]
        return self.git(*args, stdin=message.encode(), identity=identity).stdout.decode().strip()

    def merge_tree(self, base_sha: str, head_sha: str) -> tuple[str, tuple[str, ...]]:
        """The tree a merge would produce and the conflicting paths (empty when clean)."""
        proc = self.git(
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            "-z",
            checked_rev(base_sha),
            checked_rev(head_sha),
            ok_codes=(0, 1),
        )
        tree, *conflicted = [p for p in proc.stdout.decode().split("\0") if p]
        return tree, tuple(sorted(set(conflicted))) if proc.returncode == 1 else ()

    def merge(
        self,
        base_sha: str,
        head_sha: str,
        message: str,
        identity: Identity | None = None,
        squash: bool = False,
    ) -> str | None:
        """Merge head into base as a new commit; None when base already contains head.

        A squash merge has base as its only parent. Raises MergeConflict with the conflicting
        paths; nothing is written to any ref.
        """
        if self.is_ancestor(head_sha, base_sha):
            return None
        tree, conflicts = self.merge_tree(base_sha, head_sha)
        if conflicts:
            raise MergeConflict(conflicts)
        parents = [base_sha] if squash else [base_sha, head_sha]
        return self.commit_tree(tree, message, parents, identity)

    def update_ref(self, ref: str, new_sha: str, old_sha: str | None = None) -> None:
        """Point `ref` at new_sha only if it now holds old_sha (ZERO_SHA: must not exist).

        old_sha None means "whatever it holds". Raises RefConflict when the expectation fails.
        """
        check_ref_name(ref)
        self._ref_transaction(ref, ["update " + ref, new_sha, old_sha or ""], old_sha)

    def create_ref(self, ref: str, sha: str) -> None:
        """Create a ref that must not exist yet (RefConflict if it does)."""
        self.update_ref(ref, sha, ZERO_SHA)

    def delete_ref(self, ref: str, old_sha: str | None = None) -> None:
        """Delete a ref, optionally only if it still holds old_sha."""
        check_ref_name(ref)
        self._ref_transaction(ref, ["delete " + ref, old_sha or ""], old_sha)

    def _ref_transaction(self, ref: str, fields: list[str], expected: str | None) -> None:
        stdin = "".join(f + "\0" for f in fields).encode()
        proc = self.git("update-ref", "-z", "--stdin", stdin=stdin, ok_codes=(0, 1, 128))
        if proc.returncode == 0:
            return
        current = self.rev_parse(ref, peel="")
        if expected is not None and current != (None if expected == ZERO_SHA else expected):
            raise RefConflict(ref, expected, current)
        raise GitError(f"update-ref {ref} failed: {proc.stderr.decode(errors='replace').strip()}")

    def create_tag_object(
        self, tag: str, target_sha: str, message: str, identity: Identity | None = None
    ) -> str:
        """Write an annotated tag object (no ref) pointing at a commit; return its id."""
        check_ref_name(f"refs/tags/{tag}")
        who = identity or Identity()
        body = (
            f"object {target_sha}\ntype commit\ntag {tag}\n"
            f"tagger {who.name} <{who.email}> {who.git_date()}\n\n{message.rstrip()}\n"
        )
        return self._out("mktag", stdin=body.encode())

    def create_tag(
        self,
        tag: str,
        target_sha: str,
        message: str | None = None,
        identity: Identity | None = None,
    ) -> str:
        """Create refs/tags/<tag>: annotated when a message is given, else lightweight."""
        obj = (
            target_sha
            if message is None
            else self.create_tag_object(tag, target_sha, message, identity)
        )
        self.create_ref(f"refs/tags/{tag}", obj)
        return obj

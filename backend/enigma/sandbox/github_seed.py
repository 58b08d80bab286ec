"""Build the seed's repositories as bare git repositories, deterministically.

For each `[[github.repos]]` entry: one commit on main with `files`, tagged with `release_tag`
(an annotated tag, as release tooling makes them); develop one commit later with the
`develop` files; then every branch as one commit on top of its `from` (a branch or a tag)
writing its `files`. Authors and dates are fixed, so the same seed gives the same commit ids on
every machine. A repository directory that already exists is left alone.

The store gets one `repo` document per repository (id, description, the tips of branches
whose CI fails, and the CI options `ci`, `checks`, `failing_checks`, see `github_ci`) and a
CI record for every seeded head, so CI has an answer for them too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from enigma.sandbox.core import Sandbox
from enigma.sandbox.github_ci import ci_config, ensure_check_run
from enigma.sandbox.github_host import PEER_NAME, GitHubHost
from enigma.sandbox.gitrepo import GitRepo, Identity

__all__ = ["commit_message_for", "seed_github"]

_START = datetime(2026, 9, 28, 9, 0, tzinfo=UTC)
_MAINTAINER = ("Ada Maintainer", "ada@acme.example")
_DEVELOPERS = [
    ("Grace Developer", "grace@acme.example"),
    ("Linus Developer", "linus@acme.example"),
    ("Barbara Developer", "barbara@acme.example"),
]


def seed_github(sandbox: Sandbox) -> None:
    """Create the seeded repositories (if absent) and their documents in the store."""
    host = GitHubHost(sandbox)
    with sandbox.store.transaction() as tx:
        for index, spec in enumerate(host.seed.get("repos", [])):
            git = host.git(host.owner, spec["name"])
            failing = _build_repo(git, spec) if not git.path.exists() else _failing_tips(git, spec)
            full_name = f"{host.owner}/{spec['name']}"
            doc = {
                "id": 100_000 + index,
                "owner": host.owner,
                "name": spec["name"],
                "description": spec.get("description"),
                "default_branch": "main",
                "created_at": "2026-01-15T09:00:00Z",
                "ci_failing": failing,
            } | _ci_options(spec)
            ci_config(doc, host)  # a seed with an unknown `ci` mode fails here, loudly
            tx.put(PEER_NAME, "repo", full_name, doc)
            for ref in git.list_refs("refs/heads"):
                branch = ref.name.removeprefix("refs/heads/")
                ensure_check_run(tx, host, full_name, git, ref.commit_sha, branch)


def _ci_options(spec: dict[str, Any]) -> dict[str, Any]:
    """The repository's CI options (`ci`, `checks`, `failing_checks`) as given in the seed."""
    return {key: spec[key] for key in ("ci", "checks", "failing_checks") if key in spec}


def commit_message_for(branch: str) -> str:
    """`feature/ENG-101-refunds` -> `ENG-101: refunds`; no ticket -> `cache warmup`.

    `ENG-141_fast-path` -> `ENG-141: fast path`; `users/alice/ENG-142` -> `ENG-142: changes`.
    """
    leaf = branch.rsplit("/", 1)[-1]
    match = re.match(r"([A-Z][A-Z0-9]+-\d+)[-_]?(.*)", leaf)
    if match:
        return f"{match[1]}: {match[2].replace('-', ' ').replace('_', ' ') or 'changes'}"
    return leaf.replace("-", " ")


def _who(name_email: tuple[str, str], when: datetime) -> Identity:
    return Identity(name_email[0], name_email[1], when)


def _build_repo(git: GitRepo, spec: dict[str, Any]) -> list[str]:
    """Write main, the release tag, develop and the branches; return failing-CI tips."""
    GitRepo.init_bare(git.path)
    name = spec["name"]
    main = git.commit_files(
        spec.get("files", {}),
        f"Release {name} {spec.get('release_tag', '')}".strip(),
        identity=_who(_MAINTAINER, _START),
    )
    git.create_ref("refs/heads/main", main)
    if spec.get("release_tag"):
        tag = spec["release_tag"]
        git.create_tag(tag, main, f"Release {tag}", identity=_who(_MAINTAINER, _START))
    develop = git.commit_files(
        spec.get("develop", {}),
        "Start the next release on develop",
        parents=[main],
        identity=_who(_MAINTAINER, _START + timedelta(days=1)),
    )
    git.create_ref("refs/heads/develop", develop)
    failing = []
    for i, branch in enumerate(spec.get("branches", [])):
        start = git.rev_parse(branch["from"])
        if start is None:
            raise ValueError(f"seed: {name}/{branch['name']} starts from unknown {branch['from']}")
        when = _START + timedelta(days=2, hours=i)
        sha = git.commit_files(
            branch.get("files", {}),
            commit_message_for(branch["name"]),
            parents=[start],
            identity=_who(_DEVELOPERS[i % len(_DEVELOPERS)], when),
        )
        git.create_ref(f"refs/heads/{branch['name']}", sha)
        if branch.get("ci") == "failure":
            failing.append(sha)
    return failing


def _failing_tips(git: GitRepo, spec: dict[str, Any]) -> list[str]:
    """For a repository built earlier: the current tips of the branches marked failing."""
    tips = (
        git.rev_parse(f"refs/heads/{b['name']}")
        for b in spec.get("branches", [])
        if b.get("ci") == "failure"
    )
    return [sha for sha in tips if sha is not None]

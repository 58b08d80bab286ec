"""A whole release on the sandbox (3 repositories x 10 tickets) against the same git work raw.

Enigma: one auto-approved run through the run manager with the real clients (Jira, GitHub and
Confluence over HTTP to the sandbox in its own process, git mirrors for the plan), from start
to `succeeded`, CI answering at once. Raw: a script doing the git operations that release
makes on the bare repositories themselves, on a copy of the same seed: per repository the
release branch at develop, each ticket branch merged (`merge-tree --write-tree`,
`commit-tree`, `update-ref`), the release merged into main, the tag.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import Row, log
from bench.sandbox import SandboxProcess
from enigma.bootstrap import open_sqlite_saver
from enigma.bootstrap_sandbox import sandbox_endpoints
from enigma.context import Context
from enigma.graph import build_graph
from enigma.integrations.factory import build_clients
from enigma.runs.manager import RunManager
from enigma.runs.models import RunRequest
from enigma.runs.sqlite_store import SqliteRunStore
from enigma.sandbox.core import Sandbox
from enigma.sandbox.seeds import REPOS, release_seed
from enigma.sandbox.server import SandboxUrls, peers, seed_if_empty
from enigma.settings import Settings

__all__ = ["sandbox_release"]

VERSION = "2.4.0"
POLICY = {
    "auto_approve": True,
    "on_conflict": "skip",
    "on_check_failure": "abort",
    "on_error": "abort",
    "auto_retries": 2,
}


def _template(work: Path, tickets: int) -> Path:
    """A seeded sandbox data directory to copy (seeding builds the git repositories)."""
    seed = release_seed(work / "release-seed.toml", tickets)
    data = work / "template" / "sandbox"
    sandbox = Sandbox(data, seed_file=seed, settings={})
    seed_if_empty(sandbox, peers())
    sandbox.store.close()
    return seed


async def _enigma_release(data_dir: Path, urls: dict[str, str]) -> tuple[float, dict[str, float]]:
    settings = Settings(data_dir=data_dir, http_backoff_seconds=0.05, repositories=REPOS)
    sandbox = SandboxUrls(
        jira=urls["jira"],
        github=urls["github"],
        confluence=urls["confluence"],
        token=urls["token"],
        admin=urls["admin"],
    )
    context = Context(
        clients=build_clients(settings, sandbox_endpoints(sandbox)),
        check_poll_seconds=0.02,
        check_timeout_seconds=60,
        retry_backoff_seconds=0.05,
    )
    async with open_sqlite_saver(data_dir / "checkpoints.sqlite3") as saver:
        store = SqliteRunStore(data_dir / "runs.sqlite3")
        manager = RunManager(build_graph(saver), store, context, checkpointer=saver)
        request = RunRequest.model_validate(
            {
                "fix_version": VERSION,
                "repositories": REPOS,
                "release_type": "minor",
                "policy": POLICY,
            }
        )
        t0 = time.perf_counter()
        run, _ = await manager.start(request, "bench")
        run = await manager.wait_for(run.id, {"succeeded", "failed", "cancelled"}, timeout=600)
        elapsed = time.perf_counter() - t0
        steps: dict[str, float] = defaultdict(float)
        for event in await store.events(run.id, limit=100_000):
            if event.type == "step.finished" and event.step:
                steps[event.step] += float(event.data.get("duration_ms", 0)) / 1000
        await manager.shutdown()
        await store.close()
    assert run.status == "succeeded", f"the sandbox release ended {run.status}: {run.error}"
    return elapsed, dict(steps)


def _git(repo: Path, *args: str, stdin: str | None = None) -> str:
    env = {
        "GIT_AUTHOR_NAME": "raw",
        "GIT_AUTHOR_EMAIL": "raw@example.invalid",
        "GIT_COMMITTER_NAME": "raw",
        "GIT_COMMITTER_EMAIL": "raw@example.invalid",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(repo),
    }
    out = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return out.stdout.strip()


def _merge(repo: Path, base: str, head: str, message: str) -> str:
    tree = _git(repo, "merge-tree", "--write-tree", base, head)
    return _git(repo, "commit-tree", tree, "-p", base, "-p", head, "-m", message)


def _raw_release(repos_dir: Path) -> float:
    """The release's git operations, scripted directly on the bare repositories."""
    t0 = time.perf_counter()
    for name in REPOS:
        repo = next(repos_dir.glob(f"*/{name}.git"))
        branch = f"refs/heads/release/{VERSION}"
        head = _git(repo, "rev-parse", "refs/heads/develop")
        _git(repo, "update-ref", branch, head, "0" * 40)
        work = sorted(
            r
            for r in _git(
                repo, "for-each-ref", "--format=%(refname)", "refs/heads/feature/"
            ).splitlines()
        )
        for ref in work:
            new = _merge(repo, head, ref, f"Merge {ref} into release/{VERSION}")
            _git(repo, "update-ref", branch, new, head)
            head = new
        main = _git(repo, "rev-parse", "refs/heads/main")
        merged = _merge(repo, main, head, f"Release {VERSION}")
        _git(repo, "update-ref", "refs/heads/main", merged, main)
        _git(repo, "tag", "-a", f"v{VERSION}", "-m", f"Release {VERSION}", merged)
    return time.perf_counter() - t0


async def sandbox_release(work: Path | None = None, tickets: int = 10, rounds: int = 1) -> Row:
    """Row 7: the sandbox release through Enigma vs the same git operations scripted raw."""
    enigma_times: list[float] = []
    raw_times: list[float] = []
    steps: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-release-", dir=work) as tmp:
        root = Path(tmp)
        seed = _template(root, tickets)
        for i in range(rounds):
            data = root / f"enigma-{i}"
            shutil.copytree(root / "template", data)
            with SandboxProcess(data, seed, check_delay=0.0) as sandbox:
                elapsed, steps = await _enigma_release(data, sandbox.urls)
                effects = sandbox.effects()
            enigma_times.append(elapsed)
            raw = root / f"raw-{i}"
            shutil.copytree(root / "template", raw)
            raw_times.append(_raw_release(raw / "sandbox" / "repos"))
    value, base = min(enigma_times), min(raw_times)
    top = sorted(steps.items(), key=lambda kv: -kv[1])[:5]
    log(
        f"sandbox release: Enigma {value:.2f}s ({len(effects)} effects), raw git {base:.2f}s; "
        "slowest steps (summed over repositories): " + ", ".join(f"{k} {v:.2f}s" for k, v in top)
    )
    return Row(
        f"sandbox release 3 repos x {tickets} tickets vs raw git",
        value,
        "s",
        base,
        value / base,
        "<= 1.5x",
        value / base <= 1.5,
    )


if __name__ == "__main__":
    print(asyncio.run(sandbox_release()))

"""Simulated CI: each new head runs the repository's jobs, whose progress follows the clock.

Every new head (a ref created or moved, a pushed branch, a merge commit, an opened pull
request) gets one CI record holding the repository's jobs. Nothing runs in the background:
the record keeps when CI started, and every read derives each job's state from the time
passed: queued for the first third of the job's duration, in progress until it is over,
then completed. Conclusions are fixed at creation: `failure` for a job the repository names
in `failing_checks`, and for every job of a commit that contains the tip of a branch the seed
marks `ci = "failure"`; else `success`. Records live in the store, so they survive restarts.

How a repository's CI reports (the seed's `[[github.repos]]` entry, kept in its store
document):

    ci = "both"        each job as a check run and as a commit status context of the same
                       name (the default, and what the sandbox always did)
    ci = "checks"      check runs only: the combined status API shows nothing (pending, 0)
    ci = "statuses"    commit statuses only (Jenkins-style): no check runs
    ci = "none"        no CI at all
    checks = [...]     the job names (default: the `check_name` setting, "enigma-ci")
    failing_checks = [...]   jobs that fail on every commit (a flaky or broken job)

The n-th job (from 0) takes `check_delay_seconds * (1 + n/2)`, so several jobs finish one by
one. A simulated status context reports `pending` from the start and its conclusion when the
job completes, as two statuses, the way a CI server posts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from enigma.sandbox.core import Transaction
from enigma.sandbox.github_host import PEER_NAME, GitHubHost
from enigma.sandbox.gitrepo import GitRepo

__all__ = [
    "CI_MODES",
    "CiConfig",
    "SimulatedStatus",
    "check_run_state",
    "ci_config",
    "ensure_check_run",
    "jobs",
    "reports_checks",
    "simulated_statuses",
]

Json = dict[str, Any]
CiMode = Literal["checks", "statuses", "both", "none"]
CI_MODES: tuple[CiMode, ...] = ("checks", "statuses", "both", "none")
_STATUS_COUNTER = "github.status"


@dataclass(frozen=True)
class CiConfig:
    """How one repository's CI reports, and which of its jobs always fail."""

    mode: CiMode
    jobs: tuple[str, ...]
    failing: frozenset[str]


def ci_config(repo_doc: Json, host: GitHubHost) -> CiConfig:
    """The CI options of a repository's store document (defaults for older documents)."""
    mode = repo_doc.get("ci", "both")
    if mode not in CI_MODES:
        raise ValueError(f"{repo_doc.get('name')}: ci must be one of {CI_MODES}, not {mode!r}")
    names = tuple(str(n) for n in repo_doc.get("checks") or [host.check_name])
    return CiConfig(mode, names, frozenset(str(n) for n in repo_doc.get("failing_checks", [])))


def ensure_check_run(
    tx: Transaction, host: GitHubHost, full_name: str, git: GitRepo, sha: str, branch: str
) -> Json:
    """The CI record of a commit, started now if the commit has none yet."""
    key = f"{full_name}@{sha}"
    existing = tx.get(PEER_NAME, "check_run", key)
    if existing is not None:
        return existing
    repo_doc = tx.get(PEER_NAME, "repo", full_name) or {}
    config = ci_config(repo_doc, host)
    broken = any(git.is_ancestor(tip, sha) for tip in repo_doc.get("ci_failing", []))
    started, delay = host.now(), host.check_delay
    records = []
    for n, name in enumerate(config.jobs if config.mode != "none" else ()):
        failed = broken or name in config.failing
        job: Json = {"id": tx.next_id("github.id", start=1000), "name": name}
        job |= {"delay": delay * (1 + n / 2), "conclusion": "failure" if failed else "success"}
        if config.mode in ("statuses", "both"):
            job["status_ids"] = [tx.next_id(_STATUS_COUNTER), tx.next_id(_STATUS_COUNTER)]
        records.append(job)
    doc = {"repo": full_name, "head_sha": sha, "head_branch": branch, "created": started}
    doc |= {"delay": delay, "mode": config.mode, "jobs": records}
    tx.put(PEER_NAME, "check_run", key, doc)
    return doc


def jobs(doc: Json) -> list[Json]:
    """A CI record's jobs, each with the record's head and start (older records had one)."""
    shared = {k: doc[k] for k in ("repo", "head_sha", "head_branch", "created")}
    if "jobs" not in doc:  # written before CI had several jobs: one job, as check and status
        return [shared | {k: doc[k] for k in ("id", "name", "delay", "conclusion")}]
    return [shared | job for job in doc["jobs"]]


def reports_checks(doc: Json) -> bool:
    """Whether the record's jobs show up as check runs."""
    return str(doc.get("mode", "both")) in ("checks", "both")


def check_run_state(job: Json, now: float) -> tuple[str, str | None, float | None, float | None]:
    """(status, conclusion, started_at, completed_at) of a job at time `now`."""
    created, delay = float(job["created"]), float(job["delay"])
    started = created + delay / 3
    if now < started:
        return "queued", None, None, None
    if now < created + delay:
        return "in_progress", None, started, None
    return "completed", str(job["conclusion"]), started, created + delay


@dataclass(frozen=True)
class SimulatedStatus:
    """One commit status a simulated job has posted by now."""

    id: int
    context: str
    state: str
    description: str
    created: float
    job_id: int


def simulated_statuses(doc: Json, now: float) -> list[SimulatedStatus]:
    """The statuses the record's jobs have posted by `now`, oldest first."""
    if str(doc.get("mode", "both")) not in ("statuses", "both"):
        return []
    posted = []
    for job in jobs(doc):
        ids = job.get("status_ids") or [int(job["id"]), int(job["id"])]
        created, done = float(job["created"]), float(job["created"]) + float(job["delay"])
        name, ident = str(job["name"]), int(job["id"])
        posted.append(SimulatedStatus(ids[0], name, "pending", f"{name}: running", created, ident))
        if now >= done:
            state = str(job["conclusion"])
            posted.append(SimulatedStatus(ids[1], name, state, f"{name}: {state}", done, ident))
    return sorted(posted, key=lambda s: (s.created, s.id))

"""Simulated CI: one check run per pushed head, whose progress is derived from the clock.

Every new head (a ref created or moved, a merge commit, an opened pull request) gets a check
run named after the seed's `check_name`. Nothing runs in the background: the run stores when
it was created and how long CI takes, and every read derives its state from the time passed:
queued for the first third of the delay, in progress until the delay is over, then completed.
The conclusion is fixed at creation: `failure` when the commit contains the tip of a branch the
seed marks `ci = "failure"`, else `success`. Runs live in the store, so they survive restarts.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from enigma.sandbox.core import Transaction
from enigma.sandbox.github_host import PEER_NAME, GitHubHost, RepoContext, error, repo_dependency
from enigma.sandbox.github_json import RepoLinks, commit_json, iso, node_id, repository_json
from enigma.sandbox.gitrepo import GitRepo

__all__ = ["build_checks_router", "check_run_state", "ensure_check_run"]

Json = dict[str, Any]


def ensure_check_run(
    tx: Transaction, host: GitHubHost, full_name: str, git: GitRepo, sha: str, branch: str
) -> Json:
    """The check run of a commit, created now (queued) if the commit has none yet."""
    key = f"{full_name}@{sha}"
    existing = tx.get(PEER_NAME, "check_run", key)
    if existing is not None:
        return existing
    repo_doc = tx.get(PEER_NAME, "repo", full_name) or {}
    failing = any(git.is_ancestor(tip, sha) for tip in repo_doc.get("ci_failing", []))
    doc = {
        "id": tx.next_id("github.id", start=1000),
        "repo": full_name,
        "head_sha": sha,
        "head_branch": branch,
        "name": host.check_name,
        "created": host.now(),
        "delay": host.check_delay,
        "conclusion": "failure" if failing else "success",
    }
    tx.put(PEER_NAME, "check_run", key, doc)
    return doc


def check_run_state(doc: Json, now: float) -> tuple[str, str | None, float | None, float | None]:
    """(status, conclusion, started_at, completed_at) of a run at time `now`."""
    created, delay = float(doc["created"]), float(doc["delay"])
    started = created + delay / 3
    if now < started:
        return "queued", None, None, None
    if now < created + delay:
        return "in_progress", None, started, None
    return "completed", str(doc["conclusion"]), started, created + delay


def check_run_json(rl: RepoLinks, doc: Json, now: float) -> Json:
    """A `check-run`."""
    status, conclusion, started, completed = check_run_state(doc, now)
    run_id = int(doc["id"])
    title = {"success": "CI passed", "failure": "CI failed"}.get(conclusion or "", "CI running")
    return {
        "id": run_id,
        "node_id": node_id("CheckRun", run_id),
        "head_sha": doc["head_sha"],
        "external_id": str(run_id),
        "url": f"{rl.api}/check-runs/{run_id}",
        "html_url": f"{rl.web}/runs/{run_id}",
        "details_url": f"{rl.web}/runs/{run_id}",
        "status": status,
        "conclusion": conclusion,
        "started_at": None if started is None else iso(started),
        "completed_at": None if completed is None else iso(completed),
        "output": {
            "title": title,
            "summary": f"{doc['name']} on {doc['head_branch']}: {conclusion or status}",
            "text": None,
            "annotations_count": 0,
            "annotations_url": f"{rl.api}/check-runs/{run_id}/annotations",
        },
        "name": doc["name"],
        "check_suite": {"id": run_id},
        "app": None,
        "pull_requests": [],
    }


def _combined_status_json(ctx: RepoContext, sha: str, run: Json | None, now: float) -> Json:
    """A `combined-commit-status` mirroring the check run as a status context."""
    rl = ctx.rl
    statuses = []
    state = "pending"
    if run is not None:
        status, conclusion, _, _ = check_run_state(run, now)
        state = conclusion if status == "completed" and conclusion else "pending"
        statuses.append(
            {
                "id": int(run["id"]),
                "node_id": node_id("StatusContext", run["id"]),
                "url": f"{rl.api}/statuses/{sha}",
                "avatar_url": None,
                "state": state,
                "description": f"{run['name']}: {conclusion or status}",
                "target_url": f"{rl.web}/runs/{run['id']}",
                "context": run["name"],
                "created_at": iso(float(run["created"])),
                "updated_at": iso(min(now, float(run["created"]) + float(run["delay"]))),
            }
        )
    return {
        "state": state,
        "statuses": statuses,
        "sha": sha,
        "total_count": len(statuses),
        "repository": repository_json(rl, ctx.doc, ctx.org),
        "commit_url": f"{rl.api}/commits/{sha}",
        "url": f"{rl.api}/commits/{sha}/status",
    }


def build_checks_router(host: GitHubHost) -> APIRouter:
    """GET commits/{ref}, commits/{ref}/check-runs and commits/{ref}/status."""
    router = APIRouter()

    Repo = Annotated[RepoContext, repo_dependency(host)]

    def commit_sha(ctx: RepoContext, ref: str) -> str:
        sha = ctx.resolve(ref)
        if sha is None:
            raise error(422, f"No commit found for SHA: {ref}")
        return sha

    @router.get("/repos/{owner}/{repo}/commits/{ref:path}/check-runs")
    def list_check_runs(
        ctx: Repo,
        ref: str,
        check_name: str | None = None,
        status: str | None = None,
        filter: str = "latest",
        per_page: int = 30,
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> Json:
        sha = commit_sha(ctx, ref)
        run = host.sandbox.store.get(PEER_NAME, "check_run", f"{ctx.full_name}@{sha}")
        now = host.now()
        runs = [] if run is None else [check_run_json(ctx.rl, run, now)]
        runs = [r for r in runs if check_name in (None, r["name"])]
        runs = [r for r in runs if status in (None, r["status"])]
        return {"total_count": len(runs), "check_runs": runs[(page - 1) * per_page :][:per_page]}

    @router.get("/repos/{owner}/{repo}/commits/{ref:path}/status")
    def combined_status(ctx: Repo, ref: str) -> Json:
        sha = commit_sha(ctx, ref)
        run = host.sandbox.store.get(PEER_NAME, "check_run", f"{ctx.full_name}@{sha}")
        return _combined_status_json(ctx, sha, run, host.now())

    @router.get("/repos/{owner}/{repo}/commits/{ref:path}")
    def get_commit(ctx: Repo, ref: str) -> Json:
        """Not in the contract subset, but PyGithub's non-lazy `get_commit` calls it."""
        return commit_json(ctx.rl, ctx.git.commit_info(commit_sha(ctx, ref)))

    return router

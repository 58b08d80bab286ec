"""Check runs of the sandbox GitHub peer: the check-runs API over the simulated CI.

The CI itself (which jobs a commit runs, how they progress, what they conclude) is in
`github_ci`; this module shows its jobs as GitHub's `check-run`s, for repositories whose CI
reports check runs (`ci = "checks"` or `"both"`), and serves `GET commits/{ref}`.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from enigma.sandbox.github_ci import check_run_state, ensure_check_run, jobs, reports_checks
from enigma.sandbox.github_host import PEER_NAME, GitHubHost, RepoContext, error, repo_dependency
from enigma.sandbox.github_json import RepoLinks, commit_json, iso, node_id

__all__ = [
    "build_checks_router",
    "check_run_json",
    "check_run_state",
    "commit_sha",
    "ensure_check_run",
]

Json = dict[str, Any]


def check_run_json(rl: RepoLinks, doc: Json, now: float) -> Json:
    """A `check-run` for one job of a commit's CI (see `github_ci.jobs`)."""
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


def commit_sha(ctx: RepoContext, ref: str) -> str:
    """A branch, tag or commit id as a commit id, or GitHub's 422."""
    sha = ctx.resolve(ref)
    if sha is None:
        raise error(422, f"No commit found for SHA: {ref}")
    return sha


def build_checks_router(host: GitHubHost) -> APIRouter:
    """GET commits/{ref}/check-runs and commits/{ref} (include it after the statuses routes)."""
    router = APIRouter()

    Repo = Annotated[RepoContext, repo_dependency(host)]

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
        doc = host.sandbox.store.get(PEER_NAME, "check_run", f"{ctx.full_name}@{sha}")
        now = host.now()
        shown = jobs(doc) if doc is not None and reports_checks(doc) else []
        runs = [check_run_json(ctx.rl, job, now) for job in shown]
        runs = [r for r in runs if check_name in (None, r["name"])]
        runs = [r for r in runs if status in (None, r["status"])]
        return {"total_count": len(runs), "check_runs": runs[(page - 1) * per_page :][:per_page]}

    @router.get("/repos/{owner}/{repo}/commits/{ref:path}")
    def get_commit(ctx: Repo, ref: str) -> Json:
        """Not in the contract subset, but PyGithub's non-lazy `get_commit` calls it."""
        return commit_json(ctx.rl, ctx.git.commit_info(commit_sha(ctx, ref)))

    return router

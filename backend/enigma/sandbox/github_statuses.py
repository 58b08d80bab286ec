"""Commit statuses of the sandbox GitHub peer: posted ones, simulated CI's, and the combination.

    POST /repos/{o}/{r}/statuses/{sha}           create a status (anyone's CI may post)
    GET  /repos/{o}/{r}/commits/{ref}/statuses   every status of the commit, newest first
    GET  /repos/{o}/{r}/statuses/{ref}           the same, by its legacy route (PyGithub)
    GET  /repos/{o}/{r}/commits/{ref}/status     the combined status

A commit's statuses are those clients posted (stored, one side effect each) and those its
simulated CI has posted by now (`github_ci`, for repositories whose CI reports statuses).
The combined status takes the latest status of each context, as GitHub does: `failure` if
any is `error` or `failure`, `pending` if there are none or any is pending, else `success`.
Check runs never appear in it: a repository whose CI reports only check runs has a combined
status of `pending` with no statuses, which is what github.com answers too.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from enigma.sandbox.github_checks import commit_sha
from enigma.sandbox.github_ci import simulated_statuses
from enigma.sandbox.github_host import (
    PEER_NAME,
    GitHubHost,
    RepoContext,
    page_size,
    paginate,
    repo_dependency,
    validation_failed,
)
from enigma.sandbox.github_json import iso, node_id, repository_json

__all__ = ["build_statuses_router", "combined_state", "commit_statuses"]

Json = dict[str, Any]
STATES = ("error", "failure", "pending", "success")


def _status_json(ctx: RepoContext, sha: str, doc: Json, creator: Json | None) -> Json:
    """A `status` (a `simple-commit-status` is the same without `creator`)."""
    out = {
        "url": f"{ctx.rl.api}/statuses/{sha}",
        "avatar_url": None,
        "id": int(doc["id"]),
        "node_id": node_id("StatusContext", doc["id"]),
        "state": doc["state"],
        "description": doc.get("description"),
        "target_url": doc.get("target_url"),
        "context": doc["context"],
        "created_at": doc["created_at"],
        "updated_at": doc["created_at"],
    }
    return out if creator is None else out | {"creator": creator}


def commit_statuses(ctx: RepoContext, sha: str, now: float) -> list[Json]:
    """Every status of a commit as stored records, oldest first."""
    store = ctx.host.sandbox.store
    posted = [
        d for d in store.list(PEER_NAME, "status") if d["key"].startswith(f"{ctx.full_name}@{sha}#")
    ]
    ci = store.get(PEER_NAME, "check_run", f"{ctx.full_name}@{sha}")
    simulated = [] if ci is None else simulated_statuses(ci, now)
    runs = f"{ctx.rl.web}/runs"
    records = [
        {"id": s.id, "state": s.state, "context": s.context, "description": s.description,
         "target_url": f"{runs}/{s.job_id}", "created_at": iso(s.created), "at": s.created}
        for s in simulated
    ] + posted  # fmt: skip
    return sorted(records, key=lambda r: (float(r["at"]), int(r["id"])))


def combined_state(latest: list[Json]) -> str:
    """GitHub's rule for the combined state of the latest status of each context."""
    states = {str(s["state"]) for s in latest}
    if states & {"error", "failure"}:
        return "failure"
    if not latest or "pending" in states:
        return "pending"
    return "success"


def build_statuses_router(host: GitHubHost) -> APIRouter:
    """Status routes (include before the generic `commits/{ref}` route of the checks router)."""
    router = APIRouter()
    Repo = Annotated[RepoContext, repo_dependency(host)]

    @router.post("/repos/{owner}/{repo}/statuses/{sha}")
    def create_status(
        ctx: Repo, request: Request, sha: str, body: Annotated[Json, Body()]
    ) -> JSONResponse:
        commit = commit_sha(ctx, sha)
        state, context = body.get("state"), str(body.get("context") or "default")
        if state not in STATES:
            message = f"State is not included in the list: {', '.join(STATES)}"
            raise validation_failed("Status", "custom", field="state", message=message)
        now = host.now()
        with host.sandbox.store.transaction() as tx:
            ident = tx.next_id("github.status")
            doc = {"key": f"{ctx.full_name}@{commit}#{ident}", "id": ident, "state": state}
            doc |= {"context": context, "description": body.get("description")}
            doc |= {"target_url": body.get("target_url"), "created_at": iso(now), "at": now}
            tx.put(PEER_NAME, "status", doc["key"], doc)
            key = f"github:status:{ctx.full_name}:{commit}:{context}:{state}"
            tx.record_effect(request, PEER_NAME, "status.create", key, {"id": ident})
        answer = _status_json(ctx, commit, doc, ctx.bot)
        return JSONResponse(answer, status_code=201, headers={"Location": answer["url"]})

    def list_statuses(
        ctx: RepoContext, request: Request, ref: str, per_page: int, page: int
    ) -> JSONResponse:
        sha = commit_sha(ctx, ref)
        newest_first = list(reversed(commit_statuses(ctx, sha, host.now())))
        chunk, headers = paginate(request, newest_first, page_size(per_page), page)
        return JSONResponse([_status_json(ctx, sha, d, ctx.bot) for d in chunk], headers=headers)

    @router.get("/repos/{owner}/{repo}/commits/{ref:path}/statuses")
    def list_for_ref(
        ctx: Repo,
        request: Request,
        ref: str,
        per_page: int = 30,
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> JSONResponse:
        return list_statuses(ctx, request, ref, per_page, page)

    @router.get("/repos/{owner}/{repo}/statuses/{ref:path}")
    def list_legacy(
        ctx: Repo,
        request: Request,
        ref: str,
        per_page: int = 30,
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> JSONResponse:
        """The legacy route the operation's description names; PyGithub's `get_statuses`."""
        return list_statuses(ctx, request, ref, per_page, page)

    @router.get("/repos/{owner}/{repo}/commits/{ref:path}/status")
    def combined_status(ctx: Repo, ref: str) -> Json:
        sha = commit_sha(ctx, ref)
        latest: dict[str, Json] = {}
        for record in commit_statuses(ctx, sha, host.now()):
            latest[str(record["context"]).casefold()] = record  # contexts ignore case
        shown = sorted(latest.values(), key=lambda r: str(r["context"]))
        return {
            "state": combined_state(shown),
            "statuses": [_status_json(ctx, sha, r, None) for r in shown],
            "sha": sha,
            "total_count": len(shown),
            "repository": repository_json(ctx.rl, ctx.doc, ctx.org),
            "commit_url": f"{ctx.rl.api}/commits/{sha}",
            "url": f"{ctx.rl.api}/commits/{sha}/status",
        }

    return router

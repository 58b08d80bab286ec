"""Pull requests and their (issue) comments for the sandbox GitHub peer.

A pull request is a stored document (number, title, head and base branch, state, merge
facts); whatever git knows (head and base commits, mergeability, commit and line counts) is
read from the repository when the pull request is shown, the way GitHub recomputes it when a
branch moves. Pull request numbers count per repository; comments use the pull request's
number as the issue number, as on GitHub.

Listing follows GitHub to the letter where clients trip: the `head` filter only works in the
`owner:branch` form; a bare branch name is ignored (every pull request is listed), which is
what github.com does and what a client that looks for an existing pull request must not rely
on.
"""

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response

from enigma.sandbox.core import Transaction
from enigma.sandbox.github_ci import ensure_check_run
from enigma.sandbox.github_host import (
    PEER_NAME,
    GitHubHost,
    RepoContext,
    error,
    not_found,
    page_size,
    paginate,
    repo_dependency,
    required_str,
    validation_failed,
)
from enigma.sandbox.github_json import iso
from enigma.sandbox.github_mergeability import mergeability_settled, refuse_while_unsettled
from enigma.sandbox.github_pull_json import comment_json, pull_json
from enigma.sandbox.gitrepo import MergeConflict, RefConflict

__all__ = ["build_pulls_router"]

Json = dict[str, Any]


def _pull_key(ctx: RepoContext, number: int) -> str:
    return f"{ctx.full_name}#{number}"


def _load_pull(ctx: RepoContext, number: int) -> Json:
    doc = ctx.host.sandbox.store.get(PEER_NAME, "pull", _pull_key(ctx, number))
    if doc is None:
        raise not_found()
    return doc


def _branch_of(ctx: RepoContext, head: str) -> str:
    """`acme:feature/x` or `feature/x` -> `feature/x`; another owner is not ours."""
    owner, sep, branch = head.rpartition(":")
    if sep and owner != ctx.rl.owner:
        raise validation_failed("PullRequest", "invalid", field="head")
    return branch


def build_pulls_router(host: GitHubHost) -> APIRouter:
    """Routes under /repos/{owner}/{repo}/pulls and /issues/{n}/comments."""
    router = APIRouter()

    Repo = Annotated[RepoContext, repo_dependency(host)]

    @router.get("/repos/{owner}/{repo}/pulls")
    def list_pulls(
        ctx: Repo,
        request: Request,
        state: str = "open",
        head: str | None = None,
        base: str | None = None,
        sort: str = "created",
        direction: str = "desc",
        per_page: int = 30,
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> JSONResponse:
        docs = [d for d in host.sandbox.store.list(PEER_NAME, "pull") if d["repo"] == ctx.full_name]
        if state not in ("open", "closed", "all"):
            raise validation_failed("PullRequest", "invalid", field="state")
        docs = [d for d in docs if state in ("all", d["state"])]
        if head is not None and ":" in head:  # GitHub ignores a head without `owner:`
            owner, _, branch = head.rpartition(":")
            docs = [d for d in docs if d["head"] == branch and owner == ctx.rl.owner]
        if base is not None:
            docs = [d for d in docs if d["base"] == base]
        field = "updated_at" if sort == "updated" else "created_at"
        docs.sort(key=lambda d: (d[field], d["number"]), reverse=direction == "desc")
        chunk, headers = paginate(request, docs, page_size(per_page), page)
        return JSONResponse([pull_json(ctx, d, full=False) for d in chunk], headers=headers)

    @router.post("/repos/{owner}/{repo}/pulls")
    def create_pull(ctx: Repo, request: Request, body: Annotated[Json, Body()]) -> JSONResponse:
        title = required_str(body, "title", "PullRequest")
        base = required_str(body, "base", "PullRequest")
        head = _branch_of(ctx, required_str(body, "head", "PullRequest"))
        base_sha, head_sha = ctx.branch_sha(base), ctx.branch_sha(head)
        if base_sha is None:
            raise validation_failed("PullRequest", "invalid", field="base")
        if head_sha is None:
            raise validation_failed("PullRequest", "invalid", field="head")
        with host.sandbox.store.transaction() as tx:
            _refuse_duplicate(tx, ctx, head, base)
            if ctx.git.count(f"{base_sha}..{head_sha}") == 0:
                message = f"No commits between {base} and {head}"
                raise validation_failed("PullRequest", "custom", message=message)
            now = iso(host.now())
            number = tx.next_id(f"github.issue.{ctx.full_name}")
            doc: Json = {
                "number": number,
                "id": tx.next_id("github.id", start=1000),
                "repo": ctx.full_name,
                "title": title,
                "body": body.get("body"),
                "state": "open",
                "draft": bool(body.get("draft", False)),
                "maintainer_can_modify": bool(body.get("maintainer_can_modify", False)),
                "head": head,
                "base": base,
                "head_sha": head_sha,
                "base_sha": base_sha,
                "created_at": now,
                "updated_at": now,
                "closed_at": None,
                "merged_at": None,
                "merge_commit_sha": None,
                "merged": False,
                "comments": 0,
            }
            tx.put(PEER_NAME, "pull", _pull_key(ctx, number), doc)
            mergeability_settled(ctx, doc, base_sha, head_sha)  # GitHub starts computing now
            ensure_check_run(tx, host, ctx.full_name, ctx.git, head_sha, head)
            key = f"github:pull:{ctx.full_name}:{head}->{base}"
            tx.record_effect(request, PEER_NAME, "pull.create", key, {"number": number})
        return JSONResponse(pull_json(ctx, doc, full=True), status_code=201)

    @router.get("/repos/{owner}/{repo}/pulls/{number}")
    def get_pull(ctx: Repo, number: int) -> JSONResponse:
        return JSONResponse(pull_json(ctx, _load_pull(ctx, number), full=True))

    @router.patch("/repos/{owner}/{repo}/pulls/{number}")
    def update_pull(
        ctx: Repo, request: Request, number: int, body: Annotated[Json, Body()]
    ) -> JSONResponse:
        with host.sandbox.store.transaction() as tx:
            doc = _load_pull(ctx, number)
            changes = _pull_changes(ctx, doc, body)
            if changes:
                doc |= changes | {"updated_at": iso(host.now())}
                tx.put(PEER_NAME, "pull", _pull_key(ctx, number), doc)
                key = f"github:pull.update:{ctx.full_name}:#{number}"
                tx.record_effect(request, PEER_NAME, "pull.update", key, changes)
        return JSONResponse(pull_json(ctx, doc, full=True))

    @router.get("/repos/{owner}/{repo}/pulls/{number}/merge")
    def is_merged(ctx: Repo, number: int) -> Response:
        if not _load_pull(ctx, number).get("merged"):
            raise not_found()
        return Response(status_code=204)

    @router.put("/repos/{owner}/{repo}/pulls/{number}/merge")
    def merge_pull(
        ctx: Repo, request: Request, number: int, body: Annotated[Json | None, Body()] = None
    ) -> JSONResponse:
        """GitHub answers 405 when the pull request cannot be merged, 409 on a stale sha."""
        _await_mergeability(ctx, number)
        with host.sandbox.store.transaction() as tx:
            doc = _load_pull(ctx, number)
            sha = _merge_pull(ctx, doc, body or {})
            tx.put(PEER_NAME, "pull", _pull_key(ctx, number), doc)
            ensure_check_run(tx, host, ctx.full_name, ctx.git, sha, doc["base"])
            key = f"github:pull.merge:{ctx.full_name}:#{number}"
            tx.record_effect(request, PEER_NAME, "pull.merge", key, {"sha": sha})
        result = {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
        return JSONResponse(result)

    _add_comment_routes(router, host)
    return router


def _await_mergeability(ctx: RepoContext, number: int) -> None:
    """The transient 405 while mergeability is unknown.

    Checked in its own transaction, before the merge's: the moment the sandbox first saw this
    pair of commits must be kept even though the request is refused.
    """
    doc = _load_pull(ctx, number)
    base, head = ctx.branch_sha(doc["base"]), ctx.branch_sha(doc["head"])
    if doc["state"] == "open" and base is not None and head is not None:
        refuse_while_unsettled(ctx, doc, base, head)


def _refuse_duplicate(tx: Transaction, ctx: RepoContext, head: str, base: str) -> None:
    for other in tx.list(PEER_NAME, "pull"):
        same = (other["repo"], other["head"], other["base"]) == (ctx.full_name, head, base)
        if same and other["state"] == "open":
            message = f"A pull request already exists for {ctx.rl.owner}:{head}."
            raise validation_failed("PullRequest", "custom", message=message)


def _pull_changes(ctx: RepoContext, doc: Json, body: Json) -> Json:
    """The fields a PATCH changes (validated); empty when nothing changes."""
    changes: Json = {}
    for field in ("title", "body", "maintainer_can_modify"):
        if field in body and body[field] != doc.get(field):
            changes[field] = body[field]
    if "base" in body and body["base"] != doc["base"]:
        if ctx.branch_sha(str(body["base"])) is None:
            raise validation_failed("PullRequest", "invalid", field="base")
        changes["base"] = body["base"]
    state = body.get("state")
    if state is not None and state != doc["state"]:
        if state not in ("open", "closed") or doc.get("merged"):
            raise validation_failed("PullRequest", "invalid", field="state")
        changes["state"] = state
        changes["closed_at"] = iso(ctx.host.now()) if state == "closed" else None
    return changes


def _merge_pull(ctx: RepoContext, doc: Json, body: Json) -> str:
    """Merge an open pull request into its base branch; updates `doc`; returns the commit."""
    method = body.get("merge_method", "merge")
    if method == "rebase":
        raise error(405, "Rebase merges are not allowed on this repository.")
    if method not in ("merge", "squash"):
        raise validation_failed("PullRequest", "invalid", field="merge_method")
    base_sha, head_sha = ctx.branch_sha(doc["base"]), ctx.branch_sha(doc["head"])
    if doc["state"] != "open" or base_sha is None or head_sha is None:
        raise error(405, "Pull Request is not mergeable")
    if body.get("sha") not in (None, head_sha):
        raise error(409, "Head branch was modified. Review and try the merge again.")
    number = doc["number"]
    if method == "squash":
        title = body.get("commit_title") or f"{doc['title']} (#{number})"
    else:
        title = (
            body.get("commit_title")
            or f"Merge pull request #{number} from {ctx.rl.owner}/{doc['head']}"
        )
    message = f"{title}\n\n{body.get('commit_message') or doc['title']}"
    stats = _stats(ctx, base_sha, head_sha)
    try:
        merged = ctx.git.merge(
            base_sha, head_sha, message, ctx.host.identity(), squash=method == "squash"
        )
    except MergeConflict as exc:
        raise error(405, "Pull Request is not mergeable") from exc
    sha = merged or base_sha
    if merged is not None:
        try:
            ctx.git.update_ref(f"refs/heads/{doc['base']}", merged, base_sha)
        except RefConflict as exc:
            raise error(409, "Base branch was modified. Review and try the merge again.") from exc
    now = iso(ctx.host.now())
    doc |= {"state": "closed", "merged": True, "merged_at": now, "closed_at": now}
    doc |= {"updated_at": now, "merge_commit_sha": sha, "head_sha": head_sha, "base_sha": base_sha}
    doc["stats"] = stats
    return sha


def _stats(ctx: RepoContext, base_sha: str, head_sha: str) -> Json:
    files = ctx.git.diff_files(ctx.git.merge_base(base_sha, head_sha) or base_sha, head_sha)
    return {
        "commits": ctx.git.count(f"{base_sha}..{head_sha}"),
        "additions": sum(f.additions for f in files),
        "deletions": sum(f.deletions for f in files),
        "changed_files": len(files),
    }


def _add_comment_routes(router: APIRouter, host: GitHubHost) -> None:
    Repo = Annotated[RepoContext, repo_dependency(host)]

    @router.get("/repos/{owner}/{repo}/issues/{number}/comments")
    def list_comments(
        ctx: Repo,
        request: Request,
        number: int,
        per_page: int = 30,
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> JSONResponse:
        _load_pull(ctx, number)
        prefix = f"{ctx.full_name}#{number}/"
        docs = [
            d for d in host.sandbox.store.list(PEER_NAME, "comment") if d["key"].startswith(prefix)
        ]
        chunk, headers = paginate(request, docs, page_size(per_page), page)
        return JSONResponse([comment_json(ctx, d) for d in chunk], headers=headers)

    @router.post("/repos/{owner}/{repo}/issues/{number}/comments")
    def create_comment(
        ctx: Repo,
        request: Request,
        number: int,
        payload: Annotated[Json, Body()],
    ) -> JSONResponse:
        body = required_str(payload, "body", "IssueComment")
        with host.sandbox.store.transaction() as tx:
            pull = _load_pull(ctx, number)
            ident = tx.next_id("github.id", start=1000)
            now = iso(host.now())
            key = f"{ctx.full_name}#{number}/{ident}"
            doc = {"id": ident, "key": key, "number": number, "body": body}
            doc |= {"created_at": now, "updated_at": now}
            tx.put(PEER_NAME, "comment", key, doc)
            pull["comments"] = int(pull.get("comments", 0)) + 1
            tx.put(PEER_NAME, "pull", _pull_key(ctx, number), pull)
            digest = hashlib.sha256(body.encode()).hexdigest()[:12]
            effect = f"github:comment:{ctx.full_name}:#{number}:{digest}"
            tx.record_effect(request, PEER_NAME, "comment.create", effect, {"id": ident})
        return JSONResponse(comment_json(ctx, doc), status_code=201)

"""The sandbox GitHub peer: GitHub's REST subset over real bare git repositories.

Mounted at `/github`; the REST API answers under `/github/api/v3` (give PyGithub
`base_url=http://HOST:PORT/github/api/v3`) and `git clone http://HOST:PORT/github/OWNER/REPO.git`
works through `git http-backend`. The git route is a plain Starlette route, so the token
check the sandbox puts on the API does not apply to it: repositories clone anonymously, like
public repositories on GitHub, and a push checks the token itself (`github_push.py`).

This module holds repositories, branches, refs, tags, merges and compare; pull requests and
comments are in `github_pulls`, releases in `github_releases`, CI in `github_ci` (shown by
`github_checks` and `github_statuses`), clone and push in `github_push`. Every
write takes the store's transaction (which serialises writers), changes git and the store,
and records exactly one side effect with a stable key.
"""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response

from enigma.sandbox.core import PeerError, PeerSpec, Sandbox
from enigma.sandbox.github_checks import build_checks_router
from enigma.sandbox.github_ci import ensure_check_run
from enigma.sandbox.github_host import (
    PEER_NAME,
    PREFIX,
    GitHubHost,
    RepoContext,
    error,
    error_body,
    page_size,
    paginate,
    repo_dependency,
    required_str,
)
from enigma.sandbox.github_json import (
    branch_json,
    commit_json,
    comparison_json,
    git_ref_json,
    git_tag_json,
    repository_json,
    short_branch_json,
)
from enigma.sandbox.github_pulls import build_pulls_router
from enigma.sandbox.github_push import git_http_route
from enigma.sandbox.github_ratelimit import GitHubRateLimit
from enigma.sandbox.github_releases import build_releases_router
from enigma.sandbox.github_seed import seed_github
from enigma.sandbox.github_statuses import build_statuses_router
from enigma.sandbox.gitrepo import (
    GitError,
    Identity,
    InvalidRefName,
    MergeConflict,
    RefConflict,
    check_ref_name,
)

__all__ = ["PEER", "build_router"]

Json = dict[str, Any]
API = "/api/v3"


def build_router(sandbox: Sandbox) -> APIRouter:
    """All GitHub routes, relative to `/github`."""
    host = GitHubHost(sandbox)
    router = APIRouter()
    api = APIRouter(prefix=API)
    _add_repository_routes(api, host)
    _add_ref_routes(api, host)
    _add_merge_routes(api, host)
    api.include_router(build_statuses_router(host))  # before checks: it ends in commits/{ref}
    api.include_router(build_checks_router(host))
    api.include_router(build_pulls_router(host))
    api.include_router(build_releases_router(host))
    router.include_router(api)
    router.routes.append(git_http_route(host))
    return router


def _add_repository_routes(router: APIRouter, host: GitHubHost) -> None:
    Repo = Annotated[RepoContext, repo_dependency(host)]

    @router.get("/repos/{owner}/{repo}")
    def get_repository(ctx: Repo) -> JSONResponse:
        opened = [
            p for p in host.sandbox.store.list(PEER_NAME, "pull") if p["repo"] == ctx.full_name
        ]
        doc = ctx.doc | {"open_pulls": sum(1 for p in opened if p["state"] == "open")}
        return JSONResponse(repository_json(ctx.rl, doc, ctx.org))

    @router.get("/repos/{owner}/{repo}/branches")
    def list_branches(
        ctx: Repo,
        request: Request,
        per_page: int = 30,
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> JSONResponse:
        refs = ctx.git.list_refs("refs/heads")
        items = [
            short_branch_json(ctx.rl, r.name.removeprefix("refs/heads/"), r.commit_sha)
            for r in refs
        ]
        chunk, headers = paginate(request, items, page_size(per_page), page)
        return JSONResponse(chunk, headers=headers)

    @router.get("/repos/{owner}/{repo}/branches/{branch:path}")
    def get_branch(ctx: Repo, branch: str) -> JSONResponse:
        sha = ctx.branch_sha(branch)
        if sha is None:
            raise error(404, "Branch not found")
        return JSONResponse(branch_json(ctx.rl, branch, ctx.git.commit_info(sha)))

    @router.get("/repos/{owner}/{repo}/compare/{basehead:path}")
    def compare(
        ctx: Repo,
        request: Request,
        basehead: str,
        per_page: int = 250,
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> JSONResponse:
        base_name, sep, head_name = basehead.partition("...")
        base, head = ctx.resolve(_strip_owner(base_name)), ctx.resolve(_strip_owner(head_name))
        if not sep or base is None or head is None:
            raise error(404, "Not Found")
        try:
            cmp = ctx.git.compare(base, head)
        except GitError as exc:
            raise error(404, f"No common ancestor between {base_name} and {head_name}.") from exc
        commits = [commit_json(ctx.rl, c) for c in cmp.commits]
        chunk, headers = paginate(request, commits, page_size(per_page, 1000), page)
        body = comparison_json(
            ctx.rl,
            basehead,
            cmp,
            chunk,
            ctx.git.commit_info(base),
            ctx.git.commit_info(cmp.merge_base),
            head,
        )
        return JSONResponse(body, headers=headers)


def _strip_owner(name: str) -> str:
    """`acme:feature/x` -> `feature/x` (same-repository compares only)."""
    return name.split(":", 1)[1] if ":" in name else name


def _add_ref_routes(router: APIRouter, host: GitHubHost) -> None:
    Repo = Annotated[RepoContext, repo_dependency(host)]

    @router.get("/repos/{owner}/{repo}/git/ref/{ref:path}")
    def get_ref(ctx: Repo, ref: str) -> JSONResponse:
        found = ctx.git.ref(_full_ref(ref)) if _valid_ref(f"refs/{ref}") else None
        if found is None:
            raise error(404, "Not Found")
        return JSONResponse(git_ref_json(ctx.rl, found.name, found.object_sha, found.object_type))

    @router.post("/repos/{owner}/{repo}/git/refs")
    def create_ref(ctx: Repo, request: Request, body: Annotated[Json, Body()]) -> JSONResponse:
        ref, sha = required_str(body, "ref", "Ref"), required_str(body, "sha", "Ref")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise error(
                422, "Reference name must start with 'refs/' and have at least two slashes."
            )
        if not _valid_ref(ref):
            raise error(422, f"{ref} is not a valid ref name.")
        obj = ctx.git.rev_parse(sha, peel="") if _hex(sha) else None
        if obj is None:
            raise error(422, "Object does not exist")
        with host.sandbox.store.transaction() as tx:
            try:
                ctx.git.create_ref(ref, obj)
            except RefConflict as exc:
                raise error(422, "Reference already exists") from exc
            if ref.startswith("refs/heads/"):
                ensure_check_run(tx, host, ctx.full_name, ctx.git, obj, ref[11:])
            key = f"github:ref:{ctx.full_name}:{ref}"
            tx.record_effect(request, PEER_NAME, "ref.create", key, {"sha": obj})
        found = ctx.git.ref(ref)
        assert found is not None
        return JSONResponse(git_ref_json(ctx.rl, ref, obj, found.object_type), status_code=201)

    @router.patch("/repos/{owner}/{repo}/git/refs/{ref:path}")
    def update_ref(
        ctx: Repo, request: Request, ref: str, body: Annotated[Json, Body()]
    ) -> JSONResponse:
        sha, force = required_str(body, "sha", "Ref"), bool(body.get("force", False))
        full = _full_ref(ref)
        found = ctx.git.ref(full) if _valid_ref(full) else None
        if found is None:
            raise error(422, "Reference does not exist")
        new = ctx.git.rev_parse(sha) if _hex(sha) else None
        if new is None:
            raise error(422, "Object does not exist")
        if not force and not ctx.git.is_ancestor(found.commit_sha, new):
            raise error(422, "Update is not a fast forward")
        if new != found.object_sha:
            with host.sandbox.store.transaction() as tx:
                try:
                    ctx.git.update_ref(full, new, found.object_sha)
                except RefConflict as exc:
                    raise error(409, "Reference was updated concurrently") from exc
                if full.startswith("refs/heads/"):
                    ensure_check_run(tx, host, ctx.full_name, ctx.git, new, full[11:])
                key = f"github:ref.update:{ctx.full_name}:{full}@{new}"
                tx.record_effect(
                    request, PEER_NAME, "ref.update", key, {"sha": new, "force": force}
                )
        return JSONResponse(git_ref_json(ctx.rl, full, new, "commit"))

    @router.delete("/repos/{owner}/{repo}/git/refs/{ref:path}")
    def delete_ref(ctx: Repo, request: Request, ref: str) -> Response:
        full = _full_ref(ref)
        found = ctx.git.ref(full) if _valid_ref(full) else None
        if found is None:
            raise error(422, "Reference does not exist")
        with host.sandbox.store.transaction() as tx:
            try:
                ctx.git.delete_ref(full, found.object_sha)
            except RefConflict as exc:
                raise error(409, "Reference was updated concurrently") from exc
            key = f"github:ref.delete:{ctx.full_name}:{full}"
            tx.record_effect(request, PEER_NAME, "ref.delete", key, {"sha": found.object_sha})
        return Response(status_code=204)

    @router.post("/repos/{owner}/{repo}/git/tags")
    def create_tag(ctx: Repo, request: Request, body: Annotated[Json, Body()]) -> JSONResponse:
        tag, message, target = body.get("tag"), body.get("message"), body.get("object")
        if not isinstance(tag, str) or not isinstance(message, str) or not isinstance(target, str):
            raise error(422, "Invalid request: tag, message and object are required.")
        if not _valid_ref(f"refs/tags/{tag}"):
            raise error(422, f"{tag} is not a valid tag name.")
        sha = ctx.git.rev_parse(target) if _hex(target) else None
        if sha is None:
            raise error(422, "Object does not exist")
        who = _tagger(body.get("tagger"), host.identity())
        with host.sandbox.store.transaction() as tx:
            tag_sha = ctx.git.create_tag_object(tag, sha, message, who)
            key = f"github:tag:{ctx.full_name}:{tag}"
            tx.record_effect(request, PEER_NAME, "tag.create", key, {"sha": tag_sha, "object": sha})
        body_out = git_tag_json(ctx.rl, tag_sha, tag, message, sha, who)
        return JSONResponse(body_out, status_code=201)


def _full_ref(ref: str) -> str:
    """`heads/x` (as in URLs) -> `refs/heads/x`."""
    return ref if ref.startswith("refs/") else f"refs/{ref}"


def _valid_ref(ref: str) -> bool:
    try:
        check_ref_name(ref)
    except InvalidRefName:
        return False
    return True


def _hex(sha: str) -> bool:
    return 4 <= len(sha) <= 40 and all(c in "0123456789abcdef" for c in sha.lower())


def _tagger(given: Any, default: Identity) -> Identity:
    """The tagger a client sent (name, email; the date is now), else the bot."""
    if not isinstance(given, dict) or not given.get("name") or not given.get("email"):
        return default
    return Identity(str(given["name"]), str(given["email"]), default.when)


def _add_merge_routes(router: APIRouter, host: GitHubHost) -> None:
    Repo = Annotated[RepoContext, repo_dependency(host)]

    @router.post("/repos/{owner}/{repo}/merges")
    def merge(ctx: Repo, request: Request, body: Annotated[Json, Body()]) -> Response:
        base, head = required_str(body, "base", "Merge"), required_str(body, "head", "Merge")
        commit_message = body.get("commit_message")
        base_sha = ctx.branch_sha(base)
        if base_sha is None:
            raise error(404, "Base does not exist")
        head_sha = ctx.resolve(head)
        if head_sha is None:
            raise error(404, "Head does not exist")
        message = str(commit_message or f"Merge {head} into {base}")
        with host.sandbox.store.transaction() as tx:
            try:
                merged = ctx.git.merge(base_sha, head_sha, message, host.identity())
            except MergeConflict as exc:
                raise error(409, "Merge conflict") from exc
            if merged is None:
                return Response(status_code=204)
            try:
                ctx.git.update_ref(f"refs/heads/{base}", merged, base_sha)
            except RefConflict as exc:
                raise error(409, "Base branch was modified. Try the merge again.") from exc
            ensure_check_run(tx, host, ctx.full_name, ctx.git, merged, base)
            key = f"github:merge:{ctx.full_name}:{base}<-{head}"
            detail = {"sha": merged, "base_sha": base_sha, "head_sha": head_sha}
            tx.record_effect(request, PEER_NAME, "merge", key, detail)
        return JSONResponse(commit_json(ctx.rl, ctx.git.commit_info(merged)), status_code=201)


def _error_body(status: int, message: str) -> Json:
    """GitHub says "Bad credentials" for a missing or wrong token (PyGithub maps it)."""
    return error_body(status, "Bad credentials" if status == 401 else message)


def _validation_error(errors: Sequence[Any]) -> PeerError:
    """A body that is not JSON is GitHub's 400; anything else malformed its 422 with errors."""
    unreadable = ("json_invalid", "missing")
    if any(e.get("type") in unreadable and "body" in e.get("loc", ()) for e in errors):
        return error(400, "Problems parsing JSON")
    found = [_invalid_field(e) for e in errors]
    return error(422, "Validation Failed", errors=found)


def _invalid_field(problem: Any) -> Json:
    """One entry of GitHub's `errors` list from one pydantic error."""
    field = str((problem.get("loc") or ("",))[-1])
    message = str(problem.get("msg", "invalid"))
    return {"resource": "Request", "code": "invalid", "field": field, "message": message}


PEER = PeerSpec(
    name=PEER_NAME,
    prefix=PREFIX,
    build_router=build_router,
    seed=seed_github,
    error_body=_error_body,
    validation_error=_validation_error,
    middleware=GitHubRateLimit,
)

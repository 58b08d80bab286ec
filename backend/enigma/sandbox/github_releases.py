"""Releases for the sandbox GitHub peer: list, create (tagging when needed), get by tag.

Creating a release whose tag does not exist yet creates a lightweight tag at
`target_commitish` (default: the default branch), as GitHub does; both happen in one write
with one side effect. A second release for the same tag is refused with GitHub's
`already_exists` validation error.
"""

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from enigma.sandbox.github_host import (
    PEER_NAME,
    GitHubHost,
    RepoContext,
    error,
    page_size,
    paginate,
    repo_dependency,
    validation_failed,
)
from enigma.sandbox.github_json import iso, node_id
from enigma.sandbox.gitrepo import InvalidRefName, RefConflict, check_ref_name

__all__ = ["build_releases_router", "release_json"]

Json = dict[str, Any]


def release_json(ctx: RepoContext, doc: Json) -> Json:
    """A `release`."""
    rl, ident, tag = ctx.rl, int(doc["id"]), doc["tag_name"]
    url = f"{rl.api}/releases/{ident}"
    return {
        "url": url,
        "html_url": f"{rl.web}/releases/tag/{tag}",
        "assets_url": f"{url}/assets",
        "upload_url": f"{url}/assets{{?name,label}}",
        "tarball_url": f"{rl.api}/tarball/{tag}",
        "zipball_url": f"{rl.api}/zipball/{tag}",
        "id": ident,
        "node_id": node_id("Release", ident),
        "tag_name": tag,
        "target_commitish": doc["target_commitish"],
        "name": doc.get("name"),
        "body": doc.get("body"),
        "draft": bool(doc.get("draft", False)),
        "prerelease": bool(doc.get("prerelease", False)),
        "created_at": doc["created_at"],
        "published_at": None if doc.get("draft") else doc["created_at"],
        "author": ctx.bot,
        "assets": [],
    }


def _releases(host: GitHubHost, ctx: RepoContext) -> list[Json]:
    docs = host.sandbox.store.list(PEER_NAME, "release")
    return [d for d in docs if d["repo"] == ctx.full_name]


def build_releases_router(host: GitHubHost) -> APIRouter:
    """Routes under /repos/{owner}/{repo}/releases."""
    router = APIRouter()
    Repo = Annotated[RepoContext, repo_dependency(host)]

    @router.get("/repos/{owner}/{repo}/releases")
    def list_releases(
        ctx: Repo,
        request: Request,
        per_page: int = 30,
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> JSONResponse:
        docs = sorted(_releases(host, ctx), key=lambda d: d["id"], reverse=True)
        chunk, headers = paginate(request, docs, page_size(per_page), page)
        return JSONResponse([release_json(ctx, d) for d in chunk], headers=headers)

    @router.get("/repos/{owner}/{repo}/releases/tags/{tag:path}")
    def get_release_by_tag(ctx: Repo, tag: str) -> JSONResponse:
        found = [d for d in _releases(host, ctx) if d["tag_name"] == tag]
        if not found:
            raise error(404, "Not Found")
        return JSONResponse(release_json(ctx, found[0]))

    @router.post("/repos/{owner}/{repo}/releases")
    def create_release(ctx: Repo, request: Request, body: Annotated[Json, Body()]) -> JSONResponse:
        tag = body.get("tag_name")
        if not isinstance(tag, str) or not _valid_tag(tag):
            raise validation_failed("Release", "invalid", field="tag_name")
        target = str(body.get("target_commitish") or ctx.doc.get("default_branch", "main"))
        with host.sandbox.store.transaction() as tx:
            if any(d["tag_name"] == tag for d in _releases(host, ctx)):
                raise validation_failed("Release", "already_exists", field="tag_name")
            draft = bool(body.get("draft", False))
            if not draft and ctx.git.ref(f"refs/tags/{tag}") is None:
                _create_tag(ctx, tag, target)
            ident = tx.next_id("github.id", start=1000)
            doc = {
                "id": ident,
                "repo": ctx.full_name,
                "tag_name": tag,
                "target_commitish": target,
                "name": body.get("name") or tag,
                "body": body.get("body"),
                "draft": draft,
                "prerelease": bool(body.get("prerelease", False)),
                "created_at": iso(host.now()),
            }
            tx.put(PEER_NAME, "release", f"{ctx.full_name}@{ident}", doc)
            key = f"github:release:{ctx.full_name}:{tag}"
            tx.record_effect(request, PEER_NAME, "release.create", key, {"id": ident})
        return JSONResponse(release_json(ctx, doc), status_code=201)

    return router


def _valid_tag(tag: str) -> bool:
    try:
        check_ref_name(f"refs/tags/{tag}")
    except InvalidRefName:
        return False
    return True


def _create_tag(ctx: RepoContext, tag: str, target: str) -> None:
    sha = ctx.resolve(target)
    if sha is None:
        raise validation_failed("Release", "invalid", field="target_commitish")
    with contextlib.suppress(RefConflict):  # made between our look and our write: fine
        ctx.git.create_tag(tag, sha)

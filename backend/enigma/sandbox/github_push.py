"""`git clone` and `git push` over smart HTTP for the sandbox GitHub peer.

`/github/{owner}/{repo}.git/...` is served by `git http-backend` (`git_http.py`). Clones and
fetches are anonymous, like a public repository. A push (`git-receive-pack`, both the ref
advertisement and the pack) needs the sandbox token, sent the ways GitHub accepts one: HTTP
Basic with any user name and the token as password (`x-access-token:TOKEN`), or
`Authorization: Bearer TOKEN`. Without it the answer is a 401 with
`WWW-Authenticate: Basic realm="enigma sandbox"`, so git asks its credential helper, or
says "Authentication failed", instead of hanging or reporting a protocol error.

A push runs while holding the store's transaction, the lock every other write that moves a
ref holds (ref API, merges, pull request merges); and `git receive-pack` itself updates each
ref only if it still holds the old value the client saw, under git's ref lock. So a push and
a merge never interleave into a corrupt state: one of them is refused. Every ref the push
changed is found by comparing the refs before and after, and recorded in the effect log in
that same transaction as `push.ref`, keyed `github:push:<owner>/<repo>:<ref>@<new sha>` (a
replayed push changes nothing and records nothing). New branch heads get their simulated CI
check run, as heads made through the API do, and the repository's `pushed_at` moves.
"""

from __future__ import annotations

import base64
import binascii
import re

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from enigma.sandbox.core import Transaction, check_token
from enigma.sandbox.git_http import CgiResponse, run_http_backend, wants_push
from enigma.sandbox.github_ci import ensure_check_run
from enigma.sandbox.github_host import PEER_NAME, PREFIX, GitHubHost
from enigma.sandbox.github_json import iso
from enigma.sandbox.gitrepo import ZERO_SHA, GitRepo

__all__ = ["REALM", "git_http_route"]

REALM = "enigma sandbox"
_REPO = re.compile(r"^/(?P<owner>[^/]+)/(?P<name>[^/]+)\.git/")


def git_http_route(host: GitHubHost) -> Route:
    """`/{owner}/{repo}.git/...`: clone and fetch for anyone, push with the sandbox token."""

    async def git_http(request: Request) -> Response:
        body = await request.body()
        path_info = request.url.path.removeprefix(PREFIX)
        if not wants_push(path_info, request.url.query):
            answer = await run_in_threadpool(_serve, host, request, path_info, body, "")
        elif not check_token(host.sandbox, request.headers.get("authorization")):
            return _challenge()
        else:
            user = _basic_user(request.headers.get("authorization", "")) or host.bot_login
            answer = await run_in_threadpool(_serve, host, request, path_info, body, user)
        return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))

    return Route("/{owner}/{repo}.git/{rest:path}", git_http, methods=["GET", "POST"])


def _serve(
    host: GitHubHost, request: Request, path_info: str, body: bytes, user: str
) -> CgiResponse:
    """Run git http-backend; a pack that updates refs runs under the store's lock."""

    def backend() -> CgiResponse:
        return run_http_backend(
            host.sandbox.repos_dir,
            path_info,
            request.method,
            request.url.query,
            dict(request.headers),
            body,
            request.client.host if request.client else "127.0.0.1",
            allow_push=bool(user),
            remote_user=user,
        )

    match = _REPO.match(path_info)
    if not user or not path_info.endswith("/git-receive-pack") or match is None:
        return backend()
    owner, name = match["owner"], match["name"]
    full_name = f"{owner}/{name}"
    git = host.git(owner, name)
    with host.sandbox.store.transaction() as tx:
        if tx.get(PEER_NAME, "repo", full_name) is None or not git.path.is_dir():
            return backend()  # git answers "not found" in its own words
        before = _refs(git)
        answer = backend()
        _record_push(tx, host, request, full_name, git, before, _refs(git))
    return answer


def _refs(git: GitRepo) -> dict[str, str]:
    return {ref.name: ref.object_sha for ref in git.list_refs("refs/")}


def _record_push(
    tx: Transaction,
    host: GitHubHost,
    request: Request,
    full_name: str,
    git: GitRepo,
    before: dict[str, str],
    after: dict[str, str],
) -> None:
    """One `push.ref` effect per changed ref; CI for new heads; the repository's pushed_at."""
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    for ref in changed:
        old, new = before.get(ref, ZERO_SHA), after.get(ref, ZERO_SHA)
        forced = old != ZERO_SHA and new != ZERO_SHA and not git.is_ancestor(old, new)
        if new != ZERO_SHA and ref.startswith("refs/heads/"):
            ensure_check_run(tx, host, full_name, git, new, ref.removeprefix("refs/heads/"))
        key = f"github:push:{full_name}:{ref}@{new}"
        detail = {"ref": ref, "old": old, "new": new, "forced": forced}
        tx.record_effect(request, PEER_NAME, "push.ref", key, detail)
    if changed:
        doc = tx.get(PEER_NAME, "repo", full_name) or {}
        tx.put(PEER_NAME, "repo", full_name, doc | {"pushed_at": iso(host.now())})


def _challenge() -> Response:
    message = "Authentication required to push to the sandbox: use the sandbox token.\n"
    headers = {"WWW-Authenticate": f'Basic realm="{REALM}"'}
    return Response(message, status_code=401, headers=headers, media_type="text/plain")


def _basic_user(authorization: str) -> str:
    """The user name of a Basic credential (for git's logs), or ''."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(value.strip()).decode().partition(":")[0]
    except (ValueError, binascii.Error):
        return ""

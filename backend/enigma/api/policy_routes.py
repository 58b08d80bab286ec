"""GET /api/policy: the release policy in effect, per repository, with its waves and hash."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from enigma.api.deps import CurrentUser, require
from enigma.api.routes import known_query
from enigma.api.schemas import ErrorOut
from enigma.policy import LoadedPolicy, describe
from enigma.policy.text import REPOSITORY_NAME

__all__ = ["router"]

router = APIRouter(
    prefix="/api",
    tags=["policy"],
    responses={code: {"model": ErrorOut} for code in (401, 403, 422)},
    dependencies=[Depends(known_query)],
)


@router.get("/policy", summary="The release policy in effect")
async def get_policy(
    request: Request,
    user: CurrentUser,
    repositories: Annotated[
        list[Annotated[str, Field(pattern=REPOSITORY_NAME)]] | None,
        Query(max_length=50, description="Repositories to show (default: the configured ones)"),
    ] = None,
) -> dict[str, Any]:
    """Effective rules per repository, the waves they release in, the hash and the source.

    Secrets (notification credentials) show as "**********".
    """
    require(user, "read")
    loaded: LoadedPolicy = request.app.state.policy
    if not repositories:
        runtime = getattr(request.app.state, "runtime", None)
        configured = list(getattr(runtime, "repositories", None) or [])
        repositories = list(dict.fromkeys([*configured, *loaded.policy.repositories]))
    return {
        "hash": loaded.hash,
        "source": loaded.source_label,
        **describe(loaded.policy, repositories),
    }

"""FastAPI dependencies as `Annotated` aliases: the runtime, the caller, and role checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from enigma.api.auth import MISSING, ROLE_ACTIONS, Principal
from enigma.bootstrap import Runtime
from enigma.runs.manager import RunManager

__all__ = ["CurrentUser", "Manager", "RuntimeDep", "require"]

# Documents the scheme in OpenAPI (the docs' Authorize button); our own code answers the 401s.
# Only the header is accepted: a token in the query string would end up in access logs.
_bearer = HTTPBearer(auto_error=False, description="An API token from ENIGMA_API_TOKENS")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _manager(request: Request) -> RunManager:
    return _runtime(request).manager


def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller `Authenticate` found before the request got here (see auth.py)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # not behind Authenticate: refuse rather than let anyone in
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, MISSING, headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
Manager = Annotated[RunManager, Depends(_manager)]
CurrentUser = Annotated[Principal, Depends(_principal)]


def require(principal: Principal, action: str) -> None:
    """403 unless the caller's roles allow `action`."""
    if not principal.may(action):
        roles = ", ".join(sorted(principal.roles)) or "no role"
        allowed = ", ".join(sorted(ROLE_ACTIONS[action]))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{principal.user} ({roles}) may not {action}; that takes one of: {allowed}",
        )

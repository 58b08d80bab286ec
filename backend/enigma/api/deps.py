"""FastAPI dependencies as `Annotated` aliases: the runtime, the caller, and role checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from enigma.api.auth import Principal, TokenBook
from enigma.bootstrap import Runtime
from enigma.runs.manager import RunManager

__all__ = ["CurrentUser", "Manager", "RuntimeDep", "require"]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _manager(request: Request) -> RunManager:
    return _runtime(request).manager


def _principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not token and "access_token" in request.query_params:  # EventSource cannot set headers
        scheme, token = "bearer", request.query_params["access_token"]
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token: send `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    book: TokenBook = request.app.state.tokens
    principal = book.lookup(token.strip())
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown API token", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
Manager = Annotated[RunManager, Depends(_manager)]
CurrentUser = Annotated[Principal, Depends(_principal)]


def require(principal: Principal, action: str) -> None:
    """403 unless the caller's roles allow `action`."""
    if not principal.may(action):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{principal.user} ({', '.join(sorted(principal.roles)) or 'no role'}) may not {action}",
        )

"""API tokens → users and roles; which role may do what.

Tokens come from `ENIGMA_API_TOKENS` / `ENIGMA_API_TOKENS_FILE`. With none configured the
service makes one demo token (role admin) in `<data_dir>/api_tokens.json`, readable only by
its owner, and prints it once at start-up. Tokens are compared in constant time and never
logged, stored in a run, or echoed in a response.

`Authenticate` checks the token before anything else looks at the request: an
unauthenticated caller gets 401 whatever its query or body, never a 422 that would list the
parameters a route takes. It also guards `/metrics` when `ENIGMA_METRICS_TOKEN` is set: that
token (what a Prometheus scraper is given) or any API token allowed to read runs, since the
metrics count nothing a viewer cannot list.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from enigma.files import private_dir, write_private
from enigma.settings import ApiUser, Settings

__all__ = ["ROLE_ACTIONS", "Authenticate", "Principal", "TokenBook", "demo_token_file"]

MISSING = "missing bearer token: send `Authorization: Bearer <token>`"

# Which roles may perform each kind of action.
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "read": frozenset({"viewer", "release_manager", "approver", "admin"}),
    "operate": frozenset({"release_manager", "admin"}),
    "approve": frozenset({"approver", "admin"}),
    "amend": frozenset({"approver", "release_manager", "admin"}),
    "decide": frozenset({"approver", "release_manager", "admin"}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    user: str
    roles: frozenset[str]

    def may(self, action: str) -> bool:
        """Whether one of the caller's roles allows `action`."""
        return bool(self.roles & ROLE_ACTIONS[action])


def demo_token_file(data_dir: Path) -> Path:
    """Where the generated demo token lives."""
    return data_dir / "api_tokens.json"


class TokenBook:
    """Look tokens up in constant time."""

    def __init__(self, tokens: dict[str, ApiUser]):
        self._tokens = dict(tokens)

    @classmethod
    def from_settings(cls, settings: Settings) -> tuple[TokenBook, str | None]:
        """Configured tokens, or a generated demo token (returned so it can be shown once)."""
        tokens = settings.load_api_tokens()
        if tokens:
            return cls(tokens), None
        path = demo_token_file(settings.data_dir)
        if path.exists():
            raw = json.loads(path.read_text())
        else:
            raw = {"enigma_" + secrets.token_urlsafe(24): {"user": "demo", "roles": ["admin"]}}
            private_dir(path.parent)
            write_private(path, json.dumps(raw))
        book = cls({k: ApiUser.model_validate(v) for k, v in raw.items()})
        return book, next(iter(raw))

    def lookup(self, token: str) -> Principal | None:
        """The principal of a token, or None."""
        found: ApiUser | None = None
        for known, user in self._tokens.items():
            if secrets.compare_digest(known.encode(), token.encode()):
                found = user
        return None if found is None else Principal(found.user, frozenset(found.roles))


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (None: no such header)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = str(value.decode("latin-1")).partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class Authenticate:
    """401 for `/api/*` without a known token (and `/metrics` when it has a token of its own).

    The caller found is left in the request's state (`principal`) for the routes' role
    checks. Pure ASGI: it reads headers only, so a body is not read for a stranger.
    """

    def __init__(self, app: ASGIApp, metrics_token: SecretStr | None = None):
        self.app = app
        self.metrics_token = metrics_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")) if scope["type"] == "http" else ""
        metrics = path == "/metrics" and self.metrics_token is not None
        if not (metrics or path == "/api" or path.startswith("/api/")):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        book: TokenBook = scope["app"].state.tokens
        principal = None if token is None else book.lookup(token)
        if metrics and token is not None and self.metrics_token is not None:
            wanted = self.metrics_token.get_secret_value().encode()
            if secrets.compare_digest(wanted, token.encode()):
                principal = Principal("metrics", frozenset({"viewer"}))
        if principal is None or (metrics and not principal.may("read")):
            detail = MISSING if token is None else "unknown API token"
            answer = JSONResponse(
                {"detail": detail, "errors": []},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await answer(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

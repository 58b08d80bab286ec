"""API tokens → users and roles; which role may do what.

Tokens come from `ENIGMA_API_TOKENS` / `ENIGMA_API_TOKENS_FILE`. With none configured the
service makes one demo token (role admin) in `<data_dir>/api_tokens.json`, readable only by
its owner, and prints it once at start-up. Tokens are compared in constant time and never
logged, stored in a run, or echoed in a response.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from enigma.settings import ApiUser, Settings

__all__ = ["ROLE_ACTIONS", "Principal", "TokenBook", "demo_token_file"]

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
            path.parent.mkdir(parents=True, exist_ok=True)
            # created owner-only: never readable by others, not even for a moment
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps(raw))
        book = cls({k: ApiUser.model_validate(v) for k, v in raw.items()})
        return book, next(iter(raw))

    def lookup(self, token: str) -> Principal | None:
        """The principal of a token, or None."""
        found: ApiUser | None = None
        for known, user in self._tokens.items():
            if secrets.compare_digest(known.encode(), token.encode()):
                found = user
        return None if found is None else Principal(found.user, frozenset(found.roles))

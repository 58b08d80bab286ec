"""What every GitHub peer handler needs: repositories on disk, their documents, users, links.

The git repositories are the truth about branches, tags and commits; the sandbox store keeps
what git cannot (repository ids, pull requests, releases, check runs, comments), under the
peer name `github`. `RepoContext` bundles one repository's pieces for a request and is what
handlers receive through `Depends`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, Request

from enigma.sandbox.core import PeerError, Sandbox, base_url
from enigma.sandbox.github_json import Links, RepoLinks, user_json
from enigma.sandbox.gitrepo import GitRepo, Identity

__all__ = [
    "API_PREFIX",
    "DOCS_URL",
    "PEER_NAME",
    "PREFIX",
    "RATE_LIMIT_DOCS_URL",
    "GitHubHost",
    "RepoContext",
    "error",
    "error_body",
    "github_option",
    "not_found",
    "page_size",
    "paginate",
    "repo_dependency",
    "required_str",
    "validation_failed",
]

PEER_NAME = "github"
PREFIX = "/github"
API_PREFIX = "/github/api/v3"
DOCS_URL = "https://docs.github.com/rest"
RATE_LIMIT_DOCS_URL = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
BOT_ID = 2
OWNER_ID = 1


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    """GitHub's error shape: message, documentation_url and the status as a string.

    A rate-limit message links GitHub's rate-limit page, as GitHub's own answer does.
    """
    docs = RATE_LIMIT_DOCS_URL if message.startswith("API rate limit exceeded") else DOCS_URL
    return {"message": message, "documentation_url": docs, "status": str(status), **extra}


def error(status: int, message: str, **extra: Any) -> PeerError:
    """A GitHub-shaped error answer."""
    return PeerError(status, error_body(status, message, **extra))


def not_found() -> PeerError:
    """GitHub's plain 404."""
    return error(404, "Not Found")


def validation_failed(resource: str, code: str, **fields: Any) -> PeerError:
    """GitHub's 422 with one entry in `errors` (`field`, `message`, ... in fields)."""
    return error(422, "Validation Failed", errors=[{"resource": resource, "code": code, **fields}])


def github_option(sandbox: Sandbox, name: str, default: Any) -> Any:
    """A run-time setting (tests shorten delays), else the seed's `[github]` value, else default."""
    return sandbox.setting(name, sandbox.seed.get("github", {}).get(name, default))


@dataclass(frozen=True)
class GitHubHost:
    """The GitHub side of a sandbox: settings from the seed, repositories under repos_dir."""

    sandbox: Sandbox

    @property
    def seed(self) -> dict[str, Any]:
        """The seed's `[github]` table."""
        return dict(self.sandbox.seed.get("github", {}))

    @property
    def owner(self) -> str:
        """The organisation that owns every seeded repository."""
        return str(self.seed.get("owner", "acme"))

    @property
    def bot_login(self) -> str:
        """The user the sandbox token belongs to."""
        return str(self.seed.get("bot", "release-bot"))

    def option(self, name: str, default: Any) -> Any:
        """A run-time setting, else the seed's `[github]` value, else `default`."""
        return github_option(self.sandbox, name, default)

    @property
    def check_name(self) -> str:
        """Name of the simulated CI check run."""
        return str(self.sandbox.setting("check_name", self.seed.get("check_name", "enigma-ci")))

    @property
    def check_delay(self) -> float:
        """Seconds a check run takes from queued to completed."""
        default = self.seed.get("check_delay_seconds", 2.0)
        return float(self.sandbox.setting("check_delay_seconds", default))

    def git(self, owner: str, name: str) -> GitRepo:
        """The bare repository of owner/name (which may not exist)."""
        return GitRepo(self.sandbox.repos_dir / owner / f"{name}.git")

    def now(self) -> float:
        """Wall-clock seconds (one place to read the clock)."""
        return time.time()

    def identity(self) -> Identity:
        """Author and committer of commits made through the API: the bot, now."""
        return Identity(self.bot_login, f"{self.bot_login}@users.noreply.sandbox", _utcnow())

    def links(self, request: Request) -> Links:
        """This peer's addresses as the client reached it."""
        return Links(base_url(request, PREFIX))

    def users(self, links: Links) -> tuple[dict[str, Any], dict[str, Any]]:
        """The organisation and the bot as `simple-user`s."""
        org = user_json(links, self.owner, OWNER_ID, "Organization")
        return org, user_json(links, self.bot_login, BOT_ID)

    def context(self, request: Request, owner: str, repo: str) -> RepoContext:
        """Everything about one repository for this request; 404 if it is unknown."""
        doc = self.sandbox.store.get(PEER_NAME, "repo", f"{owner}/{repo}")
        git = self.git(owner, repo)
        if doc is None or not git.path.is_dir():
            raise not_found()
        links = self.links(request)
        org, bot = self.users(links)
        return RepoContext(self, doc, git, links.repo(owner, repo), org, bot)


@dataclass(frozen=True)
class RepoContext:
    """One repository as a request sees it."""

    host: GitHubHost
    doc: dict[str, Any]
    git: GitRepo
    rl: RepoLinks
    org: dict[str, Any]
    bot: dict[str, Any]

    @property
    def full_name(self) -> str:
        """`owner/name`, the key of everything stored about the repository."""
        return self.rl.full_name

    def branch_sha(self, branch: str) -> str | None:
        """The commit a branch points at, or None."""
        return self.git.rev_parse(f"refs/heads/{branch}") if _plain(branch) else None

    def resolve(self, rev: str) -> str | None:
        """A branch, tag or commit id as a commit id, or None."""
        if not _plain(rev):
            return None
        for candidate in (f"refs/heads/{rev}", f"refs/tags/{rev}", rev):
            sha = self.git.rev_parse(candidate)
            if sha is not None:
                return sha
        return None


def _plain(rev: str) -> bool:
    """Names a client may pass: no option look-alikes, no revision syntax, no control chars."""
    return bool(rev) and not rev.startswith("-") and not any(c in rev for c in "\0\n:^~@{")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def paginate(
    request: Request, items: list[Any], per_page: int, page: int
) -> tuple[list[Any], dict[str, str]]:
    """One page of items and GitHub's `Link` header for the others (built from our URL)."""
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    rels = []
    if page < last:
        rels += [("next", page + 1), ("last", last)]
    if page > 1:
        rels += [("first", 1), ("prev", min(page - 1, last))]
    if not rels:
        return chunk, {}
    url = request.url.include_query_params(per_page=per_page)
    link = ", ".join(f'<{url.include_query_params(page=n)}>; rel="{rel}"' for rel, n in rels)
    return chunk, {"Link": link}


def repo_dependency(host: GitHubHost) -> Any:
    """`Depends(...)` resolving the path's {owner}/{repo} to a RepoContext (404 if unknown)."""

    def repo(request: Request, owner: str, repo: str) -> RepoContext:
        return host.context(request, owner, repo)

    return Depends(repo)


def required_str(body: dict[str, Any], name: str, resource: str) -> str:
    """A string field of a request body, or GitHub's 422 `missing_field`."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise validation_failed(resource, "missing_field", field=name)
    return value


def page_size(per_page: int, limit: int = 100) -> int:
    """GitHub clamps per_page rather than refusing it."""
    return min(max(per_page, 1), limit)

"""Build the four clients a release needs, for the real services or for the sandbox.

The outer layers (CLI, service start-up, tests) call `build_clients` with the settings and,
when they started the sandbox, its URLs. This module never starts the sandbox itself.
`Clients` lives in `integrations.base` and is re-exported here so
there is one type for it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from enigma.integrations.base import Clients
from enigma.integrations.confluence_wiki import ConfluenceWiki
from enigma.integrations.errors import InvalidInput
from enigma.integrations.git_mirror import GitMirror
from enigma.integrations.github_host import GitHubHost
from enigma.integrations.http import CallPolicy
from enigma.integrations.jira_tracker import JiraTracker
from enigma.settings import Settings
from enigma.shipped import SANDBOX_SEED

if TYPE_CHECKING:
    from enigma.sandbox.server import SandboxUrls

__all__ = ["Clients", "build_clients", "clients_from_environment", "policy_from", "sandbox_owner"]

SEED_FILE = SANDBOX_SEED


def policy_from(settings: Settings) -> CallPolicy:
    """Tries, backoff and timeout from `ENIGMA_HTTP_*`."""
    return CallPolicy(
        max_tries=settings.http_max_tries,
        backoff=settings.http_backoff_seconds,
        timeout=settings.http_timeout_seconds,
    )


def build_clients(settings: Settings, sandbox_urls: SandboxUrls | None) -> Clients:
    """Clients for the real services when all are configured, else for the running sandbox."""
    policy = policy_from(settings)
    planner = GitMirror(settings.data_dir / "mirrors", policy)
    endpoints = settings.endpoints()
    if endpoints is not None:
        return Clients(
            tracker=JiraTracker(
                endpoints.jira_url, endpoints.jira_token, endpoints.jira_user, policy
            ),
            code_host=GitHubHost(
                endpoints.github_url, endpoints.github_owner, endpoints.github_token, policy
            ),
            wiki=ConfluenceWiki(
                endpoints.confluence_url,
                endpoints.confluence_token,
                endpoints.confluence_user,
                policy,
            ),
            planner=planner,
        )
    if sandbox_urls is None:
        raise InvalidInput(
            "settings",
            "Jira, GitHub and Confluence are not all configured and no sandbox is running",
        )
    token = SecretStr(sandbox_urls.token)
    return Clients(
        tracker=JiraTracker(sandbox_urls.jira, token, None, policy),
        code_host=GitHubHost(
            sandbox_urls.github,
            settings.github_owner or sandbox_owner(),
            token,
            policy,
            pace_requests=False,  # PyGithub's 1 s between writes protects GitHub, not the sandbox
        ),
        wiki=ConfluenceWiki(sandbox_urls.confluence, token, None, policy),
        planner=planner,
    )


def clients_from_environment() -> Clients:
    """Clients from `ENIGMA_*` alone (LangGraph Studio): real services, or a sandbox that
    an outer layer started and announced with ENIGMA_SANDBOX_PORT and ENIGMA_SANDBOX_TOKEN."""
    settings = Settings()
    if settings.endpoints() is not None:
        return build_clients(settings, None)
    if not settings.sandbox_port or settings.sandbox_token is None:
        return build_clients(settings, None)  # raises the "nothing configured" error
    from enigma.sandbox.server import SandboxUrls

    root = f"http://{settings.sandbox_host}:{settings.sandbox_port}"
    urls = SandboxUrls.at(root, settings.sandbox_token.get_secret_value())
    return build_clients(settings, urls)


def sandbox_owner(seed_file: Path = SEED_FILE) -> str:
    """The GitHub owner the sandbox seeds (`[github] owner`), "acme" if unreadable."""
    try:
        seed = tomllib.loads(seed_file.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return "acme"
    return str(seed.get("github", {}).get("owner") or "acme")

"""Where the three services answer and how to talk to them: one value the outer layer builds.

`build_clients` only consumes it; it cannot tell the real services from the sandbox and never
needs to. Bootstrap fills it in from `ENIGMA_*` settings (`Settings.endpoints`) or from the
sandbox it started, and that is the only place that decides whether GitHub's pacing applies.
There is no git remote here: the clone URL of each repository comes from GitHub's own answer
(`RepoInfo.clone_url`), so it is right for github.com, Enterprise Server and the sandbox alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

__all__ = ["Endpoints"]


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """Base URLs and credentials of Jira, GitHub and Confluence (secrets stay SecretStr)."""

    jira_url: str
    jira_token: SecretStr
    jira_user: str | None = None
    """Jira Cloud's account e-mail (Basic auth); None sends the token as a Bearer token."""
    github_url: str
    """The REST API root: https://api.github.com, or https://host/api/v3 for Enterprise."""
    github_owner: str
    """The organisation or user the released repositories belong to."""
    github_token: SecretStr
    confluence_url: str
    confluence_token: SecretStr
    confluence_user: str | None = None
    """As `jira_user`, for Confluence."""
    pace_writes: bool = True
    """Keep PyGithub's spacing of requests (0.25 s) and writes (1 s), as GitHub asks of
    integrations to stay clear of its secondary rate limits. Only a local peer turns it off."""

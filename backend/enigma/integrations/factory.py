"""Build the four clients a release needs from an `Endpoints` value.

The outer layer (bootstrap, Studio's graph module, tests) decides where the services are and
whether GitHub's pacing applies, and hands that over as `Endpoints`; this module only turns
it into clients. It knows nothing of the sandbox, so production code cannot grow a branch
that behaves differently there. `Clients` lives in `integrations.base` and is re-exported
here so there is one type for it.
"""

from __future__ import annotations

from enigma.integrations.base import Clients
from enigma.integrations.confluence_wiki import ConfluenceWiki
from enigma.integrations.endpoints import Endpoints
from enigma.integrations.git_mirror import GitMirror
from enigma.integrations.github_host import GitHubHost
from enigma.integrations.http import CallPolicy
from enigma.integrations.jira_tracker import JiraTracker
from enigma.settings import Settings

__all__ = ["Clients", "Endpoints", "build_clients", "policy_from"]


def policy_from(settings: Settings) -> CallPolicy:
    """Tries, backoff and timeout from `ENIGMA_HTTP_*`."""
    return CallPolicy(
        max_tries=settings.http_max_tries,
        backoff=settings.http_backoff_seconds,
        timeout=settings.http_timeout_seconds,
    )


def build_clients(settings: Settings, endpoints: Endpoints) -> Clients:
    """Clients for `endpoints`, with the call policy and mirror directory of `settings`."""
    policy = policy_from(settings)
    return Clients(
        tracker=JiraTracker(endpoints.jira_url, endpoints.jira_token, endpoints.jira_user, policy),
        code_host=GitHubHost(
            endpoints.github_url,
            endpoints.github_owner,
            endpoints.github_token,
            policy,
            pace_requests=endpoints.pace_writes,
        ),
        wiki=ConfluenceWiki(
            endpoints.confluence_url,
            endpoints.confluence_token,
            endpoints.confluence_user,
            policy,
        ),
        planner=GitMirror(settings.data_dir / "mirrors", policy),
    )

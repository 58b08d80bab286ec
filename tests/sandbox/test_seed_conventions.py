"""The seed's release 3.0.0, read the way a release run reads it: tickets in Jira, branches in
GitHub. Its repositories carry the per-team cases (CI, branch names) next to the old story,
which stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from jira import JIRA

from enigma.sandbox.server import SandboxServer
from tests.sandbox.github_support import client

NEW_REPOSITORIES = ["lib", "service", "docs-site", "legacy-billing", "mobile-app"]
OLD_REPOSITORIES = ["payments-api", "web-app", "notifications"]


def test_release_3_0_0_tickets_and_where_their_branches_are(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = sandbox_factory()
    jira = JIRA(server.urls.jira, token_auth=server.urls.token, max_retries=0)
    try:
        issues = jira.search_issues('fixVersion = "3.0.0" ORDER BY key', maxResults=False)
        tickets = [issue.key for issue in issues]
        sprints = {issue.raw["fields"]["customfield_10020"][0].split("name=")[1].split(",")[0]
                   for issue in issues}  # fmt: skip
    finally:
        jira.close()
    assert tickets == [f"ENG-{n}" for n in range(140, 147)]
    assert sprints == {"Sprint 44"}

    gh = client(server)
    branches = {
        name: [b.name for b in gh.get_repo(f"acme/{name}").get_branches()]
        for name in OLD_REPOSITORIES + NEW_REPOSITORIES
    }
    where: dict[str, list[str]] = {}
    for repo, names in branches.items():
        for branch in names:
            for key in re.findall(r"[A-Z][A-Z0-9]+-\d+", branch):
                where.setdefault(key, []).append(f"{repo}:{branch}")
    assert where["ENG-140"] == [
        "lib:feature/ENG-140-retry-policy",
        "service:feature/ENG-140-adopt-retry-policy",
    ]
    assert where["ENG-141"] == ["service:ENG-141_fast-path"]
    assert where["ENG-142"] == ["lib:users/alice/ENG-142"]
    assert "ENG-146" not in where  # a ticket without a branch, like ENG-110
    usual = ("feature/", "bugfix/", "fix/", "task/", "story/", "chore/")
    assert not any(b.startswith(usual) for b in ("ENG-141_fast-path", "users/alice/ENG-142"))
    new_keys = {k for repo in NEW_REPOSITORIES for k in re.findall(r"ENG-\d+", str(branches[repo]))}
    assert new_keys <= set(tickets), "the new repositories carry only release 3.0.0 work"
    assert all(not re.search(r"ENG-14\d", str(branches[repo])) for repo in OLD_REPOSITORIES)

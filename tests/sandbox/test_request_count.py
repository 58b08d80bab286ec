"""The sandbox counts the peer requests it received, so two clients' call counts compare."""

from __future__ import annotations

import requests

from enigma.sandbox.server import SandboxServer


def test_peer_requests_are_counted_by_peer_and_admin_calls_are_not(
    sandbox: SandboxServer,
) -> None:
    urls = sandbox.urls
    auth = {"Authorization": f"Bearer {urls.token}"}
    requests.get(f"{urls.jira}/rest/api/2/issue/ENG-101", headers=auth, timeout=5)
    requests.get(f"{urls.jira}/rest/api/2/issue/ENG-102", headers=auth, timeout=5)
    requests.get(f"{urls.github}/repos/acme/web-app", headers=auth, timeout=5)
    requests.get(f"{urls.admin}/_sandbox/effects", timeout=5)

    counted = requests.get(f"{urls.admin}/_sandbox/requests", timeout=5).json()
    jira_only = requests.get(f"{urls.admin}/jira/_sandbox/requests", timeout=5).json()

    assert counted == {"requests": {"jira": 2, "github": 1}, "total": 3}
    assert jira_only == {"requests": {"jira": 2}, "total": 2}
    requests.post(f"{urls.admin}/_sandbox/reset", timeout=30).raise_for_status()
    assert requests.get(f"{urls.admin}/_sandbox/requests", timeout=5).json()["total"] == 0

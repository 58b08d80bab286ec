"""The sandbox's request log: every peer request in order, with its status; admin calls not."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import httpx

from enigma.sandbox.server import SandboxServer


def test_the_request_log_lists_what_the_peers_were_asked(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = sandbox_factory()
    root, auth = server.urls.admin, {"Authorization": f"Bearer {server.urls.token}"}
    httpx.get(f"{root}/jira/rest/api/2/issue/ENG-101?fields=status", headers=auth, timeout=10)
    httpx.get(f"{root}/jira/rest/api/2/issue/ENG-999", headers=auth, timeout=10)
    rule = {"kind": "drop", "route": "/serverInfo$", "count": 1}
    httpx.post(f"{root}/_sandbox/faults", json=rule, timeout=10).raise_for_status()
    with contextlib.suppress(httpx.TransportError):  # the dropped connection
        httpx.get(f"{root}/jira/rest/api/2/serverInfo", headers=auth, timeout=10)
    logged = httpx.get(f"{root}/_sandbox/requests", timeout=10).json()["requests"]
    assert [(r["method"], r["path"], r["query"], r["status"]) for r in logged] == [
        ("GET", "/jira/rest/api/2/issue/ENG-101", "fields=status", 200),
        ("GET", "/jira/rest/api/2/issue/ENG-999", "", 404),
        ("GET", "/jira/rest/api/2/serverInfo", "", None),
    ]
    assert all(r["start"] <= r["end"] for r in logged)
    github_only = httpx.get(f"{root}/github/_sandbox/requests", timeout=10).json()["requests"]
    assert github_only == []  # a peer's own admin API lists that peer's requests
    httpx.delete(f"{root}/_sandbox/requests", timeout=10).raise_for_status()
    assert httpx.get(f"{root}/_sandbox/requests", timeout=10).json()["requests"] == []

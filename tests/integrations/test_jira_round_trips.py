"""What JiraTracker asks Jira for: shared reads once per tracker, a workflow hop in two requests.

Under real latency every request is a round trip on the release's critical path, so these
tests count the requests the sandbox received (its request log), not the time they took.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from enigma.integrations.jira_tracker import JiraTracker
from enigma.sandbox.core import FaultRule
from enigma.sandbox.server import SandboxServer
from tests.integrations.conftest import effects


def _jira_calls(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return [r for r in sandbox.sandbox.requests.entries() if r["path"].startswith("/jira/")]


def test_one_hop_is_one_read_and_one_transition(
    tracker: JiraTracker, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.requests.clear()
    assert tracker.ensure_status("ENG-101", "Done") is True  # In Review -> Done
    calls = [(r["method"], r["path"], r["query"]) for r in _jira_calls(sandbox)]
    assert calls == [
        ("GET", "/jira/rest/api/2/serverInfo", ""),
        ("GET", "/jira/rest/api/2/issue/ENG-101", "fields=status&expand=transitions"),
        ("POST", "/jira/rest/api/2/issue/ENG-101/transitions", ""),
    ]
    sandbox.sandbox.requests.clear()
    assert tracker.ensure_status("ENG-101", "Done") is False
    assert [r["method"] for r in _jira_calls(sandbox)] == ["GET"]


def test_a_lost_answer_to_the_last_hop_still_counts_as_moved(
    tracker: JiraTracker, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.faults.add(
        [FaultRule(kind="drop_after", route="/transitions$", methods=["POST"], count=1)]
    )
    assert tracker.ensure_status("ENG-101", "Done") is True
    moves = [e["key"] for e in effects(sandbox, "jira", "transition")]
    assert moves == ["jira:transition:ENG-101:Done"]


def test_threads_share_the_server_info_and_the_field_catalogue(
    tracker: JiraTracker, sandbox: SandboxServer
) -> None:
    keys = ["ENG-101", "ENG-102", "ENG-103", "ENG-105", "ENG-107", "ENG-109"]
    url = "https://github.example/acme/payments-api/pull/1"
    with ThreadPoolExecutor(len(keys)) as pool:
        assert all(pool.map(lambda k: tracker.ensure_remote_link(k, url, "Release PR"), keys))
        found = list(pool.map(lambda k: tracker.statuses([k]), keys))
    assert [next(iter(f)) for f in found] == keys
    paths = Counter(r["path"] for r in _jira_calls(sandbox))
    assert paths["/jira/rest/api/2/serverInfo"] == 1
    assert paths["/jira/rest/api/2/field"] == 1
    assert paths["/jira/rest/applinks/latest/listApplicationlinks"] == 0
    assert len(effects(sandbox, "jira", "remotelink")) == len(keys)

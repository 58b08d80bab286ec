"""finalize side by side: every ticket moved, commented and linked once, in the order that counts.

The ticket updates of finalize run at once (a bounded pool); these releases prove that the
concurrency changes what the tracker received in no way: the same effects as the 2.4.0
release always made, each once, the tickets after their pull requests' merges and the Jira
version after every ticket, with and without injected faults.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from enigma.sandbox.core import FaultRule
from tests.conftest import RELEASE_2_4_0_EFFECTS
from tests.graph.conftest import Release

AUTO = {
    "auto_approve": True,
    "on_conflict": "skip",
    "on_check_failure": "ask",
    "on_error": "ask",
    "auto_retries": 3,
}


def _finish(release: Release, limit: int = 40) -> dict[str, Any]:
    """Answer every error decision with retry, as on-call would, until the run ends."""
    for _ in range(limit):
        if not release.pending():
            return release.values
        release.answer("error", "retry")
    raise AssertionError("the run kept failing")


def _ticket_of(effect: dict[str, Any]) -> str:
    return str(effect["key"]).split(":")[2]  # jira:<kind>:<KEY>:...


def _assert_tickets_done_once(release: Release, final: dict[str, Any]) -> None:
    effects = release.effects()
    shipped = set(final["finalized"]["tickets"])
    assert len(shipped) == RELEASE_2_4_0_EFFECTS["comment"]
    for kind in ("comment", "remotelink"):
        per_ticket = Counter(_ticket_of(e) for e in effects if e["kind"] == kind)
        assert per_ticket == Counter(shipped), kind
    moved = {_ticket_of(e) for e in effects if e["kind"] == "transition"}
    assert moved <= shipped
    store = release.server.sandbox.store
    assert {k: (store.get("jira", "issue", k) or {})["status"] for k in shipped} == dict.fromkeys(
        shipped, "Done"
    )
    # order: every pull request merged before any ticket update, the version after all of them
    ids = {
        kind: [e["id"] for e in effects if e["kind"] == kind]
        for kind in Counter(e["kind"] for e in effects)
    }
    ticket_ids = ids["transition"] + ids["comment"] + ids["remotelink"]
    assert max(ids["pull.merge"]) < min(ticket_ids)
    assert min(ids["version.release"]) > max(ticket_ids)
    release.assert_no_duplicate_effects()
    counts = Counter(e["kind"] for e in effects)
    assert {k: counts[k] for k in RELEASE_2_4_0_EFFECTS} == RELEASE_2_4_0_EFFECTS


def _most_in_flight(requests: list[dict[str, Any]]) -> int:
    """The most of these requests the sandbox was answering at one moment."""
    edges = sorted([(r["start"], 1) for r in requests] + [(r["end"], -1) for r in requests])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_finalize_updates_tickets_side_by_side_with_the_same_effects(release: Release) -> None:
    # a little latency on Jira, so that calls made at once are seen at once
    release.server.sandbox.faults.add(
        [FaultRule(kind="latency", path_prefix="/jira", latency_ms=30)]
    )
    release.start(policy=AUTO)
    final = _finish(release)
    assert final["outcome"] == "partial", final.get("outcome_reason")  # ENG-106, ENG-110
    _assert_tickets_done_once(release, final)
    issue_calls = [
        r
        for r in release.server.sandbox.requests.entries()
        if r["path"].startswith("/jira/rest/api/2/issue/") and r["end"] is not None
    ]
    assert _most_in_flight(issue_calls) > 3


@pytest.mark.slow
def test_finalize_side_by_side_under_faults_does_each_effect_once(release: Release) -> None:
    faults = release.server.sandbox.faults
    faults.add(
        [
            FaultRule(kind="error", path_prefix="/jira", status=503, probability=0.1),
            FaultRule(kind="drop", path_prefix="/jira", probability=0.05),
            FaultRule(kind="drop_after", path_prefix="/jira", methods=["POST"], probability=0.3),
            FaultRule(kind="rate_limit", path_prefix="/jira", retry_after=0, probability=0.05),
        ]
    )
    release.start(policy=AUTO)
    final = _finish(release)
    assert final["outcome"] == "partial", final.get("outcome_reason")
    assert faults.injected > 10, "faults were not exercised"
    _assert_tickets_done_once(release, final)

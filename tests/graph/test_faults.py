"""A release under injected faults still does every effect exactly once."""

from __future__ import annotations

from collections import Counter

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

EXPECTED = RELEASE_2_4_0_EFFECTS


def _finish(release: Release, limit: int = 40) -> tuple[dict[str, object], int]:
    """Answer every error decision with retry, as an on-call engineer would, until the run ends."""
    retries = 0
    while release.pending():
        assert retries < limit, "the run kept failing"
        release.answer("error", "retry")
        retries += 1
    return release.values, retries


@pytest.mark.slow
def test_release_survives_thirty_percent_faults(release: Release) -> None:
    faults = release.server.sandbox.faults
    faults.add(
        [
            FaultRule(kind="error", status=503, probability=0.08),
            FaultRule(kind="error", status=502, probability=0.04),
            FaultRule(kind="rate_limit", retry_after=0, probability=0.08),
            FaultRule(kind="drop", probability=0.06),
            FaultRule(kind="drop_after", methods=["POST", "PUT", "PATCH"], probability=0.15),
            FaultRule(kind="latency", latency_ms=20, probability=0.1),
        ]
    )
    release.start(policy=AUTO)
    final, _ = _finish(release)
    assert final["outcome"] == "partial", final.get("outcome_reason")  # ENG-106, ENG-110
    assert faults.injected > 20, "faults were not exercised"
    release.assert_no_duplicate_effects()
    counts = Counter(e["kind"] for e in release.effects())
    assert {k: counts[k] for k in EXPECTED} == EXPECTED

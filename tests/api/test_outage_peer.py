"""A peer that goes away is waited out: no decision asked, nothing done twice.

The sandbox (Jira, GitHub and Confluence at once) is killed with SIGKILL in the middle of two
releases and started again on the same port 20 seconds later. The runs say why they wait
while it is down, then finish by themselves — with `on_error = "abort"`, because an outage is
not an error of the release. Asserted on the runs' statuses and on the sandbox's effect log.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.api.conftest import Stack
from tests.api.harness import effect_keys, wait_until

STRICT = {
    "auto_approve": True,
    "on_conflict": "skip",
    "on_check_failure": "abort",
    "on_error": "abort",
    "auto_retries": 0,
}
OUTAGE = 20.0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_peer_down_for_twenty_seconds_is_waited_out(stack: Stack) -> None:
    alice = stack.manager
    stack.sandbox.add_faults(
        {"kind": "latency", "route": "/merges$", "methods": ["POST"], "latency_ms": 400}
    )
    runs = [
        alice.start(
            fix_version="2.4.0",
            repositories=["payments-api", "web-app", "notifications"],
            policy=STRICT,
        )["id"],
        alice.start(
            fix_version="2.3.1",
            release_type="hotfix",
            repositories=["payments-api", "web-app"],
            policy=STRICT,
        )["id"],
    ]
    wait_until(
        lambda: sum(e["kind"] == "merge" for e in stack.sandbox.effects()) >= 2,
        60,
        "merges to be under way",
    )
    stack.sandbox.kill()
    down_since = time.monotonic()

    blocked = wait_until(
        lambda: [alice.run(r)["blocked"] for r in runs if alice.run(r)["blocked"]], 30, "a wait"
    )
    assert any("unreachable" in cause for cause in blocked), blocked
    assert all(alice.run(r)["status"] == "running" for r in runs)

    time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_since)))
    stack.sandbox.start()  # same port, same data

    for run_id in runs:
        done = alice.wait_status(run_id, {"succeeded", "failed", "cancelled"}, timeout=180)
        assert done["status"] == "succeeded", done["error"]
        assert done["outcome"] in ("succeeded", "partial")  # 2.4.0 leaves ENG-106 and ENG-110
        assert done["blocked"] is None
        events = alice.events(run_id)
        asked = [e["data"]["kind"] for e in events if e["type"] == "decision.requested"]
        assert asked == [], f"a decision was asked during an outage: {asked}"
        assert any(e["type"] == "run.blocked" for e in events)
        assert any(e["type"] == "run.unblocked" for e in events)

    keys = Counter(effect_keys(stack.sandbox.effects()))
    assert [k for k, n in keys.items() if n > 1] == [], "a side effect happened twice"
    assert Counter(kind for _, kind, _ in keys)["release.create"] == 5

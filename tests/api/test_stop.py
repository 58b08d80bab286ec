"""Stop means stop: after cancel (or a step timeout) only the calls already on the wire land.

Asserted on what GitHub received (the sandbox's effect log), not on Enigma's own events.
Every merge is slowed to 1.5 s by a latency fault, which the sandbox sleeps *before* its
handler acts: a merge request sent after the stop would land at least 1.5 s after it. So the
effects that land after the stop must be few (one merge per repository was in flight at
most), and they must all land within that first 1.5 s (plus the handler's own time); none
lands later.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.api.conftest import Stack, StackFactory
from tests.api.harness import wait_until

REPOS = ["payments-api", "web-app", "notifications"]
AUTO = {"auto_approve": True, "on_conflict": "skip", "on_check_failure": "abort"}
LATENCY = 1.5


def _slow_merges(stack: Stack) -> None:
    stack.sandbox.add_faults(
        {"kind": "latency", "route": "/merges$", "methods": ["POST"], "latency_ms": 1500}
    )


def _after(effects: list[dict[str, Any]], moment: float) -> list[dict[str, Any]]:
    return [e for e in effects if e["at"] > moment]


def _assert_only_in_flight_calls_landed(stack: Stack, stopped_at: float) -> None:
    time.sleep(LATENCY + 3.5)  # anything sent after the stop would have landed by now
    late = _after(stack.sandbox.effects(), stopped_at)
    assert len(late) <= len(REPOS), f"{len(late)} effects after the stop: {late}"
    assert {e["kind"] for e in late} <= {"merge"}, late
    # one per repository at most, each on the wire already: it landed within the latency
    # (plus the handler's own time) of the stop, not a whole latency later
    repos = [next(r for r in REPOS if f"/{r}/" in e["path"]) for e in late]
    assert len(set(repos)) == len(repos), late
    assert all(e["at"] < stopped_at + LATENCY + 0.5 for e in late), late
    settled = len(stack.sandbox.effects())
    time.sleep(2.0)
    assert len(stack.sandbox.effects()) == settled, "effects kept landing"


@pytest.mark.slow
def test_cancel_lets_only_the_merges_in_flight_land(stack: Stack) -> None:
    alice = stack.manager
    _slow_merges(stack)
    run_id = alice.start(fix_version="2.4.0", repositories=REPOS, policy=AUTO)["id"]
    wait_until(
        lambda: sum(e["kind"] == "merge" for e in stack.sandbox.effects()) >= 2,
        60,
        "merges to be under way",
    )
    cancelled = alice.act(run_id, "cancel", expect=200)
    stopped_at = time.time()
    assert cancelled["status"] == "cancelled"
    _assert_only_in_flight_calls_landed(stack, stopped_at)
    run = alice.run(run_id)
    assert run["status"] == "cancelled" and run["detail"]["by"] == "alice"
    assert run["detail"]["in_flight"], "the record says what was in flight"
    stack.sandbox.clear_faults()


@pytest.mark.slow
def test_a_step_timeout_stops_the_merges_too(stack_factory: StackFactory) -> None:
    stack = stack_factory(ENIGMA_STEP_TIMEOUT_SECONDS="2")
    alice = stack.manager
    _slow_merges(stack)
    run_id = alice.start(fix_version="2.4.0", repositories=REPOS, policy=AUTO)["id"]
    failed = alice.wait_status(run_id, "failed", timeout=60)
    assert failed["error"].startswith("timeout: step merge_feature_branches ran over 2s")
    status = [e for e in alice.events(run_id) if e["type"] == "run.status"][-1]
    _assert_only_in_flight_calls_landed(stack, status["at"])
    stack.sandbox.clear_faults()

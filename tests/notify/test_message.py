"""The notification payload and its text rendering."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from enigma.notify.message import (
    Notification,
    Outcome,
    decision_expired,
    decision_made,
    iso_time,
    run_failed,
)
from enigma.notify.text import body, facts, subject
from tests.notify.conftest import BASE_URL, RUN, approval, finished


def test_decision_request_is_plain_json_with_links_and_who_may_decide() -> None:
    n = approval()
    data = json.loads(n.body())
    assert data == n.to_json()
    assert data["type"] == "decision.requested"
    assert data["time"] == "2026-03-01T09:30:00.000Z"
    assert data["run_id"] == "run-42" and data["fix_version"] == "2.4.0"
    assert data["decision"]["approvers"] == {"roles": ["approver", "admin"], "required": 2}
    assert data["decision"]["deadline"] == "2026-03-01T10:30:00.000Z"
    assert data["decision"]["choices"] == ["approve", "reject"]
    assert data["outcome"] is None
    assert data["links"] == {
        "run": f"{BASE_URL}/ui/#/runs/run-42",
        "api": f"{BASE_URL}/api/runs/run-42",
    }
    assert Notification.model_validate(data) == n  # what the outbox stores reads back


def test_builders_fill_action_actor_and_outcome() -> None:
    asked = approval().decision
    assert asked is not None
    made = decision_made("e3", 0.0, RUN, asked, action="approve", actor="alice", base_url=BASE_URL)
    assert made.actor == "alice" and made.decision and made.decision.action == "approve"
    expired = decision_expired("e4", 0.0, RUN, asked, action="pause", base_url="x/")
    assert expired.decision and expired.decision.on_expiry == "pause"
    assert expired.links.run == "x/ui/#/runs/run-42"
    failed = run_failed("e5", 0.0, RUN, Outcome(status="failed", reason="boom"), base_url="x")
    assert failed.outcome and failed.outcome.status == "failed"


def test_an_event_carries_the_right_subject() -> None:
    data = approval().to_json()
    with pytest.raises(ValidationError, match="carries a decision"):
        Notification.model_validate({**data, "decision": None})
    with pytest.raises(ValidationError, match="cannot have outcome"):
        Notification.model_validate(
            {**finished().to_json(), "outcome": {"status": "failed", "reason": ""}}
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        iso_time(datetime(2026, 1, 1))
    assert iso_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"


def test_subject_and_body_read_like_a_message() -> None:
    n = approval()
    assert subject(n) == (
        "Enigma: 2.4.0 waits for release approval "
        "(acme/payments-api, acme/web, acme/ledger, +1 more)"
    )
    text = body(n)
    assert "Who may decide: 2 of approver, admin" in text
    assert "Deadline: 2026-03-01 10:30 UTC, then reject" in text
    assert f"Open in Enigma: {BASE_URL}/ui/#/runs/run-42" in text
    done = finished()
    assert subject(done).startswith("Enigma: 2.4.0 was partly released (")
    rows = dict(facts(done))
    assert rows["Pull requests"].splitlines()[0] == (
        "acme/payments-api: https://github.test/acme/payments-api/pull/7"
    )
    assert rows["Left out"] == "ENG-106, acme/auth"

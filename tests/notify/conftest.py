"""Fixtures for the notification tests: receivers on free loopback ports, sample events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from enigma.notify.message import (
    Notification,
    Outcome,
    RunRef,
    decision_requested,
    pending_decision,
    run_finished,
)
from enigma.notify.sender import RetryPolicy
from tests.notify.receivers import HttpReceiver, SmtpRecorder, start_smtp

SECRET = "whsec-test-7f3a9c"
BASE_URL = "http://enigma.test:8400"
RUN = RunRef(
    run_id="run-42",
    fix_version="2.4.0",
    release_type="minor",
    repositories=["acme/payments-api", "acme/web", "acme/ledger", "acme/auth"],
)
FAST = RetryPolicy(max_attempts=50, backoff=0.02, backoff_cap=0.1)
"""Small backoff so retry tests take milliseconds."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """A webhook and Slack receiver that checks signatures with `SECRET`."""
    server = HttpReceiver(secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpRecorder, int]]:
    """A plain SMTP server (no TLS, no login): its recorder and port."""
    recorder = SmtpRecorder()
    controller = start_smtp(recorder)
    yield recorder, controller.port
    controller.stop()


def approval(event_id: str = "evt-1", at: float = 1_772_357_400.0) -> Notification:
    """A release-approval request with a deadline."""
    decision = pending_decision(
        "release_approval",
        "Release 2.4.0 to 4 repositories (9 tickets, ENG-106 left out)",
        ["approve", "reject"],
        roles=["approver", "admin"],
        required=2,
        deadline=at + 3600,
        on_expiry="reject",
    )
    return decision_requested(event_id, at, RUN, decision, base_url=BASE_URL)


def finished(event_id: str = "evt-2") -> Notification:
    """A partial release with pull requests and notes."""
    outcome = Outcome(
        status="partial",
        reason="acme/auth skipped after a merge conflict <ENG-106> & a failed check",
        pull_requests={
            "acme/payments-api": "https://github.test/acme/payments-api/pull/7",
            "acme/web": "https://github.test/acme/web/pull/3",
        },
        notes_url="https://wiki.test/notes/2.4.0",
        left_out=["ENG-106", "acme/auth"],
    )
    return run_finished(event_id, 1_772_361_000.0, RUN, outcome, base_url=BASE_URL)

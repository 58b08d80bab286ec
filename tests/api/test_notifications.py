"""Notifications from the real service process: ENIGMA_WEBHOOK_URL, SIGKILL, the API view.

The receiver is a real HTTP server that refuses a bad signature and acts on each event id
once (tests/notify/receivers.py); the assertions are about what it received.
"""

from __future__ import annotations

import json
import time

import pytest

from enigma.notify.webhook import verify_signature
from tests.api.conftest import StackFactory
from tests.api.harness import wait_until
from tests.notify.receivers import HttpReceiver, Reply, free_port

SECRET = "whsec-api-tests-3b1f"


def _received(receiver: HttpReceiver, type_: str) -> list[dict[str, object]]:
    return [
        body
        for body in (json.loads(h.body) for h in receiver.hits_on("/hook"))
        if body["type"] == type_
    ]


@pytest.mark.slow
def test_plan_approval_reaches_the_webhook_signed_within_five_seconds(
    stack_factory: StackFactory,
) -> None:
    receiver = HttpReceiver(secret=SECRET).start()
    try:
        stack = stack_factory(
            ENIGMA_WEBHOOK_URL=receiver.url("/hook"), ENIGMA_WEBHOOK_SECRET=SECRET
        )
        alice = stack.manager
        run = alice.start(fix_version="2.4.0", repositories=["payments-api"])
        alice.wait_decision(run["id"], "plan_approval")
        asked_at = time.monotonic()
        found = wait_until(
            lambda: _received(receiver, "decision.requested"), 5, "decision.requested"
        )
        assert time.monotonic() - asked_at < 5
        hit = receiver.hits_on("/hook")[0]
        assert verify_signature(SECRET, hit.body, hit.headers["x-enigma-signature"])
        assert hit.headers["x-enigma-signature"].startswith("sha256=")
        body = found[0]
        assert body["run_id"] == run["id"]
        assert body["decision"]["kind"] == "plan_approval"
        assert body["links"]["run"] == f"{stack.service.url}/ui/#/runs/{run['id']}"
        # the API lists it, delivered, and the secret is nowhere in what it says
        answer = alice.http.get("/api/notifications", params={"run_id": run["id"]})
        assert answer.status_code == 200, answer.text
        listed = answer.json()
        assert [(n["type"], n["status"]) for n in listed["items"]] == [
            ("decision.requested", "delivered")
        ]
        assert listed["channels"] == ["webhook"]
        assert SECRET not in answer.text
        assert SECRET not in stack.service.log_text()
        alice.act(run["id"], "cancel", expect=200)
    finally:
        receiver.stop()


@pytest.mark.slow
def test_a_sigkill_between_the_event_and_its_delivery_loses_nothing(
    stack_factory: StackFactory,
) -> None:
    receiver = HttpReceiver(secret=SECRET, port=free_port())  # down: connections refused
    stack = stack_factory(
        ENIGMA_WEBHOOK_URL=receiver.url("/hook"),
        ENIGMA_WEBHOOK_SECRET=SECRET,
        ENIGMA_NOTIFY_BACKOFF_SECONDS="0.2",
    )
    alice = stack.manager
    run = alice.start(fix_version="2.4.0", repositories=["payments-api"])
    alice.wait_decision(run["id"], "plan_approval")
    stack.service.kill()  # the notification is in the outbox, not delivered
    receiver.start()
    try:
        stack.service.start()
        wait_until(lambda: _received(receiver, "decision.requested"), 20, "the notification")
        assert len(receiver.events) == 1  # once, after de-duplication
        stack.approver.act(run["id"], "reject", comment="not now")
        wait_until(lambda: _received(receiver, "run.finished"), 20, "run.finished")
        assert sorted(json.loads(h.body)["type"] for h in receiver.hits_on("/hook") if h.body) == [
            "decision.made",
            "decision.requested",
            "run.finished",
        ]
    finally:
        receiver.stop()


@pytest.mark.slow
def test_a_refused_notification_is_kept_as_undeliverable_and_counted(
    stack_factory: StackFactory,
) -> None:
    receiver = HttpReceiver(secret=SECRET).start()
    receiver.script("/hook", Reply(410, b"this hook was removed"))
    try:
        stack = stack_factory(
            ENIGMA_WEBHOOK_URL=receiver.url("/hook"), ENIGMA_WEBHOOK_SECRET=SECRET
        )
        alice = stack.manager
        run = alice.start(fix_version="2.4.0", repositories=["payments-api"])
        alice.wait_decision(run["id"], "plan_approval")

        def undeliverable() -> list[dict[str, object]]:
            answer = alice.http.get("/api/notifications", params={"status": "undeliverable"})
            return list(answer.json()["items"])

        [row] = wait_until(undeliverable, 10, "the refused notification")
        assert row["attempts"] == 1
        assert "410" in str(row["last_error"])
        metrics = alice.http.get("/metrics").text
        assert 'enigma_notifications{status="undeliverable"} 1.0' in metrics
        missing = alice.http.get("/api/notifications", params={"run_id": "no-such-run"})
        assert missing.status_code == 404
        alice.act(run["id"], "cancel", expect=200)
    finally:
        receiver.stop()

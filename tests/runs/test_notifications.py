"""Notifications from real runs to real receivers, and decision deadlines.

The receivers are the ones the channel tests use (tests/notify/receivers.py): an HTTP server
that refuses a bad signature and acts on each event id once, and an aiosmtpd server. What
counts is what they received, not what Enigma says it sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from enigma.notify.config import EmailChannel, WebhookChannel
from enigma.notify.sender import RetryPolicy
from enigma.notify.webhook import verify_signature
from enigma.policy import parse_policy
from enigma.runs.manager import RunManager
from enigma.runs.models import RunRequest
from enigma.runs.notifying import Delivery
from enigma.sandbox.server import SandboxServer
from tests.notify.receivers import HttpReceiver, SmtpRecorder, free_port, start_smtp
from tests.runs.conftest import open_manager, run_async

SECRET = "whsec-run-tests"
BASE = "http://enigma.test:8400"
FAST = RetryPolicy(max_attempts=100, backoff=0.05, backoff_cap=0.3)


def _request(**overrides: Any) -> RunRequest:
    return RunRequest.model_validate(
        {"fix_version": "2.4.0", "repositories": ["web-app"]} | overrides
    )


def _webhook(receiver: HttpReceiver) -> Delivery:
    channel = WebhookChannel(name="hook", url=receiver.url("/hook"), secret=SECRET)
    return Delivery([channel], BASE, retry=FAST, poll_interval=0.2)


def _bodies(receiver: HttpReceiver) -> list[dict[str, Any]]:
    """Every notification the receiver accepted (signature checked), repeats included."""
    return [json.loads(h.body) for h in receiver.hits_on("/hook")]


async def _until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _types(receiver: HttpReceiver) -> list[str]:
    """The types of the events acted on, in the order they happened (delivery may reorder)."""
    by_id = {b["id"]: b["type"] for b in _bodies(receiver)}
    return [by_id[i] for i in sorted(receiver.events, key=lambda i: int(i.rsplit(".", 1)[1]))]


async def _approve_through(manager: RunManager, run_id: str) -> None:
    await manager.wait_for(run_id, {"waiting_for_approval"})
    await manager.decide(run_id, "approve", "bob", "plan ok")
    waiting = await manager.wait_for(run_id, {"waiting_for_approval", "failed"}, timeout=90)
    assert [p.kind for p in waiting.pending] == ["release_approval"]
    await manager.decide(run_id, "approve", "bob", "ship it")
    await manager.wait_for(run_id, {"succeeded", "failed", "cancelled"}, timeout=90)


@pytest.mark.slow
@run_async
async def test_a_release_tells_the_webhook_each_decision_and_the_outcome(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    receiver = HttpReceiver(secret=SECRET).start()
    try:
        async with open_manager(tmp_path, sandbox, delivery=_webhook(receiver)) as manager:
            await manager.start_background()
            run, _ = await manager.start(_request(), actor="alice")
            await manager.wait_for(run.id, {"waiting_for_approval"})
            asked = await _until(lambda: _bodies(receiver), 5, "decision.requested")
            hit = receiver.hits_on("/hook")[0]
            assert verify_signature(SECRET, hit.body, hit.headers["x-enigma-signature"])
            assert hit.headers["x-enigma-event-id"] == asked[0]["id"]
            first = asked[0]
            assert first["type"] == "decision.requested"
            assert first["decision"]["kind"] == "plan_approval"
            assert first["decision"]["choices"] == ["approve", "reject", "amend"]
            assert first["links"]["run"] == f"{BASE}/ui/#/runs/{run.id}"
            assert first["fix_version"] == "2.4.0"
            await _approve_through(manager, run.id)
            await _until(lambda: len(_types(receiver)) == 5, 10, "all five notifications")
            assert _types(receiver) == [
                "decision.requested",
                "decision.made",
                "decision.requested",
                "decision.made",
                "run.finished",
            ]
            finished = next(b for b in _bodies(receiver) if b["type"] == "run.finished")
            # only web-app is released: the tickets of the other repositories are left out
            assert finished["outcome"]["status"] == "partial"
            assert "ticket ENG-101 not shipped" in finished["outcome"]["left_out"]
            assert list(finished["outcome"]["pull_requests"]) == ["web-app"]
            assert finished["outcome"]["notes_url"]
            rows = await manager.store.notifications(run.id, None, 100)
            assert {r["status"] for r in rows} == {"delivered"}
            assert len(rows) == 5
            kinds = {r["kind"] for r in rows if r["type"].startswith("decision.")}
            assert kinds == {"plan_approval", "release_approval"}
            assert await manager.store.outbox_counts(run.id) == {"delivered": 5}
    finally:
        receiver.stop()


@pytest.mark.slow
@run_async
async def test_a_receiver_that_was_down_gets_everything_once_after_a_crash(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """Events happen while the receiver is down; the process dies; nothing is lost."""
    port = free_port()
    receiver = HttpReceiver(secret=SECRET, port=port)  # not listening yet: refused
    async with open_manager(tmp_path, sandbox, delivery=_webhook(receiver)) as manager:
        await manager.start_background()
        run, _ = await manager.start(_request(), actor="alice")
        await manager.wait_for(run.id, {"waiting_for_approval"})
        await manager.decide(run.id, "reject", "bob", "not this week")
        await manager.wait_for(run.id, {"cancelled", "failed"}, timeout=60)
        for _ in range(100):  # the sender has tried, and failed, meanwhile
            rows = await manager.store.notifications(run.id, None, 100)
            if len(rows) == 3 and all(r["attempts"] >= 1 for r in rows):
                break
            await asyncio.sleep(0.05)
        assert {r["status"] for r in rows} == {"pending"}
        assert all(r["attempts"] >= 1 and "ConnectError" in r["last_error"] for r in rows), rows
        # the process dies here (no drain, the sender's claims left behind)
    receiver.start()
    try:
        async with open_manager(tmp_path, sandbox, delivery=_webhook(receiver)) as manager:
            await manager.start_background()
            # order is not guaranteed (each item retries on its own backoff): wait for all three
            await _until(
                lambda: len(set(_types(receiver))) == 3, 60, "every notification after restart"
            )
            assert sorted(_types(receiver)) == sorted(
                ["decision.requested", "decision.made", "run.finished"]
            )
            assert len(receiver.events) == len(set(receiver.events))
            finished = next(b for b in _bodies(receiver) if b["type"] == "run.finished")
            assert finished["outcome"]["status"] == "rejected"
            assert finished["actor"] is None or finished["actor"] == "bob"
    finally:
        receiver.stop()


@pytest.mark.slow
@run_async
async def test_an_approver_gets_mail_and_a_deadline_rejects_the_plan(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    recorder = SmtpRecorder()
    smtp = start_smtp(recorder)
    rules = parse_policy(
        "[approvals.plan_approval]\nremind_after = 1\nexpire_after = 2.5\non_expire = 'reject'\n"
    )
    mail = EmailChannel(
        name="mail",
        host="127.0.0.1",
        port=smtp.port,
        starttls=False,
        sender="enigma@example.com",
        recipients=["releases@example.com"],
    )
    delivery = Delivery([mail], BASE, retry=FAST, poll_interval=0.2)
    try:
        async with open_manager(tmp_path, sandbox, rules=rules, delivery=delivery) as manager:
            await manager.start_background()
            run, _ = await manager.start(_request(), actor="alice")
            waiting = await manager.wait_for(run.id, {"waiting_for_approval"})
            stamped = waiting.pending[0].payload
            assert stamped["expire_at"] - stamped["requested_at"] == pytest.approx(2.5)
            ended = await manager.wait_for(run.id, {"cancelled", "failed"}, timeout=30)
            assert ended.outcome == "rejected"
            took = time.time() - stamped["requested_at"]
            assert 2.5 <= took < 10
            events = await manager.store.events(run.id)
            made = [e for e in events if e.type == "decision.made"]
            assert [(e.actor, e.data["action"]) for e in made] == [("deadline", "reject")]
            assert [e.type for e in events if e.type.startswith("decision.")] == [
                "decision.requested",
                "decision.reminder",
                "decision.expired",
                "decision.made",
            ]
            snapshot = await manager.graph.aget_state({"configurable": {"thread_id": run.id}})
            audit = [(a["actor"], a["action"]) for a in snapshot.values["approvals"]]
            assert audit == [("deadline", "reject")]
            subjects = await _until(
                lambda: (
                    len(recorder.messages) >= 5 and [m["Subject"] for _, _, m in recorder.messages]
                ),
                10,
                "five e-mails",
            )
            assert len(subjects) == 5, subjects
            assert recorder.messages[0][1] == ["releases@example.com"]
            first = recorder.messages[0][2]
            assert first.get_content_type() == "multipart/alternative"
            assert "2.4.0" in first["Subject"]
            ids = [m["Message-ID"] for _, _, m in recorder.messages]
            assert len(set(ids)) == 5
    finally:
        smtp.stop()


@pytest.mark.slow
@run_async
async def test_a_deadline_that_pauses_asks_again_on_resume(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    rules = parse_policy("[approvals.plan_approval]\nexpire_after = 1.5\non_expire = 'pause'\n")
    receiver = HttpReceiver(secret=SECRET).start()
    try:
        async with open_manager(
            tmp_path, sandbox, rules=rules, delivery=_webhook(receiver)
        ) as manager:
            await manager.start_background()
            run, _ = await manager.start(_request(), actor="alice")
            first = await manager.wait_for(run.id, {"waiting_for_approval"})
            paused = await manager.wait_for(run.id, {"paused"}, timeout=20)
            assert paused.pending and paused.pending[0].kind == "plan_approval"
            await manager.resume(run.id, "alice")
            again = await manager.wait_for(run.id, {"waiting_for_approval"}, timeout=30)
            before = first.pending[0].payload["requested_at"]
            assert again.pending[0].payload["requested_at"] > before  # a fresh deadline
            await manager.decide(run.id, "reject", "bob", "no")
            await manager.wait_for(run.id, {"cancelled"}, timeout=30)
            await _until(lambda: len(_types(receiver)) == 5, 10, "all five notifications")
            assert _types(receiver) == [
                "decision.requested",
                "decision.expired",
                "decision.requested",
                "decision.made",
                "run.finished",
            ]
            expired = next(b for b in _bodies(receiver) if b["type"] == "decision.expired")
            assert expired["decision"]["action"] == "pause"
    finally:
        receiver.stop()

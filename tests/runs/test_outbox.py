"""The outbox in both stores: written with the event, claimed by one sender, kept when refused."""

from __future__ import annotations

import asyncio
import time

import pytest

from enigma.notify.channels import build_notifiers
from enigma.notify.config import WebhookChannel
from enigma.notify.outbox import OutboxEntry
from enigma.notify.sender import RetryPolicy, Sender
from enigma.runs.models import EventRecord, RunRecord
from enigma.runs.notifying import StoreOutbox
from tests.notify.receivers import HttpReceiver, Reply
from tests.runs.conftest import StoreFactory, run_async

SECRET = "whsec-outbox"


def _run(run_id: str) -> RunRecord:
    now = time.time()
    return RunRecord(
        id=run_id,
        status="queued",
        fix_version=f"9.{run_id[-2:]}.0",
        release_type="minor",
        repositories=["web-app"],
        actor="alice",
        created_at=now,
        updated_at=now,
        request={},
    )


def _notify(event: EventRecord) -> list[OutboxEntry]:
    body = {
        "schema_version": 1,
        "id": f"{event.run_id}.{event.id}",
        "type": "run.finished",
        "time": "2026-11-30T10:00:00.000Z",
        "run_id": event.run_id,
        "fix_version": "9.0.0",
        "release_type": "minor",
        "repositories": ["web-app"],
        "actor": None,
        "decision": None,
        "outcome": {
            "status": "succeeded",
            "reason": "",
            "pull_requests": {},
            "notes_url": None,
            "left_out": [],
        },
        "links": {"run": "http://x/ui/#/runs/r", "api": "http://x/api/runs/r"},
    }
    return [OutboxEntry("hook", body)]


@run_async
async def test_a_claim_hides_a_row_from_other_senders_until_its_lease_ends(
    stores: StoreFactory,
) -> None:
    async with stores("w1") as one, stores("w2") as two:
        await one.create(_run("run-01"), None)
        event = await one.append_event("run-01", "run.finished", {}, notify=_notify)
        now = time.time()
        [item] = await one.outbox_due(now, 10, lease=30)
        assert item.id == f"run-01.{event.id}:hook"
        assert await two.outbox_due(now, 10, lease=30) == []
        assert [i.id for i in await two.outbox_due(now + 31, 10, lease=30)] == [item.id]
        await two.outbox_result(item.id, "delivered", 1, at=now)
        assert await one.outbox_counts() == {"delivered": 1}


@pytest.mark.slow
@run_async
async def test_two_senders_on_one_outbox_deliver_each_notification_once(
    stores: StoreFactory,
) -> None:
    receiver = HttpReceiver(secret=SECRET).start()
    # the first answers are refusals: retried rows must not go out twice either
    receiver.script("/hook", *[Reply(503)] * 5)
    channel = WebhookChannel(name="hook", url=receiver.url("/hook"), secret=SECRET)
    fast = RetryPolicy(max_attempts=20, backoff=0.05, backoff_cap=0.2)
    try:
        async with stores("w1") as one, stores("w2") as two:
            senders = [
                Sender(
                    StoreOutbox(store, lease=30),
                    build_notifiers([channel]),
                    policy=fast,
                    poll_interval=0.05,
                )
                for store in (one, two)
            ]
            for sender in senders:
                sender.start()
            for n in range(10):
                await one.create(_run(f"run-{n:02d}"), None)
                for _ in range(3):
                    await (one if n % 2 else two).append_event(
                        f"run-{n:02d}", "run.finished", {}, notify=_notify
                    )
            deadline = time.monotonic() + 30
            while (await one.outbox_counts()).get("delivered", 0) < 30:
                assert time.monotonic() < deadline, await one.outbox_counts()
                await asyncio.sleep(0.05)
            for sender in senders:
                await sender.stop()
        assert len(receiver.events) == 30
        assert len(receiver.received) == 30, "a notification went out twice"
    finally:
        receiver.stop()

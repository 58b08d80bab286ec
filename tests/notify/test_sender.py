"""The delivery engine end to end: outbox rows to real receivers, retries, giving up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr

from enigma.notify.channels import Notifier, build_notifiers, fan_out
from enigma.notify.config import ChannelConfig, WebhookChannel
from enigma.notify.errors import DeliveryError
from enigma.notify.message import Notification
from enigma.notify.outbox import OutboxEntry
from enigma.notify.sender import RetryPolicy, Sender
from tests.notify.conftest import FAST, SECRET, approval
from tests.notify.memory_outbox import MemoryOutbox
from tests.notify.receivers import DROP, HttpReceiver, Reply, free_port

pytestmark = pytest.mark.anyio


def hook(receiver: HttpReceiver, name: str = "hook") -> WebhookChannel:
    return WebhookChannel(name=name, url=receiver.url(f"/{name}"), secret=SecretStr(SECRET))


def queue(outbox: MemoryOutbox, channels: list[ChannelConfig], *ids: str) -> None:
    for event_id in ids:
        outbox.add(fan_out(approval(event_id), channels))


@asynccontextmanager
async def running(sender: Sender) -> AsyncIterator[Sender]:
    task = sender.start()
    try:
        yield sender
    finally:
        await sender.stop(grace=2)
    assert task.done()


def make_sender(outbox: MemoryOutbox, notifiers: list[Notifier], **options: object) -> Sender:
    settings: dict[str, object] = {"policy": FAST, "poll_interval": 0.05} | options
    return Sender(outbox, notifiers, **settings)  # type: ignore[arg-type]


async def test_429_retry_after_is_honoured(receiver: HttpReceiver) -> None:
    receiver.script("/hook", Reply(429, b"slow down", {"Retry-After": "1"}))
    outbox = MemoryOutbox()
    channels: list[ChannelConfig] = [hook(receiver)]
    queue(outbox, channels, "evt-429")
    async with running(make_sender(outbox, build_notifiers(channels))):
        await outbox.wait_settled()
    first, second = receiver.hits_on("/hook")
    assert second.at - first.at >= 1.0  # the backoff alone would have been ~0.02 s
    [row] = outbox.rows.values()
    assert (row.state, row.attempts) == ("delivered", 2)
    [(_, next_at)] = row.retries_at
    assert next_at - first.at >= 1.0
    assert row.errors == ["429 slow down (retryable)"]


async def test_500_then_200_delivers_once(receiver: HttpReceiver) -> None:
    receiver.script("/hook", Reply(500, b"oops"))
    outbox = MemoryOutbox()
    channels: list[ChannelConfig] = [hook(receiver)]
    queue(outbox, channels, "evt-500")
    async with running(make_sender(outbox, build_notifiers(channels))):
        await outbox.wait_settled()
    assert len(receiver.hits_on("/hook")) == 2
    assert receiver.received == ["evt-500"]
    assert outbox.rows["evt-500:hook"].state == "delivered"


async def test_400_is_undeliverable_at_once(receiver: HttpReceiver) -> None:
    receiver.script("/hook", Reply(400, b"unknown field 'decision'"))
    outbox = MemoryOutbox()
    channels: list[ChannelConfig] = [hook(receiver)]
    queue(outbox, channels, "evt-400")
    async with running(make_sender(outbox, build_notifiers(channels))):
        await outbox.wait_settled()
        await asyncio.sleep(0.15)  # a few more polls: nothing is tried again
    row = outbox.rows["evt-400:hook"]
    assert (row.state, row.attempts) == ("undeliverable", 1)
    assert row.error == "400 unknown field 'decision' (permanent)"
    assert len(receiver.hits_on("/hook")) == 1


async def test_receiver_down_then_back_gets_everything_once() -> None:
    port = free_port()
    receiver = HttpReceiver(secret=SECRET, port=port)  # not started: the port is closed
    outbox = MemoryOutbox()
    channels: list[ChannelConfig] = [hook(receiver)]
    ids = [f"evt-{i}" for i in range(8)]
    queue(outbox, channels, *ids)
    try:
        async with running(make_sender(outbox, build_notifiers(channels))):
            await outbox.wait_for(lambda: all(r.attempts >= 2 for r in outbox.rows.values()))
            assert all(r.state == "pending" for r in outbox.rows.values())
            assert "ConnectError" in next(iter(outbox.rows.values())).error
            receiver.script("/hook", DROP, DROP)  # two answers lost: the receiver sees repeats
            receiver.start()
            await outbox.wait_settled()
    finally:
        receiver.stop()
    assert set(outbox.states().values()) == {"delivered"}
    assert sorted(receiver.events) == sorted(ids)  # each event id once after de-duplication
    assert len(receiver.received) == len(ids) + 2  # at least once: the two lost answers


async def test_max_attempts_makes_it_undeliverable() -> None:
    closed = WebhookChannel(name="gone", url=f"http://127.0.0.1:{free_port()}/")
    outbox = MemoryOutbox()
    queue(outbox, [closed], "evt-max")
    policy = RetryPolicy(max_attempts=3, backoff=0.01, backoff_cap=0.02)
    async with running(make_sender(outbox, build_notifiers([closed]), policy=policy)):
        await outbox.wait_settled()
    row = outbox.rows["evt-max:gone"]
    assert (row.state, row.attempts) == ("undeliverable", 3)
    assert row.error.startswith("gave up after 3 tries: ConnectError")
    assert len(row.errors) == 3


class Broken:
    """A channel with a bug: raises something that is not a DeliveryError."""

    label = "broken"
    timeout = 1.0

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, notification: Notification) -> None:
        self.calls += 1
        raise RuntimeError("bug in the channel")

    async def aclose(self) -> None:
        pass


async def test_sender_survives_a_channel_that_raises(receiver: HttpReceiver) -> None:
    outbox = MemoryOutbox()
    good = hook(receiver)
    broken = Broken()
    for event_id in ["evt-a", "evt-b"]:
        n = approval(event_id)
        outbox.add([OutboxEntry("broken", n.to_json()), *fan_out(n, [good])])
    outbox.add([OutboxEntry("removed", approval("evt-c").to_json())])
    policy = RetryPolicy(max_attempts=3, backoff=0.01, backoff_cap=0.02)
    notifiers: list[Notifier] = [broken, *build_notifiers([good])]
    async with running(make_sender(outbox, notifiers, policy=policy)) as sender:
        await outbox.wait_settled()
        assert sender._task is not None and not sender._task.done()
    assert sorted(receiver.events) == ["evt-a", "evt-b"]
    assert broken.calls == 6
    assert outbox.rows["evt-a:broken"].error == (
        "gave up after 3 tries: unexpected RuntimeError (retryable)"
    )
    assert outbox.rows["evt-c:removed"].error == "no channel labelled 'removed' is configured"


async def test_sender_survives_an_outbox_that_fails(receiver: HttpReceiver) -> None:
    outbox = MemoryOutbox()
    outbox.fail_due = 3
    channels: list[ChannelConfig] = [hook(receiver)]
    queue(outbox, channels, "evt-db")
    async with running(make_sender(outbox, build_notifiers(channels))):
        await outbox.wait_settled()
    assert receiver.events == ["evt-db"] and outbox.fail_due == 0


async def test_wake_sends_at_once_even_from_another_thread(receiver: HttpReceiver) -> None:
    outbox = MemoryOutbox()
    channels: list[ChannelConfig] = [hook(receiver)]
    sender = make_sender(outbox, build_notifiers(channels), poll_interval=60)
    async with running(sender):
        await asyncio.sleep(0.05)  # the sender found nothing and sleeps for a minute
        queue(outbox, channels, "evt-w1")
        sender.wake()
        await outbox.wait_settled(timeout=2)
        queue(outbox, channels, "evt-w2")
        threading.Thread(target=sender.wake).start()
        await outbox.wait_settled(timeout=2)
    assert receiver.events == ["evt-w1", "evt-w2"]


class Slow:
    """A channel whose sends take a long time."""

    label = "slow"
    timeout = 30.0

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.closed = False

    async def send(self, notification: Notification) -> None:
        self.started.set()
        await asyncio.sleep(30)

    async def aclose(self) -> None:
        self.closed = True


async def test_stop_cancels_a_stuck_send_after_the_grace_period() -> None:
    outbox = MemoryOutbox(lease=60)
    slow = Slow()
    outbox.add([OutboxEntry("slow", approval("evt-slow").to_json())])
    sender = make_sender(outbox, [slow])
    task = sender.start()
    await asyncio.wait_for(slow.started.wait(), 2)
    await sender.stop(grace=0.1)
    assert task.done() and slow.closed
    row = outbox.rows["evt-slow:slow"]
    assert row.state == "pending" and row.claimed_until > 0  # comes back when the lease ends
    assert sender.max_send_seconds == 35.0


def test_backoff_grows_with_jitter_and_respects_retry_after() -> None:
    policy = RetryPolicy(backoff=10, backoff_cap=100, jitter=False)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5, 6)] == [10, 20, 40, 80, 100, 100]
    assert policy.delay(1, retry_after=55) == 55
    assert RetryPolicy(max_retry_after=60).delay(1, retry_after=10_000) == 60
    jittered = RetryPolicy(backoff=10, backoff_cap=100)
    assert all(20 <= jittered.delay(3) <= 40 for _ in range(200))


def test_error_text_names_status_and_kind() -> None:
    error = DeliveryError("no_service", retryable=False, status=404)
    assert str(error) == "404 no_service (permanent)"
    assert "retryable=False" in repr(error)

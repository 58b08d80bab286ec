"""The delivery engine: takes due outbox items, sends each through its channel, records the result.

One `Sender` per process, as an asyncio task (`start()` / `await stop()`), or `await run()`
inside a task of your own. Each pass claims up to `batch_size` due items (`Outbox.due`) and
sends them, at most `concurrency` at a time, so one slow receiver does not hold up the rest.
For each item:

- sent: `delivered`.
- `DeliveryError(retryable=True)` (429, 5xx, refused connection, timeout, SMTP 4xx): if tries
  remain, `retry_later` at now + `RetryPolicy.delay(...)`: exponential backoff with jitter,
  capped, and never sooner than the receiver's Retry-After. Otherwise `undeliverable`.
- `DeliveryError(retryable=False)` (other 4xx, SMTP 5xx, a missing secret): `undeliverable`
  at once, with the reason.
- any other exception from a channel (a bug): logged with its traceback and treated as
  retryable, so a broken channel neither stops the loop nor loses the item.
- an item whose channel is no longer configured, or whose body no longer parses:
  `undeliverable` (the configuration changed; retrying cannot help).

If the outbox itself fails (database down), the pass is logged and tried again after
`poll_interval`; items claimed by a failed pass come back when their lease expires.

Between passes the sender sleeps until `wake()` (call it after committing new outbox rows),
the earliest retry it scheduled itself, or `poll_interval` (rows written by other
processes, retries scheduled by other workers), whichever comes first.

Delivery is at least once; order is not guaranteed (a retried event can arrive after a
later one). Receivers de-duplicate on the event id and order by the event's `time`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from enigma.notify.channels import Notifier
from enigma.notify.errors import DeliveryError, clip
from enigma.notify.message import Notification
from enigma.notify.outbox import Outbox, OutboxItem

__all__ = ["RetryPolicy", "Sender"]

log = logging.getLogger("enigma.notify")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying one notification, and how far apart."""

    max_attempts: int = 10
    """Tries in all, the first included; then the item is undeliverable."""
    backoff: float = 10.0
    """Delay after the first failure, in seconds; doubles with each further failure."""
    backoff_cap: float = 1800.0
    """No backoff is longer than this."""
    max_retry_after: float = 6 * 3600.0
    """A receiver's Retry-After is honoured up to this; a longer one is cut to it."""
    jitter: bool = True
    """Spread retries so a receiver that comes back is not hit by every item at once."""

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the `attempts`-th failed try.

        "Equal jitter": between half and all of the exponential step, so the spacing still
        grows (full jitter could retry a down receiver almost at once), but never less than
        the receiver's Retry-After.
        """
        step = min(self.backoff_cap, self.backoff * 2.0 ** min(max(0, attempts - 1), 60))
        wait = step / 2 + random.uniform(0, step / 2) if self.jitter else step
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


class Sender:
    """Delivers outbox items through their channels until stopped (see the module docstring)."""

    def __init__(
        self,
        outbox: Outbox,
        notifiers: Iterable[Notifier],
        *,
        policy: RetryPolicy | None = None,
        batch_size: int = 50,
        concurrency: int = 8,
        poll_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.notifiers: dict[str, Notifier] = {}
        for notifier in notifiers:
            if notifier.label in self.notifiers:
                raise ValueError(f"two notifiers are labelled {notifier.label!r}")
            self.notifiers[notifier.label] = notifier
        self.policy = policy or RetryPolicy()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.clock = clock
        self._limit = asyncio.Semaphore(concurrency)
        self._woken = asyncio.Event()
        self._stopping = False
        self._retries: list[float] = []  # a heap of the retry times this sender scheduled
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def max_send_seconds(self) -> float:
        """The longest one send can take: the outbox lease must be longer than this."""
        return max((n.timeout for n in self.notifiers.values()), default=0.0) + 5.0

    def start(self) -> asyncio.Task[None]:
        """Run the loop as a task of the running event loop."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name="enigma-notify-sender")
        return self._task

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the sends in flight (up to `grace` seconds, then cancel them) and stop.

        A cancelled send leaves its item claimed; it is sent again after its lease expires.
        """
        self._stopping = True
        self.wake()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Look at the outbox now (new rows were committed). Safe from any thread."""
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nothing to wake
                loop.call_soon_threadsafe(self._woken.set)
        else:
            self._woken.set()

    async def run(self) -> None:
        """Deliver until `stop()`; closes the notifiers' connections on the way out."""
        self._loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                self._woken.clear()
                try:
                    claimed = await self.deliver_due()
                except Exception:  # the outbox, not a channel: keep going, the lease protects
                    log.exception("outbox: taking due notifications failed")
                    claimed = 0
                if claimed < self.batch_size:  # a full batch: more may be due right now
                    await self._idle()
        finally:
            for notifier in self.notifiers.values():
                with contextlib.suppress(Exception):
                    await notifier.aclose()

    async def deliver_due(self) -> int:
        """One pass: claim the due items and handle each; returns how many were claimed."""
        items = await self.outbox.due(self.clock(), self.batch_size)
        if items:
            await asyncio.gather(*(self._guarded(item) for item in items))
        return len(items)

    async def _idle(self) -> None:
        now = self.clock()
        while self._retries and self._retries[0] <= now:
            heapq.heappop(self._retries)
        wait = self.poll_interval
        if self._retries:
            wait = min(wait, self._retries[0] - now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), wait)

    async def _guarded(self, item: OutboxItem) -> None:
        async with self._limit:
            try:
                await self._handle(item)
            except Exception:  # recording the result failed; the lease brings the item back
                log.exception("outbox: recording the result for %s failed", item.id)

    async def _handle(self, item: OutboxItem) -> None:
        attempt = item.attempts + 1
        notifier = self.notifiers.get(item.channel)
        if notifier is None:
            reason = f"no channel labelled {item.channel!r} is configured"
            log.error("%s: %s undeliverable: %s", item.channel, item.id, reason)
            await self.outbox.undeliverable(item.id, item.attempts, reason)
            return
        try:
            notification = Notification.model_validate(item.notification)
        except ValidationError as exc:
            reason = f"malformed notification ({exc.error_count()} errors)"
            log.error("%s: %s undeliverable: %s", item.channel, item.id, reason)
            await self.outbox.undeliverable(item.id, item.attempts, reason)
            return
        try:
            await notifier.send(notification)
        except DeliveryError as error:
            await self._failed(item, notification, attempt, error)
            return
        except Exception as exc:  # a bug in a channel must not stop the loop or drop the item
            log.error(
                "%s: %s send raised %s",
                notifier.label,
                notification.id,
                type(exc).__name__,
                exc_info=True,
            )
            unexpected = DeliveryError(f"unexpected {type(exc).__name__}", retryable=True)
            await self._failed(item, notification, attempt, unexpected)
            return
        await self.outbox.delivered(item.id, attempt, self.clock())
        log.info(
            "%s: %s (%s) delivered on try %d",
            item.channel,
            notification.id,
            notification.type,
            attempt,
        )

    async def _failed(
        self, item: OutboxItem, n: Notification, attempt: int, error: DeliveryError
    ) -> None:
        reason = clip(error.describe())
        if not error.retryable or attempt >= self.policy.max_attempts:
            if error.retryable:
                reason = f"gave up after {attempt} tries: {reason}"
            log.error("%s: %s (%s) undeliverable: %s", item.channel, n.id, n.type, reason)
            await self.outbox.undeliverable(item.id, attempt, reason)
            return
        wait = self.policy.delay(attempt, error.retry_after)
        next_at = self.clock() + wait
        log.warning(
            "%s: %s (%s) try %d of %d failed: %s; next in %.1fs",
            item.channel,
            n.id,
            n.type,
            attempt,
            self.policy.max_attempts,
            reason,
            wait,
        )
        await self.outbox.retry_later(item.id, attempt, next_at, reason)
        heapq.heappush(self._retries, next_at)

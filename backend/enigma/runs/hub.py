"""The event hub: every event goes to the log first, then to the live subscribers (SSE).

`emit` appends to the store and hands the stored event (with its id) to each subscriber's
queue. A subscriber that falls behind is dropped with a `None` marker and re-reads the log
from its last id: the log, not this fan-out, is the source of truth.

`Notice`s are not events: they say something about the service itself ("database
unavailable", "recovered") to whoever is connected now, are never stored, and carry no id.
They are how SSE streams say the service is degraded while the log cannot be written.

An event that tells people something (`notifying.py`) is written with its outbox rows in one
transaction; the sender is woken once it commits.

On PostgreSQL (`ClusterHub` in cluster.py) several workers write the log; there a worker
delivers events, its own included, only in the order of the table.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from enigma.runs.metrics import Metrics
from enigma.runs.models import EventRecord
from enigma.runs.notifying import Notifications
from enigma.runs.store import NewEvent, RunStore

__all__ = ["EventHub", "Item", "Notice"]


@dataclass(frozen=True)
class Notice:
    """A word about the service to live subscribers (never stored; no event id)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


Item = EventRecord | Notice | None
"""What a subscriber's queue holds; None means "you fell behind (or we close): re-read"."""


class EventHub:
    """Appends events and fans them out to this process's subscribers."""

    def __init__(self, store: RunStore, metrics: Metrics):
        self.store = store
        self.metrics = metrics
        self.notifications: Notifications | None = None
        """What events tell people; set by the manager when channels are configured."""
        self.outbox_written: Callable[[], None] = lambda: None
        """Called after an event with notifications commits (wakes the sender)."""
        self._subscribers: set[asyncio.Queue[Item]] = set()

    async def emit(
        self,
        run_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        step: str | None = None,
        repo: str | None = None,
        actor: str | None = None,
    ) -> EventRecord:
        """Append an event (durably), with the notifications it causes, and publish it."""
        notify = None
        if self.notifications:
            notify = await self.notifications.rows_for(self.store, run_id, type, data or {}, actor)
        event = await self.store.append_event(
            run_id, type, data, step=step, repo=repo, actor=actor, notify=notify
        )
        if notify is not None:
            self.outbox_written()
        self.metrics.events.labels(type).inc()
        self.published(event)
        return event

    async def emit_burst(
        self, run_id: str, events: list[NewEvent], fields: dict[str, Any]
    ) -> list[EventRecord]:
        """Append a burst of one run's step events (they notify no one) with changes to its
        row, in one write where the store can, and publish them in order."""
        records = await self.store.append_events(run_id, events, fields)
        for event in records:
            self.metrics.events.labels(event.type).inc()
            self.published(event)
        return records

    def published(self, event: EventRecord) -> None:
        """An event is in the log: deliver it here (the cluster hub orders deliveries)."""
        self.deliver(event)

    def deliver(self, item: EventRecord | Notice) -> None:
        """Put an item into every subscriber's queue; drop the ones that fell behind."""
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                self._subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)

    def announce(self, type: str, **data: Any) -> None:
        """Tell live subscribers something about the service (not stored)."""
        self.deliver(Notice(type, data))

    @contextlib.asynccontextmanager
    async def subscribe(self, maxsize: int = 10_000) -> AsyncIterator[asyncio.Queue[Item]]:
        """Live items from now on."""
        queue: asyncio.Queue[Item] = asyncio.Queue(maxsize)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def close(self) -> None:
        """Tell every subscriber to stop (they re-read, see the service closing, and end)."""
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    async def start(self) -> None:
        """Nothing to start here (the cluster hub starts its listener)."""

    async def stop(self) -> None:
        """Nothing to stop here."""

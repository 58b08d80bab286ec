"""An in-memory `Outbox` with the contract the real ones keep: claims with a lease, final states.

For the sender's tests only; the run store's SQLite and PostgreSQL outboxes are the real ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from enigma.notify.outbox import OutboxEntry, OutboxItem


@dataclass
class Row:
    """One outbox row and everything that happened to it."""

    id: str
    channel: str
    notification: dict[str, Any]
    created_at: float
    next_at: float
    attempts: int = 0
    state: str = "pending"  # pending | delivered | undeliverable
    claimed_until: float = 0.0
    error: str = ""
    errors: list[str] = field(default_factory=list)
    retries_at: list[tuple[float, float]] = field(default_factory=list)
    """(when the retry was scheduled, next_at) for each retry_later."""


class MemoryOutbox:
    """Rows in a dict; `due` claims like `FOR UPDATE SKIP LOCKED` plus a lease would."""

    def __init__(self, lease: float = 30.0) -> None:
        self.lease = lease
        self.rows: dict[str, Row] = {}
        self.fail_due = 0
        """Make the next this-many `due` calls raise (a database that is down)."""

    def add(self, entries: list[OutboxEntry], now: float | None = None) -> None:
        """Write the rows of one event, as the run store does in the event's transaction."""
        at = time.time() if now is None else now
        for entry in entries:
            self.rows.setdefault(
                entry.key, Row(entry.key, entry.channel, entry.notification, at, at)
            )

    async def due(self, now: float, limit: int) -> list[OutboxItem]:
        if self.fail_due:
            self.fail_due -= 1
            raise ConnectionError("outbox database is down")
        ready = sorted(
            (
                r
                for r in self.rows.values()
                if r.state == "pending" and r.next_at <= now and r.claimed_until <= now
            ),
            key=lambda r: (r.created_at, r.id),
        )[:limit]
        for row in ready:
            row.claimed_until = now + self.lease
        return [
            OutboxItem(r.id, r.channel, r.notification, r.attempts, r.created_at) for r in ready
        ]

    async def delivered(self, item_id: str, attempts: int, at: float) -> None:
        self._final(item_id, attempts, "delivered")

    async def retry_later(self, item_id: str, attempts: int, next_at: float, error: str) -> None:
        row = self.rows[item_id]
        row.attempts, row.next_at, row.claimed_until = attempts, next_at, 0.0
        row.error = error
        row.errors.append(error)
        row.retries_at.append((time.time(), next_at))

    async def undeliverable(self, item_id: str, attempts: int, error: str) -> None:
        self._final(item_id, attempts, "undeliverable")
        self.rows[item_id].error = error
        self.rows[item_id].errors.append(error)

    def _final(self, item_id: str, attempts: int, state: str) -> None:
        row = self.rows[item_id]
        assert row.state == "pending", f"{item_id} was already {row.state}"
        row.attempts, row.state, row.claimed_until = attempts, state, 0.0

    def states(self) -> dict[str, str]:
        """Row id -> state."""
        return {r.id: r.state for r in self.rows.values()}

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Return once `condition()` holds; fail the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; outbox is {self.states()}")
            await asyncio.sleep(0.01)

    async def wait_settled(self, timeout: float = 10.0) -> None:
        """Until no row is pending."""
        await self.wait_for(lambda: all(r.state != "pending" for r in self.rows.values()), timeout)

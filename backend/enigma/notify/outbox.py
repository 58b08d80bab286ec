"""The outbox: what the run store implements so the sender can deliver notifications.

Write side (run store, in the transaction that records the event): one row per entry of
`channels.fan_out(notification, channels)`, keyed by `OutboxEntry.key` (event id and channel
label) and inserted with "on conflict do nothing", so re-recording an event never queues it
twice. A new row is due at once (`next_at` = now, `attempts` = 0); call `Sender.wake()` after
the commit so it goes out without waiting for the next poll.

Read side (`Outbox`, used only by the sender):

- `due(now, limit)` *claims* up to `limit` rows that are pending and whose `next_at <= now`
  and whose claim (if any) has expired, oldest first, and returns them. Claiming sets a lease
  (`claimed_until = now + lease`) so no other worker returns the same row until the lease runs
  out. PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` then the `UPDATE` in one transaction;
  SQLite: one `UPDATE … RETURNING` (or a write transaction). The lease must be longer than
  one send takes: `Sender.max_send_seconds` (the largest channel timeout plus slack) is the
  lower bound. A worker that dies holding a claim leaves the row to come back when the lease
  expires: that is the at-least-once half of the contract.
- `delivered`, `retry_later`, `undeliverable` end the claim and record the result. Each is
  called at most once per claimed item. `retry_later` makes the row pending again from
  `next_at`. `delivered` and `undeliverable` are final: the row is never due again.
- Errors are plain text, already free of secrets, at most a few hundred characters.

Nothing here is transactional with the send itself: a crash after the receiver accepted and
before `delivered` is written sends the notification again. Receivers de-duplicate on the
event id (`X-Enigma-Event-Id`, the JSON `id`, the e-mail's `Message-ID`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

__all__ = ["Outbox", "OutboxEntry", "OutboxItem", "outbox_key"]


def outbox_key(event_id: str, channel: str) -> str:
    """The outbox row id for one event on one channel (stable, so inserts are idempotent)."""
    return f"{event_id}:{channel}"


class OutboxEntry(NamedTuple):
    """A row to write: which channel (its label) gets which notification (plain JSON)."""

    channel: str
    notification: dict[str, Any]

    @property
    def key(self) -> str:
        """The row id: `outbox_key(event id, channel)`."""
        return outbox_key(str(self.notification["id"]), self.channel)


@dataclass(frozen=True)
class OutboxItem:
    """A claimed row, as `Outbox.due` returns it."""

    id: str
    """The row id (`OutboxEntry.key`)."""
    channel: str
    """The channel's label (`ChannelConfig.label`)."""
    notification: dict[str, Any]
    """`Notification.to_json()` as written."""
    attempts: int
    """Sends tried so far (0 for a new row)."""
    created_at: float
    """When the row was written (epoch seconds)."""


class Outbox(Protocol):
    """The run store's outbox, as the sender uses it (see the module docstring)."""

    async def due(self, now: float, limit: int) -> list[OutboxItem]:
        """Claim and return up to `limit` items due at `now`, oldest first."""
        ...

    async def delivered(self, item_id: str, attempts: int, at: float) -> None:
        """The channel took it on try `attempts`; final."""
        ...

    async def retry_later(self, item_id: str, attempts: int, next_at: float, error: str) -> None:
        """Try `attempts` failed with `error`; due again from `next_at`."""
        ...

    async def undeliverable(self, item_id: str, attempts: int, error: str) -> None:
        """Given up after `attempts` tries (a permanent error or too many tries); final."""
        ...

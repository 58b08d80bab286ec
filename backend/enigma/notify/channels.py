"""From channel settings to live notifiers, and which channels an event goes to.

A `Notifier` is what the sender talks to: a label and an async `send`. The settings
(`config.py`) say where; `build_notifiers` makes one notifier per channel. The outbox names a
channel by its label, so labels must be unique: two unnamed webhooks are both "webhook" and
one of them needs a `name`.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import httpx

from enigma.notify.config import ChannelConfig, EmailChannel, SlackChannel, WebhookChannel
from enigma.notify.message import Notification
from enigma.notify.outbox import OutboxEntry
from enigma.notify.slack import SlackNotifier
from enigma.notify.smtp import EmailNotifier
from enigma.notify.webhook import WebhookNotifier

__all__ = ["Notifier", "build_notifier", "build_notifiers", "check_labels", "fan_out"]


class Notifier(Protocol):
    """One channel, ready to send. Raises `DeliveryError` when a send does not go through."""

    label: str
    """The channel's label: what outbox rows name it by."""
    timeout: float
    """The longest one send may take, in seconds."""

    async def send(self, notification: Notification) -> None:
        """Deliver `notification` or raise `DeliveryError`."""
        ...

    async def aclose(self) -> None:
        """Release connections; the notifier may be used again afterwards."""
        ...


def check_labels(channels: Sequence[ChannelConfig]) -> None:
    """Raise ValueError if two channels share a label (the outbox could not tell them apart)."""
    repeated = sorted(label for label, n in Counter(c.label for c in channels).items() if n > 1)
    if repeated:
        raise ValueError(
            f"notification channels need distinct names; repeated: {', '.join(repeated)}"
            " (give each channel a `name`)"
        )


def fan_out(notification: Notification, channels: Sequence[ChannelConfig]) -> list[OutboxEntry]:
    """The outbox rows for `notification`: one per channel that wants its event type."""
    check_labels(channels)
    body = notification.to_json()
    return [OutboxEntry(c.label, body) for c in channels if notification.type in c.events]


def build_notifier(
    config: ChannelConfig,
    *,
    client: httpx.AsyncClient | None = None,
    http_timeout: float = 10.0,
    smtp_timeout: float = 30.0,
    tls_context: ssl.SSLContext | None = None,
) -> Notifier:
    """The notifier for one channel. `client`: a shared httpx client for the HTTP channels;
    `tls_context`: for STARTTLS (None: the default context, which verifies certificates)."""
    if isinstance(config, WebhookChannel):
        return WebhookNotifier(config, client=client, timeout=http_timeout)
    if isinstance(config, SlackChannel):
        return SlackNotifier(config, client=client, timeout=http_timeout)
    if isinstance(config, EmailChannel):
        return EmailNotifier(config, timeout=smtp_timeout, tls_context=tls_context)
    raise TypeError(f"unknown channel type {type(config).__name__}")


def build_notifiers(
    channels: Sequence[ChannelConfig],
    *,
    client: httpx.AsyncClient | None = None,
    http_timeout: float = 10.0,
    smtp_timeout: float = 30.0,
    tls_context: ssl.SSLContext | None = None,
) -> list[Notifier]:
    """One notifier per channel, after checking that their labels are distinct."""
    check_labels(channels)
    return [
        build_notifier(
            c,
            client=client,
            http_timeout=http_timeout,
            smtp_timeout=smtp_timeout,
            tls_context=tls_context,
        )
        for c in channels
    ]

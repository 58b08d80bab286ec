"""Slack incoming webhooks: a Block Kit message with an "Open in Enigma" button.

The message (`slack_message`) has a `text` fallback (notifications, screen readers) and
blocks: a header, a section with the summary, a section of up to ten fields (version,
repositories, decision or outcome, …), a context line with the event type, time and id, and
an `actions` block whose one button links to the run page. The button is a plain URL button:
Slack opens the link and needs no interactivity endpoint.

Every text is escaped for Slack (`&`, `<`, `>` become entities; Slack treats them as control
characters in text objects), and cut to Block Kit's length limits so Slack never rejects a
long reason with `invalid_blocks`.

The incoming-webhook URL is a credential: it is unwrapped only to make the request, hidden
from httpx's request log and scrubbed from error messages. Slack answers 200 "ok"; 429 with
Retry-After; 4xx such as 404 `no_service` (the app or channel is gone) are permanent.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from enigma.notify.config import SlackChannel
from enigma.notify.errors import DeliveryError
from enigma.notify.http import HttpNotifier, hide_in_httpx_log, post, secret_parts
from enigma.notify.message import Notification
from enigma.notify.text import facts, headline, subject, summary

__all__ = ["SlackNotifier", "escape", "slack_message"]

log = logging.getLogger("enigma.notify")

# Block Kit limits (characters, items) that Slack enforces by refusing the whole message.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELD_MAX = 2000
_FIELDS_MAX = 10
_BUTTON_MAX = 75


def escape(text: str) -> str:
    """`text` with Slack's three control characters as HTML entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(kind: str, text: str, limit: int) -> dict[str, Any]:
    # Cut before escaping would be wrong: an entity could be split; cut the escaped text
    # and then drop a dangling partial entity.
    escaped = _cut(escape(text), limit)
    amp = escaped.rfind("&", max(0, len(escaped) - 6))
    if amp != -1 and ";" not in escaped[amp:]:
        escaped = escaped[:amp] + "…"
    return {"type": kind, "text": escaped}


def slack_message(n: Notification) -> dict[str, Any]:
    """The incoming-webhook payload for `n`: fallback text plus Block Kit blocks."""
    fields = [_text("mrkdwn", f"*{label}*\n{value}", _FIELD_MAX) for label, value in facts(n)][
        :_FIELDS_MAX
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _text("plain_text", headline(n), _HEADER_MAX)},
    ]
    if summary(n):
        blocks.append({"type": "section", "text": _text("mrkdwn", summary(n), _SECTION_MAX)})
    blocks += [
        {"type": "section", "fields": fields},
        {
            "type": "context",
            "elements": [_text("mrkdwn", f"{n.type} · {n.time} · event {n.id}", _SECTION_MAX)],
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": _text("plain_text", "Open in Enigma", _BUTTON_MAX),
                    "url": n.links.run,
                    "action_id": "open_run",
                }
            ],
        },
    ]
    return {"text": escape(subject(n)), "blocks": blocks}


class SlackNotifier(HttpNotifier):
    """Sends notifications to one `SlackChannel` (an incoming webhook)."""

    def __init__(
        self,
        config: SlackChannel,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(client=client, timeout=timeout)
        self.config = config
        self.label = config.label

    def __repr__(self) -> str:
        return f"SlackNotifier({self.label!r})"

    async def send(self, notification: Notification) -> None:
        """POST the Block Kit message; raise `DeliveryError` unless Slack took it."""
        url = self.config.url()
        if url is None:
            raise DeliveryError(
                f"environment variable {self.config.webhook_url_env} (the Slack webhook URL)"
                " is not set",
                retryable=False,
            )
        hide_in_httpx_log(url)
        body = json.dumps(slack_message(notification), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        await post(
            self.client(),
            url.get_secret_value(),
            body,
            headers,
            timeout=self.timeout,
            hide=secret_parts(url),
        )
        log.debug("%s: %s accepted by Slack", self.label, notification.id)

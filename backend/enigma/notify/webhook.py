"""Generic webhooks: the notification's JSON POSTed as is, signed with HMAC-SHA256.

What a receiver gets::

    POST <url>
    Content-Type: application/json
    User-Agent: Enigma-Notifier
    X-Enigma-Event-Id: <notification id>      (act on each id once: delivery is at least once)
    X-Enigma-Event: decision.requested
    X-Enigma-Signature: sha256=<hex HMAC-SHA256 of the raw body with the shared secret>

    {"schema_version":1,"id":"…",…}              (compact UTF-8 JSON, see message.py)

The signature covers the exact bytes sent, so a receiver must verify before parsing
(`verify_signature` below does it in constant time). Without a secret the header is left
out. A channel that names its secret by environment variable (`secret_env`) and finds that
variable unset refuses to send rather than post unsigned: its receiver expects a signature.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

import httpx
from pydantic import SecretStr

from enigma.notify.config import WebhookChannel
from enigma.notify.errors import DeliveryError
from enigma.notify.http import HttpNotifier, post
from enigma.notify.message import Notification

__all__ = [
    "EVENT_HEADER",
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "WebhookNotifier",
    "sign",
    "verify_signature",
]

EVENT_ID_HEADER = "X-Enigma-Event-Id"
EVENT_HEADER = "X-Enigma-Event"
SIGNATURE_HEADER = "X-Enigma-Signature"
_PREFIX = "sha256="

log = logging.getLogger("enigma.notify")


def _key(secret: SecretStr | str | bytes) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: SecretStr | str | bytes, body: bytes) -> str:
    """The `X-Enigma-Signature` value for `body`: "sha256=" + hex HMAC-SHA256."""
    return _PREFIX + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify_signature(secret: SecretStr | str | bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of the raw `body` with `secret` (constant time)."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


class WebhookNotifier(HttpNotifier):
    """Sends notifications to one `WebhookChannel`."""

    def __init__(
        self,
        config: WebhookChannel,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(client=client, timeout=timeout)
        self.config = config
        self.label = config.label

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.label!r}, {self.config.url!r})"

    async def send(self, notification: Notification) -> None:
        """POST the signed notification; raise `DeliveryError` unless the receiver took it."""
        body = notification.body()
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: notification.id,
            EVENT_HEADER: notification.type,
        }
        secret = self.config.signing_secret()
        if secret is None and self.config.secret_env:
            raise DeliveryError(
                f"environment variable {self.config.secret_env} (the signing secret) is not set;"
                " not sending unsigned",
                retryable=False,
            )
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        response = await post(self.client(), self.config.url, body, headers, timeout=self.timeout)
        log.debug("%s: %s answered %d", self.label, notification.id, response.status_code)

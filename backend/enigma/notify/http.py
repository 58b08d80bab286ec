"""The one HTTP choke point of the webhook and Slack channels: one POST, its status mapped.

Rules (one try per call; the sender schedules the next one through the outbox):

- 2xx: delivered.
- Retryable: connection errors, timeouts, HTTP 408, 429 and every 5xx. A `Retry-After`
  (delta-seconds or an HTTP date) on any of them is passed on as `retry_after`.
- Permanent: every other status, 3xx included (redirects are not followed: a signed body
  should reach the URL the operator configured or nobody), and a URL httpx cannot use.
- Timeouts: `timeout` bounds the whole call, connect to last byte, not each read.

httpx logs every request URL at INFO on the `httpx` logger. A Slack incoming-webhook URL is a
credential, so `hide_in_httpx_log` registers it with a filter on that logger that rewrites
those records; error messages are scrubbed of the same values before they leave this module.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from enigma.notify.errors import DeliveryError, scrub

__all__ = ["USER_AGENT", "HttpNotifier", "error_for_status", "parse_retry_after", "post"]

USER_AGENT = "Enigma-Notifier"
_RETRYABLE_STATUSES = frozenset({408, 429})


class HttpNotifier:
    """Base of the HTTP channels: owns an `httpx.AsyncClient` unless one is handed in."""

    def __init__(self, *, client: httpx.AsyncClient | None, timeout: float) -> None:
        self.timeout = timeout
        self._client = client
        self._owns_client = client is None

    def client(self) -> httpx.AsyncClient:
        """The shared client, made on first use (inside the running event loop)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False, timeout=self.timeout, headers={"User-Agent": USER_AGENT}
            )
        return self._client

    async def aclose(self) -> None:
        """Close the client if this notifier made it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    hide: tuple[str, ...] = (),
) -> httpx.Response:
    """POST `body`; return the 2xx response or raise `DeliveryError` (see the module rules).

    `hide` lists secret values (a credential URL and its path) that must not appear in the
    error message even if the transport or the receiver echoes them.
    """
    try:
        async with asyncio.timeout(timeout):
            response = await client.post(
                url, content=body, headers={"User-Agent": USER_AGENT, **headers}, timeout=timeout
            )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        # Only a URL unchecked until now (Slack's, a secret) gets here; never echo it.
        raise DeliveryError("the URL is not a valid http(s) URL", retryable=False) from None
    except (TimeoutError, httpx.TimeoutException):
        raise DeliveryError(f"no answer within {timeout:g}s", retryable=True) from None
    except httpx.TransportError as exc:
        # Raised `from None`: the chained exception carries the request, URL included.
        message = scrub(f"{type(exc).__name__}: {exc}", hide)
        raise DeliveryError(message, retryable=True) from None
    if 200 <= response.status_code < 300:
        return response
    raise error_for_status(response.status_code, response.headers, scrub(response.text, hide))


def error_for_status(status: int, headers: Mapping[str, str], text: str) -> DeliveryError:
    """The `DeliveryError` for a non-2xx answer: retryable or not, with its Retry-After."""
    if 300 <= status < 400:
        return DeliveryError("redirect not followed", retryable=False, status=status)
    retryable = status >= 500 or status in _RETRYABLE_STATUSES
    retry_after = parse_retry_after(headers.get("retry-after")) if retryable else None
    return DeliveryError(
        text.strip() or f"HTTP {status}",
        retryable=retryable,
        retry_after=retry_after,
        status=status,
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad.

    Our own small copy rather than `integrations.http`'s: importing that module loads the
    Jira, GitHub and Confluence clients, which a notifier has no use for.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def secret_parts(url: SecretStr) -> tuple[str, ...]:
    """What of a credential URL must never be shown: the URL and its path (its token)."""
    raw = url.get_secret_value()
    path = urlsplit(raw).path
    return (raw, path) if len(path) > 1 else (raw,)


class _HideSecretUrls(logging.Filter):
    """Rewrites `httpx` log records that would print a credential URL."""

    def __init__(self) -> None:
        super().__init__()
        self._watched: set[SecretStr] = set()

    def watch(self, url: SecretStr) -> None:
        self._watched.add(url)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._watched:
            return True
        text = record.getMessage()
        hidden = scrub(text, (part for url in self._watched for part in secret_parts(url)))
        if hidden != text:
            record.msg, record.args = hidden, None
        return True


_httpx_filter = _HideSecretUrls()
logging.getLogger("httpx").addFilter(_httpx_filter)


def hide_in_httpx_log(url: SecretStr) -> None:
    """Keep `url` (still wrapped) so httpx's request log lines show `***` in its place."""
    _httpx_filter.watch(url)

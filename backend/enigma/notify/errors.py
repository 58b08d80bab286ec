"""The one error a notification channel raises, and what it tells the sender to do next.

Every channel maps whatever went wrong (an HTTP status, a refused connection, an SMTP reply)
onto `DeliveryError`, so the sender decides retry or give up from one flag and never sees a
client library's exception. Messages are written for the delivery log: they name the status
and the receiver's answer, never a URL that is itself a credential, a password or a header.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DeliveryError", "clip", "scrub"]

_MAX_MESSAGE = 300


class DeliveryError(Exception):
    """A notification did not reach its channel; `retryable` says whether trying later may help."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        self.message = clip(message)
        self.retryable = retryable
        self.retry_after = retry_after
        """Seconds the receiver asked us to wait (HTTP Retry-After); None if it did not say."""
        self.status = status
        """The HTTP status or SMTP reply code, when there was one."""
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line for the log and the outbox: status, message, retryable or not."""
        status = f"{self.status} " if self.status is not None else ""
        kind = "retryable" if self.retryable else "permanent"
        return f"{status}{self.message} ({kind})"

    def __repr__(self) -> str:
        return (
            f"DeliveryError({self.message!r}, retryable={self.retryable}, "
            f"retry_after={self.retry_after}, status={self.status})"
        )


def clip(text: str, limit: int = _MAX_MESSAGE) -> str:
    """`text` on one line, at most `limit` characters (a receiver may answer with a page)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret in `secrets` replaced by `***` (empty ones ignored)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text

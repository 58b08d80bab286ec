"""E-mail over SMTP: multipart/alternative (plain text and HTML), one message per event.

`Message-ID` is derived from the event id, so a mail system or a person's filter can drop a
repeat (delivery is at least once); `Date` is the event's time, so a repeat is the same
message byte for byte apart from transport headers. `Auto-Submitted: auto-generated` keeps
vacation responders quiet (RFC 3834).

Connection: STARTTLS when the channel says so (the default SSL context, which verifies the
server's certificate; tests hand in a context that trusts their own), then LOGIN when a
username is set. The password is unwrapped only for the `login` call.

Reply mapping: 4xx replies, refused or dropped connections and timeouts are retryable;
5xx replies (authentication failed, recipient unknown, message refused), a server without
STARTTLS when it is required and certificate errors are permanent. When some recipients are
refused and others accepted, the message counts as delivered (a retry would repeat it to
those who got it) and the refused addresses are logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import re
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from enigma.notify.config import EmailChannel
from enigma.notify.errors import DeliveryError
from enigma.notify.message import Notification
from enigma.notify.text import body, facts, headline, subject, summary

__all__ = ["EmailNotifier", "email_message", "message_id"]

log = logging.getLogger("enigma.notify")

_ATOM = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def message_id(event_id: str, domain: str) -> str:
    """`<enigma.{id}@{domain}>`; ids that are not a plain dot-atom are hashed first."""
    token = event_id if _ATOM.match(event_id) else hashlib.sha256(event_id.encode()).hexdigest()
    return f"<enigma.{token}@{domain}>"


def email_message(n: Notification, sender: str, recipients: list[str]) -> EmailMessage:
    """The message for `n`: headers, a text/plain part and its text/html alternative."""
    message = EmailMessage()
    message["Subject"] = subject(n)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.fromisoformat(n.time))
    message["Message-ID"] = message_id(n.id, sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"
    message["X-Enigma-Event-Id"] = n.id
    message["X-Enigma-Event"] = n.type
    message.set_content(body(n))
    message.add_alternative(_html(n), subtype="html")
    return message


def _html(n: Notification) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th align='left' valign='top'>{e(label)}</th>"
        f"<td>{e(value).replace(chr(10), '<br>')}</td></tr>"
        for label, value in facts(n)
    )
    intro = f"<p>{e(summary(n))}</p>" if summary(n) else ""
    return (
        "<!DOCTYPE html><html><body>"
        f"<h2>{e(headline(n))}</h2>{intro}<table cellpadding='4'>{rows}</table>"
        f"<p><a href='{e(n.links.run, quote=True)}'>Open in Enigma</a></p>"
        f"<p style='color:#666;font-size:small'>Event {e(n.id)} ({e(n.type)}, {e(n.time)})</p>"
        "</body></html>"
    )


class EmailNotifier:
    """Sends notifications to the recipients of one `EmailChannel`."""

    def __init__(
        self,
        config: EmailChannel,
        *,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.label = config.label
        self.timeout = timeout
        self.tls_context = tls_context

    def __repr__(self) -> str:
        return f"EmailNotifier({self.label!r}, {self.config.host}:{self.config.port})"

    async def aclose(self) -> None:
        """Nothing to close: each send opens and quits its own connection."""

    async def send(self, notification: Notification) -> None:
        """Send one e-mail; raise `DeliveryError` unless the server accepted it."""
        cfg = self.config
        password = cfg.login_password()
        if cfg.username and password is None:
            where = f"environment variable {cfg.password_env}" if cfg.password_env else "password"
            raise DeliveryError(f"{where} for SMTP user {cfg.username} is not set", retryable=False)
        message = email_message(notification, cfg.sender, list(cfg.recipients))
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            timeout=self.timeout,
            start_tls=cfg.starttls,
            tls_context=self.tls_context if cfg.starttls else None,
        )
        try:
            async with asyncio.timeout(self.timeout):
                await smtp.connect()
                if cfg.username and password is not None:
                    await smtp.login(cfg.username, password.get_secret_value())
                refused, _ = await smtp.send_message(message)
        except Exception as exc:
            smtp.close()
            raise _delivery_error(exc, self.timeout) from None
        except asyncio.CancelledError:  # the sender is stopping: leave no socket behind
            smtp.close()
            raise
        await _quit(smtp)
        if refused:
            log.warning(
                "%s: %s refused by the server for %s",
                self.label,
                notification.id,
                ", ".join(f"{addr} ({r.code})" for addr, r in sorted(refused.items())),
            )
        log.debug("%s: %s accepted by %s", self.label, notification.id, cfg.host)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    """Say goodbye; the message is already accepted, so a failure here changes nothing."""
    try:
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        smtp.close()


def _delivery_error(exc: BaseException, timeout: float) -> DeliveryError:
    """Our error for what aiosmtplib (or the socket under it) raised."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        retry = all(400 <= code < 500 for code in codes)
        return DeliveryError(
            f"every recipient refused: {detail}", retryable=retry, status=max(codes, default=None)
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        retry = 400 <= exc.code < 500
        return DeliveryError(
            f"{type(exc).__name__}: {exc.message}", retryable=retry, status=exc.code
        )
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return DeliveryError(f"no answer within {timeout:g}s", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
        return DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(f"TLS certificate not trusted: {exc.verify_message}", retryable=False)
    if isinstance(exc, OSError):  # refused, reset, unreachable; other TLS failures
        return DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPException):  # STARTTLS or AUTH not offered, and the like
        return DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False)
    return DeliveryError(f"unexpected {type(exc).__name__}: {exc}", retryable=True)

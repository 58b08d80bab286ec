"""Secrets (signing secret, Slack webhook URL, SMTP password) stay out of logs and reprs."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from enigma.notify.channels import build_notifiers, fan_out
from enigma.notify.config import ChannelConfig, EmailChannel, SlackChannel, WebhookChannel
from enigma.notify.errors import DeliveryError
from enigma.notify.sender import Sender
from tests.notify.conftest import FAST, SECRET, approval, finished
from tests.notify.memory_outbox import MemoryOutbox
from tests.notify.receivers import (
    HttpReceiver,
    Reply,
    SmtpRecorder,
    password_authenticator,
    start_smtp,
)

pytestmark = pytest.mark.anyio

SLACK_TOKEN = "T0SECRET/B0SECRET/slackhooktoken42"
PASSWORD = "smtp-password-do-not-log"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_no_secret_in_logs_errors_or_reprs(
    receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = SmtpRecorder()
    smtp = start_smtp(
        recorder,
        auth_required=True,
        auth_require_tls=False,
        authenticator=password_authenticator("enigma", "the-real-one"),
    )
    slack_path = f"/slack/{SLACK_TOKEN}"
    receiver.script("/hook", Reply(500, b"oops"))
    receiver.script(slack_path, Reply(500, b"rollup_error"), Reply(404, b"no_service"))
    channels: list[ChannelConfig] = [
        WebhookChannel(name="hook", url=receiver.url("/hook"), secret=SecretStr(SECRET)),
        SlackChannel(name="slack", webhook_url=SecretStr(receiver.url(slack_path))),
        EmailChannel(
            name="mail",
            host="127.0.0.1",
            port=smtp.port,
            username="enigma",
            password=SecretStr(PASSWORD),  # wrong: the server refuses it with 535
            sender="enigma@acme.test",
            recipients=["rm@acme.test"],
        ),
    ]
    outbox = MemoryOutbox()
    notifications = [approval("evt-s1"), finished("evt-s2")]
    for n in notifications:
        outbox.add(fan_out(n, channels))
    notifiers = build_notifiers(channels)
    sender = Sender(outbox, notifiers, policy=FAST, poll_interval=0.05)
    try:
        sender.start()
        await outbox.wait_settled()
        await sender.stop()
    finally:
        smtp.stop()

    states = outbox.states()
    assert states["evt-s1:hook"] == states["evt-s2:hook"] == "delivered"
    assert sorted([states["evt-s1:slack"], states["evt-s2:slack"]]) == [
        "delivered",
        "undeliverable",
    ]
    assert outbox.rows["evt-s1:mail"].error.startswith("535 SMTPAuthenticationError")
    assert any("***" in r.getMessage() for r in caplog.records if r.name == "httpx")

    errors = [e for row in outbox.rows.values() for e in row.errors]
    things = [
        caplog.text,
        *errors,
        *(repr(c) for c in channels),
        *(str(c) for c in channels),
        *(repr(n) for n in notifiers),
        *(n.model_dump_json() for n in notifications),
        repr(sender.notifiers),
        repr(DeliveryError("x", retryable=True)),
    ]
    for secret in (SECRET, SLACK_TOKEN, "slackhooktoken42", PASSWORD):
        leaks = [thing for thing in things if secret in thing]
        assert leaks == [], f"{secret!r} leaked"

"""The e-mail channel against aiosmtpd: the message, STARTTLS, login, and reply mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from enigma.notify.config import EmailChannel
from enigma.notify.errors import DeliveryError
from enigma.notify.smtp import EmailNotifier, message_id
from tests.notify.conftest import BASE_URL, approval, finished
from tests.notify.receivers import (
    SmtpRecorder,
    free_port,
    password_authenticator,
    self_signed,
    start_smtp,
)

pytestmark = pytest.mark.anyio

PASSWORD = "smtp-pass-Q8r2"


def channel(port: int, **settings: object) -> EmailChannel:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "enigma@acme.test",
        "recipients": ["rm@acme.test", "qa@acme.test"],
    }
    return EmailChannel.model_validate(values | settings)


async def test_multipart_message_with_stable_message_id(smtp: tuple[SmtpRecorder, int]) -> None:
    recorder, port = smtp
    await EmailNotifier(channel(port)).send(finished("evt-m1"))
    [(sender, recipients, message)] = recorder.messages
    assert sender == "enigma@acme.test" and recipients == ["rm@acme.test", "qa@acme.test"]
    assert message["Subject"].startswith("Enigma: 2.4.0 was partly released (acme/payments-api")
    assert message["Message-ID"] == "<enigma.evt-m1@acme.test>"
    assert message["Date"] == "Sun, 01 Mar 2026 10:30:00 +0000"
    assert message["To"] == "rm@acme.test, qa@acme.test"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    assert "Left out: ENG-106, acme/auth" in plain.get_content()
    html = rich.get_content()
    assert "&lt;ENG-106&gt; &amp; a failed check" in html  # escaped, never raw markup
    assert f"href='{BASE_URL}/ui/#/runs/run-42'" in html


def test_message_id_hashes_ids_that_are_not_an_atom() -> None:
    assert message_id("run-1.evt-7", "x.test") == "<enigma.run-1.evt-7@x.test>"
    odd = message_id("run 1/evt:7", "x.test")
    assert odd == message_id("run 1/evt:7", "x.test") and " " not in odd and len(odd) > 64


async def test_starttls_and_login(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    recorder = SmtpRecorder()
    controller = start_smtp(
        recorder,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=password_authenticator("enigma", PASSWORD),
    )
    try:
        config = channel(
            controller.port, starttls=True, username="enigma", password=SecretStr(PASSWORD)
        )
        await EmailNotifier(config, tls_context=client_tls).send(approval("evt-tls"))
        assert [m["Message-ID"] for _, _, m in recorder.messages] == ["<enigma.evt-tls@acme.test>"]

        # The default context does not trust a self-signed certificate: permanent, not retried.
        with pytest.raises(DeliveryError) as untrusted:
            await EmailNotifier(config).send(approval("evt-x"))
        assert not untrusted.value.retryable and "certificate" in untrusted.value.message

        # Without STARTTLS this server refuses everything.
        with pytest.raises(DeliveryError) as plain:
            await EmailNotifier(channel(controller.port)).send(approval("evt-y"))
        assert plain.value.status == 530 and not plain.value.retryable
    finally:
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_login_on_a_plain_server() -> None:
    recorder = SmtpRecorder()
    controller = start_smtp(
        recorder,
        auth_required=True,
        auth_require_tls=False,
        authenticator=password_authenticator("enigma", PASSWORD),
    )
    try:
        good = channel(controller.port, username="enigma", password=SecretStr(PASSWORD))
        await EmailNotifier(good).send(approval("evt-auth"))
        assert len(recorder.messages) == 1
        bad = channel(controller.port, username="enigma", password=SecretStr("wrong"))
        with pytest.raises(DeliveryError) as caught:
            await EmailNotifier(bad).send(approval("evt-bad"))
        assert caught.value.status == 535 and not caught.value.retryable
        missing = channel(controller.port, username="enigma", password_env="ENIGMA_TEST_NO_PW")
        with pytest.raises(DeliveryError, match="ENIGMA_TEST_NO_PW"):
            await EmailNotifier(missing).send(approval("evt-nopw"))
    finally:
        controller.stop()
    assert len(recorder.messages) == 1


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [("451 4.3.0 try again later", True), ("554 5.6.0 message refused", False)],
)
async def test_data_replies(smtp: tuple[SmtpRecorder, int], reply: str, retryable: bool) -> None:
    recorder, port = smtp
    recorder.data_replies.append(reply)
    with pytest.raises(DeliveryError) as caught:
        await EmailNotifier(channel(port)).send(approval())
    assert caught.value.retryable is retryable and caught.value.status == int(reply[:3])
    await EmailNotifier(channel(port)).send(approval())  # the next try goes through
    assert len(recorder.messages) == 1


async def test_refused_recipients(smtp: tuple[SmtpRecorder, int]) -> None:
    recorder, port = smtp
    recorder.refuse = {"qa@acme.test"}
    await EmailNotifier(channel(port)).send(approval("evt-r1"))  # one of two: delivered
    assert recorder.messages[0][1] == ["rm@acme.test"]
    recorder.refuse = {"rm@acme.test", "qa@acme.test"}
    with pytest.raises(DeliveryError, match="every recipient refused") as caught:
        await EmailNotifier(channel(port)).send(approval("evt-r2"))
    assert not caught.value.retryable and caught.value.status == 550


async def test_server_down_is_retryable() -> None:
    with pytest.raises(DeliveryError) as caught:
        await EmailNotifier(channel(free_port()), timeout=2).send(approval())
    assert caught.value.retryable

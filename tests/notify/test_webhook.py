"""The webhook channel against a real receiver: signature, headers, status mapping."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from enigma.notify.config import WebhookChannel
from enigma.notify.errors import DeliveryError
from enigma.notify.http import parse_retry_after
from enigma.notify.webhook import WebhookNotifier, sign, verify_signature
from tests.notify.conftest import SECRET, approval
from tests.notify.receivers import HttpReceiver, Reply, free_port

pytestmark = pytest.mark.anyio


def notifier(receiver: HttpReceiver, path: str = "/hook") -> WebhookNotifier:
    return WebhookNotifier(WebhookChannel(url=receiver.url(path), secret=SecretStr(SECRET)))


async def test_signed_post_is_verified_by_the_receiver(receiver: HttpReceiver) -> None:
    hook = notifier(receiver)
    await hook.send(approval("evt-1"))
    await hook.aclose()
    [hit] = receiver.hits
    assert receiver.events == ["evt-1"]
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["user-agent"] == "Enigma-Notifier"
    assert hit.headers["x-enigma-event"] == "decision.requested"
    assert hit.body == approval("evt-1").body()  # compact, exactly what was signed
    assert json.loads(hit.body)["id"] == "evt-1"
    assert verify_signature(SECRET, hit.body, hit.headers["x-enigma-signature"])


def test_a_tampered_body_or_wrong_secret_fails_verification() -> None:
    body = approval().body()
    header = sign(SECRET, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, body, header)
    assert not verify_signature(SECRET, body.replace(b"2.4.0", b"2.4.1"), header)
    assert not verify_signature("other", body, header)
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, "sha256=" + "0" * 64)


async def test_receiver_refuses_an_unsigned_post(receiver: HttpReceiver) -> None:
    hook = WebhookNotifier(WebhookChannel(url=receiver.url("/hook")))
    with pytest.raises(DeliveryError) as caught:
        await hook.send(approval())
    await hook.aclose()
    assert "x-enigma-signature" not in receiver.hits[0].headers
    assert caught.value.status == 401 and not caught.value.retryable
    assert "bad signature" in caught.value.message


async def test_missing_secret_variable_refuses_to_send_unsigned(receiver: HttpReceiver) -> None:
    config = WebhookChannel(url=receiver.url("/hook"), secret_env="ENIGMA_TEST_UNSET_SECRET")
    with pytest.raises(DeliveryError, match="ENIGMA_TEST_UNSET_SECRET") as caught:
        await WebhookNotifier(config).send(approval())
    assert not caught.value.retryable and receiver.hits == []


@pytest.mark.parametrize(
    ("reply", "retryable", "retry_after"),
    [
        (Reply(429, b"slow down", {"Retry-After": "7"}), True, 7.0),
        (Reply(503, b"", {"Retry-After": "Wed, 01 Jan 2020 00:00:00 GMT"}), True, 0.0),
        (Reply(500, b"oops"), True, None),
        (Reply(408), True, None),
        (Reply(400, b"bad payload"), False, None),
        (Reply(404, b"gone"), False, None),
        (Reply(301, b"", {"Location": "http://elsewhere.test/"}), False, None),
    ],
)
async def test_status_mapping(
    receiver: HttpReceiver, reply: Reply, retryable: bool, retry_after: float | None
) -> None:
    receiver.script("/hook", reply)
    hook = notifier(receiver)
    with pytest.raises(DeliveryError) as caught:
        await hook.send(approval())
    await hook.aclose()
    error = caught.value
    assert (error.status, error.retryable, error.retry_after) == (
        reply.status,
        retryable,
        retry_after,
    )
    assert len(receiver.hits) == 1  # one try per call: the sender schedules the next


def test_retry_after_forms() -> None:
    now = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Sun, 01 Mar 2026 09:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_closed_port_is_retryable() -> None:
    hook = WebhookNotifier(WebhookChannel(url=f"http://127.0.0.1:{free_port()}/hook"))
    with pytest.raises(DeliveryError) as caught:
        await hook.send(approval())
    assert caught.value.retryable and "ConnectError" in caught.value.message


async def test_a_receiver_that_never_answers_times_out() -> None:
    silent = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True)
    thread.start()
    port = silent.getsockname()[1]
    hook = WebhookNotifier(WebhookChannel(url=f"http://127.0.0.1:{port}/"), timeout=0.3)
    started = asyncio.get_running_loop().time()
    with pytest.raises(DeliveryError, match=r"no answer within 0\.3s") as caught:
        await hook.send(approval())
    assert caught.value.retryable
    assert asyncio.get_running_loop().time() - started < 2
    await hook.aclose()
    for sock in [*accepted, silent]:
        sock.close()

"""The Slack channel: Block Kit shape, escaping, and Slack's answers."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from enigma.notify.config import SlackChannel
from enigma.notify.errors import DeliveryError
from enigma.notify.message import Notification
from enigma.notify.slack import SlackNotifier, escape, slack_message
from tests.notify.conftest import BASE_URL, approval, finished
from tests.notify.receivers import HttpReceiver, Reply, slack_shape_problem

pytestmark = pytest.mark.anyio

PATH = "/slack/T0001/B0002/xoxb-slack-token-9z"


def slack(receiver: HttpReceiver) -> SlackNotifier:
    return SlackNotifier(SlackChannel(webhook_url=SecretStr(receiver.url(PATH))))


async def test_block_kit_message_reaches_slack(receiver: HttpReceiver) -> None:
    notifier = slack(receiver)
    await notifier.send(approval("evt-s1"))
    await notifier.aclose()
    assert receiver.events == ["evt-s1"]  # the receiver checked the shape and answered "ok"
    [message] = receiver.slack_messages
    assert message["text"].startswith("Enigma: 2.4.0 waits for release approval")
    header, intro, fields, context, actions = message["blocks"]
    assert header["text"] == {"type": "plain_text", "text": "2.4.0 waits for release approval"}
    assert intro["text"]["text"].startswith("Release 2.4.0 to 4 repositories")
    labels = [f["text"].split("\n")[0] for f in fields["fields"]]
    assert labels[:3] == ["*Version*", "*Repositories*", "*Decision*"]
    assert "decision.requested" in context["elements"][0]["text"]
    [button] = actions["elements"]
    assert button["text"]["text"] == "Open in Enigma"
    assert button["url"] == f"{BASE_URL}/ui/#/runs/run-42"


def test_text_is_escaped_for_slack() -> None:
    assert escape("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    message = slack_message(finished())
    intro = message["blocks"][1]["text"]["text"]
    assert intro == (
        "acme/auth skipped after a merge conflict &lt;ENG-106&gt; &amp; a failed check"
    )
    assert "<" not in str(message["blocks"][2]) and ">" not in str(message["blocks"][2])


def test_long_texts_are_cut_to_block_kit_limits() -> None:
    long = finished().to_json()
    long["outcome"]["reason"] = "&" * 5000
    long["outcome"]["left_out"] = [f"ENG-{i}" for i in range(1000)]
    message = slack_message(Notification.model_validate(long))
    assert slack_shape_problem(message) == ""
    intro = message["blocks"][1]["text"]["text"]
    assert len(intro) <= 3000 and intro.endswith("&amp;…")


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [
        (Reply(404, b"no_service"), False),
        (Reply(400, b"invalid_payload"), False),
        (Reply(429, b"rate_limited", {"Retry-After": "3"}), True),
        (Reply(500, b"rollup_error"), True),
    ],
)
async def test_slack_answers(receiver: HttpReceiver, reply: Reply, retryable: bool) -> None:
    receiver.script(PATH, reply)
    notifier = slack(receiver)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(approval())
    await notifier.aclose()
    assert caught.value.retryable is retryable and caught.value.status == reply.status
    assert reply.body.decode() in caught.value.message
    assert "xoxb" not in str(caught.value) and "xoxb" not in repr(notifier)


async def test_unset_url_variable_is_permanent() -> None:
    config = SlackChannel(webhook_url_env="ENIGMA_TEST_UNSET_SLACK")
    with pytest.raises(DeliveryError, match="ENIGMA_TEST_UNSET_SLACK") as caught:
        await SlackNotifier(config).send(approval())
    assert not caught.value.retryable


async def test_a_malformed_url_is_permanent_and_not_echoed() -> None:
    notifier = SlackNotifier(SlackChannel(webhook_url=SecretStr("hooks.slack.test/T1/B2/zzz")))
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(approval())
    await notifier.aclose()
    assert not caught.value.retryable and "zzz" not in str(caught.value)

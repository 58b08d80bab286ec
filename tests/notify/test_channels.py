"""Fan-out to channels, label checks, and the channels the environment describes."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from enigma.notify.channels import build_notifiers, fan_out
from enigma.notify.config import (
    ChannelConfig,
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    channels_from_environment,
)
from tests.notify.conftest import approval


def test_fan_out_gives_one_row_per_channel_that_wants_the_event() -> None:
    channels: list[ChannelConfig] = [
        WebhookChannel(url="http://a.test/hook"),
        SlackChannel(name="ops", webhook_url=SecretStr("http://s.test/x"), events=["run.failed"]),
        EmailChannel(host="mail.test", sender="e@x.test", recipients=["rm@x.test"]),
    ]
    rows = fan_out(approval("evt-9"), channels)
    assert [(label, n["id"]) for label, n in rows] == [("webhook", "evt-9"), ("email", "evt-9")]
    assert rows[0].key == "evt-9:webhook"


def test_channels_need_distinct_labels() -> None:
    twins = [WebhookChannel(url="http://a.test/"), WebhookChannel(url="http://b.test/")]
    with pytest.raises(ValueError, match="repeated: webhook"):
        fan_out(approval(), twins)
    with pytest.raises(ValueError, match="give each channel a `name`"):
        build_notifiers(twins)


def test_channels_from_environment() -> None:
    assert channels_from_environment({}) == []
    [hook] = channels_from_environment(
        {"ENIGMA_WEBHOOK_URL": "https://hooks.test/enigma", "ENIGMA_WEBHOOK_SECRET": "s3"}
    )
    assert isinstance(hook, WebhookChannel) and hook.url == "https://hooks.test/enigma"
    assert hook.signing_secret() == SecretStr("s3")
    assert set(hook.events) == {
        "decision.requested",
        "decision.reminder",
        "decision.made",
        "decision.expired",
        "run.finished",
        "run.failed",
    }
    with pytest.raises(ValueError, match="ENIGMA_WEBHOOK_URL is not"):
        channels_from_environment({"ENIGMA_WEBHOOK_SECRET": "s3"})

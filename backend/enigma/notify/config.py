"""Where notifications go: the channel settings the policy file and the environment describe.

One model per channel kind, told apart by `type`. Secrets (webhook signing secrets, the Slack
webhook URL, which is itself a credential, the SMTP password) are `SecretStr`, so they print
as `**********` in `enigma policy show`, logs and API answers. A secret may instead be named
by an environment variable (`*_env`), so a policy file can be committed without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = [
    "EVENT_TYPES",
    "ChannelConfig",
    "EmailChannel",
    "EventType",
    "SlackChannel",
    "WebhookChannel",
    "channels_from_environment",
    "resolve_secret",
]

EventType = Literal[
    "decision.requested",
    "decision.reminder",
    "decision.made",
    "decision.expired",
    "run.finished",
    "run.failed",
]
EVENT_TYPES: tuple[str, ...] = (
    "decision.requested",
    "decision.reminder",
    "decision.made",
    "decision.expired",
    "run.finished",
    "run.failed",
)


def resolve_secret(value: SecretStr | None, env: str | None) -> SecretStr | None:
    """The secret given inline, else the one in environment variable `env`, else None."""
    if value is not None:
        return value
    if env and os.environ.get(env):
        return SecretStr(os.environ[env])
    return None


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, max_length=64, description="Shown in the delivery log")
    events: list[EventType] = Field(
        default_factory=lambda: list(EVENT_TYPES),  # type: ignore[arg-type]
        description="Event types this channel receives (default: all)",
    )

    @property
    def label(self) -> str:
        """The channel's name, or its kind."""
        return self.name or str(getattr(self, "type", "channel"))


class WebhookChannel(_Channel):
    """POST of the JSON event, signed with HMAC-SHA256 of the raw body."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(..., pattern=r"^https?://\S+$")
    secret: SecretStr | None = None
    secret_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookChannel:
        if self.secret is not None and self.secret_env is not None:
            raise ValueError("give either secret or secret_env, not both")
        return self

    def signing_secret(self) -> SecretStr | None:
        """The secret the signature is made with (None: unsigned)."""
        return resolve_secret(self.secret, self.secret_env)


class SlackChannel(_Channel):
    """A Slack incoming webhook: a Block Kit message with a link to decide."""

    type: Literal["slack"] = "slack"
    webhook_url: SecretStr | None = None
    webhook_url_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _one_url(self) -> SlackChannel:
        if (self.webhook_url is None) == (self.webhook_url_env is None):
            raise ValueError("give exactly one of webhook_url or webhook_url_env")
        return self

    def url(self) -> SecretStr | None:
        """The incoming-webhook URL (a credential in itself)."""
        return resolve_secret(self.webhook_url, self.webhook_url_env)


class EmailChannel(_Channel):
    """E-mail over SMTP, plain text and HTML; STARTTLS and login when configured."""

    type: Literal["email"] = "email"
    host: str = Field(..., min_length=1, max_length=255)
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    sender: str = Field(..., pattern=r"^[^@\s]+@[^@\s]+$")
    recipients: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(..., min_length=1)

    def login_password(self) -> SecretStr | None:
        """The SMTP password, inline or from the environment."""
        return resolve_secret(self.password, self.password_env)


ChannelConfig = Annotated[WebhookChannel | SlackChannel | EmailChannel, Field(discriminator="type")]
"""Any one channel, told apart by its `type`."""


def channels_from_environment(env: Mapping[str, str]) -> list[ChannelConfig]:
    """The channels the environment describes: today one webhook for every event type.

    `ENIGMA_WEBHOOK_URL` (with `ENIGMA_WEBHOOK_SECRET` to sign) gives a channel named
    "webhook". A secret without a URL is a mistake worth stopping for, not a silent no-op.
    """
    url = env.get("ENIGMA_WEBHOOK_URL", "").strip()
    secret = env.get("ENIGMA_WEBHOOK_SECRET", "")
    if not url:
        if secret:
            raise ValueError("ENIGMA_WEBHOOK_SECRET is set but ENIGMA_WEBHOOK_URL is not")
        return []
    return [WebhookChannel(name="webhook", url=url, secret=SecretStr(secret) if secret else None)]

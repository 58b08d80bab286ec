"""Notifications: channels, the outbox and its sender, decision deadlines.

- `message`: the `Notification` payload and one builder per event type.
- `text`: subject line, facts and body for people (Slack and e-mail render from it).
- `config`: channel settings; `channels_from_environment`.
- `webhook`, `slack`, `smtp`: one notifier per channel kind; `channels` builds them and
  `fan_out`s an event to the channels that want it (the outbox rows).
- `outbox`: the `Outbox` protocol the run store implements; `sender`: the delivery loop.
"""

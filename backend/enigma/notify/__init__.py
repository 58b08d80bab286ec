"""Notifications: channels, the outbox and its sender, decision deadlines."""

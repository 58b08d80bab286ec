"""Enigma: release orchestration as a durable LangGraph workflow."""

__version__ = "0.1.0"

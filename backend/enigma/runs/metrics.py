"""Prometheus metrics of one run manager (its own registry, so tests can make many)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "RetryLogBridge"]


class Metrics:
    """Runs by status, step durations, queue depth, external errors and retries."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.runs = Gauge("enigma_runs", "Runs by status", ["status"], registry=self.registry)
        self.queue_depth = Gauge(
            "enigma_queue_depth", "Runs waiting for an execution slot", registry=self.registry
        )
        self.executing = Gauge(
            "enigma_runs_executing", "Runs executing now", registry=self.registry
        )
        self.step_seconds = Histogram(
            "enigma_step_duration_seconds",
            "Duration of workflow steps",
            ["step"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 1800),
            registry=self.registry,
        )
        self.step_failures = Counter(
            "enigma_step_failures_total",
            "Steps that ended in an error",
            ["step"],
            registry=self.registry,
        )
        self.external_errors = Counter(
            "enigma_external_call_errors_total",
            "Calls to Jira / GitHub / Confluence / git that failed a step",
            ["service", "kind"],
            registry=self.registry,
        )
        self.external_retries = Counter(
            "enigma_external_call_retries_total",
            "Calls to external services that were retried",
            ["service"],
            registry=self.registry,
        )
        self.notifications = Gauge(
            "enigma_notifications",
            "Notifications by delivery status (pending, delivered, undeliverable)",
            ["status"],
            registry=self.registry,
        )
        self.events = Counter(
            "enigma_events_total", "Events appended to the log", ["type"], registry=self.registry
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return bytes(generate_latest(self.registry))


class RetryLogBridge(logging.Handler):
    """Count the retries the integrations' choke point logs (`enigma.integrations`).

    The choke point (`integrations/http.py`) knows nothing of metrics and reports each retry
    as one warning whose first argument is "<service> <operation>"; counting those records
    keeps the integrations free of a Prometheus dependency.
    """

    def __init__(self, metrics: Metrics):
        super().__init__(logging.WARNING)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        """Count one retry warning; ignore every other record."""
        if "retrying in" not in str(record.msg) or not isinstance(record.args, tuple):
            return
        service = str(record.args[0]).split(" ", 1)[0] if record.args else "unknown"
        self.metrics.external_retries.labels(service or "unknown").inc()

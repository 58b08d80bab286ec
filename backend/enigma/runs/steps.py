"""Turn LangGraph's `tasks` stream into the run's step events.

The graph streams one chunk when a task starts (it has `triggers`) and one when it ends (it
has `result`, `error` or `interrupts`). With `subgraphs=True` the chunks of the per-repository
subgraph arrive under a namespace `("release_repository:<task id>",)`; the parent's start
chunk of that task carries the repository in its input, so a step inside the subgraph can be
attributed to its repository.

Attempts count `step.started` events in the log, so they keep counting across restarts: a
step that re-runs after a crash or a retry shows attempt 2; a step that waited for a
human and runs again with the answer keeps its attempt number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from enigma.runs.metrics import Metrics

__all__ = ["Emit", "StepTracker"]

log = logging.getLogger("enigma.runs")

Emit = Callable[..., Awaitable[Any]]
"""`emit(run_id, type, data, step=..., repo=...)` of the event hub."""

REPOSITORY_NODE = "release_repository"
SERVICES = frozenset({"jira", "github", "confluence", "git"})
"""Prefixes of integration error messages (`IntegrationError` reads "<service>: ...")."""


class StepTracker:
    """Per execution of one run: which steps are running, since when, and their attempts."""

    def __init__(
        self,
        run_id: str,
        attempts: dict[tuple[str, str | None], int],
        emit: Emit,
        metrics: Metrics,
    ):
        self.run_id = run_id
        self.attempts = dict(attempts)
        self.emit = emit
        self.metrics = metrics
        self.running: dict[str, tuple[str, str | None, float]] = {}
        """Task id → (step, repository, monotonic start): for step timeouts and "in flight"."""
        self._repo_of: dict[str, str] = {}
        self.current_step: str | None = None

    async def on_chunk(self, namespace: tuple[str, ...], chunk: dict[str, Any]) -> None:
        """Record one chunk of the tasks stream as events."""
        name = str(chunk["name"])
        if not namespace and name == REPOSITORY_NODE:
            if "triggers" in chunk and isinstance(chunk.get("input"), dict):
                leg = f"{REPOSITORY_NODE}:{chunk['id']}"
                self._repo_of[leg] = str(chunk["input"].get("repo", ""))
            return
        repo: str | None = self._repo_of.get(namespace[0]) if namespace else None
        if "triggers" in chunk:
            await self._started(str(chunk["id"]), name, repo)
        else:
            await self._ended(chunk, name, repo)

    def in_flight(self) -> list[str]:
        """The steps running now, as people read them: "merge_feature_branches (web-app)"."""
        return [f"{step} ({repo})" if repo else step for step, repo, _ in self.running.values()]

    async def _started(self, task_id: str, name: str, repo: str | None) -> None:
        attempt = self.attempts.get((name, repo), 0) + 1
        self.attempts[(name, repo)] = attempt
        self.running[task_id] = (name, repo, time.monotonic())
        self.current_step = name
        log.info("started (attempt %d)", attempt, extra={"step": name, "repo": repo})
        await self.emit(self.run_id, "step.started", {"attempt": attempt}, step=name, repo=repo)

    async def _ended(self, chunk: dict[str, Any], name: str, repo: str | None) -> None:
        started = self.running.pop(str(chunk["id"]), (name, repo, time.monotonic()))[2]
        duration = time.monotonic() - started
        self.metrics.step_seconds.labels(name).observe(duration)
        data: dict[str, Any] = {
            "duration_ms": round(duration * 1000, 1),
            "attempt": self.attempts.get((name, repo), 1),
        }
        if chunk.get("interrupts"):
            data["waiting_for"] = [
                i["value"].get("kind")
                for i in chunk["interrupts"]
                if isinstance(i, dict) and isinstance(i.get("value"), dict)
            ]
            waiting = ", ".join(str(k) for k in data["waiting_for"])
            log.info("waiting for %s", waiting, extra={"step": name, "repo": repo})
            await self.emit(self.run_id, "step.waiting", data, step=name, repo=repo)
            # the node runs again from its top once answered: that is the same attempt
            self.attempts[(name, repo)] = self.attempts.get((name, repo), 1) - 1
            return
        result = chunk.get("result")
        result = result if isinstance(result, dict) else {}
        error = chunk.get("error") or result.get("error")
        data["summary"] = _summary(result.get("notes"))
        if not error:
            log.info("finished in %.0f ms", duration * 1000, extra={"step": name, "repo": repo})
            await self.emit(self.run_id, "step.finished", data, step=name, repo=repo)
            return
        message = str(error.get("message") if isinstance(error, dict) else error)
        data["error"] = message
        self.metrics.step_failures.labels(name).inc()
        service = message.partition(":")[0]
        if isinstance(error, dict) and service in SERVICES:  # an integration error record
            self.metrics.external_errors.labels(service, str(error.get("kind"))).inc()
        log.warning("failed: %s", message, extra={"step": name, "repo": repo})
        await self.emit(self.run_id, "step.failed", data, step=name, repo=repo)


def _summary(notes: Any) -> str:
    """A step's narrative (`notes`: records with a `text`) in one line; another graph's
    `notes` (Studio's, a benchmark's: any shape) must never fail the run."""
    if not isinstance(notes, list):
        return ""
    texts = (str(n.get("text", "")) if isinstance(n, dict) else str(n) for n in notes)
    return " / ".join(texts)[:2000]

"""The run manager: the one object the API, the CLI and the tests talk to about runs.

It holds the parts and answers for them; each concern lives in a module of its own:

- `commands.py`: start, pause, resume, cancel, re-run, history;
- `decisions.py`: answering pending decisions, and answers that survive crashes;
- `execution.py`: executing a run (the graph under the run's stop signal), outages waited out;
- `scheduler.py`: which runs this process executes (`LocalScheduler`), or `cluster.py` on
  PostgreSQL (`LeaseScheduler`, `ClusterHub`): the same manager with other parts plugged in;
- `hub.py`: the event log and its live subscribers;
- `notifying.py` / `deadlines.py`: what events tell people (an outbox and its sender), and
  decision reminders and expiry;
- here: lifecycle (start, the watchdog for step timeouts, run deadlines and decision
  deadlines, shutdown, retention) and the small reads everyone needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot

from enigma.context import Context
from enigma.policy import Policy as ReleasePolicy
from enigma.runs import commands, decisions
from enigma.runs.deadlines import check_deadlines
from enigma.runs.decisions import ACTION_KINDS, DecisionError, UnknownRun
from enigma.runs.execution import thread_config
from enigma.runs.hub import EventHub, Item
from enigma.runs.metrics import Metrics, RetryLogBridge
from enigma.runs.models import ACTIVE, RunRecord, RunRequest
from enigma.runs.notifying import Delivery
from enigma.runs.scheduler import LocalScheduler, Scheduler
from enigma.runs.store import RunStore

__all__ = [
    "ACTION_KINDS",
    "DecisionError",
    "Limits",
    "RunManager",
    "UnknownRun",
    "build_snapshot_summary",
]

log = logging.getLogger("enigma.runs")


@dataclass(frozen=True)
class Limits:
    """How much the manager does at once and how long things may take."""

    max_concurrent: int = 50
    """Runs executing at once in this process; the rest wait (holding no thread)."""
    io_threads: int = 0
    """Threads for blocking client calls; 0 = 4 per concurrent run, at least 8 (see README)."""
    step_timeout: float | None = None
    """Overrides every step's timeout (ENIGMA_STEP_TIMEOUT_SECONDS); None: the policy's."""
    run_deadline: float | None = None
    """Overrides the run deadline (ENIGMA_RUN_DEADLINE_SECONDS); None: the policy's."""
    four_eyes: bool = False

    def threads(self) -> int:
        """The size of the I/O executor."""
        return self.io_threads or max(8, 4 * self.max_concurrent)


class RunManager:
    """Drives runs of the release graph; one per process (see the module docstring)."""

    def __init__(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        store: RunStore,
        context: Context,
        *,
        limits: Limits | None = None,
        repositories: list[str] | None = None,
        checkpointer: Any = None,
        hub: Callable[[RunManager], EventHub] | None = None,
        scheduler: Callable[[RunManager], Scheduler] | None = None,
        delivery: Delivery | None = None,
    ):
        self.graph = graph
        self.store = store
        self.limits = limits or Limits()
        self.checkpointer = checkpointer
        self.repositories = repositories
        self.metrics = Metrics()
        self.closing = False
        self.io = ThreadPoolExecutor(self.limits.threads(), thread_name_prefix="enigma-io")
        self.context = Context(**{**context.__dict__, "executor": context.executor or self.io})
        self.hub = hub(self) if hub is not None else EventHub(store, self.metrics)
        self.scheduler = (
            scheduler(self)
            if scheduler is not None
            else LocalScheduler(self, self.limits.max_concurrent)
        )
        self.delivery = delivery
        """Notifications, when channels are configured (None: nothing leaves Enigma)."""
        self._watchdog: asyncio.Task[None] | None = None
        self._policies: dict[str, Context] = {}
        self._retry_log = RetryLogBridge(self.metrics)
        logging.getLogger("enigma.integrations").addHandler(self._retry_log)

    # ---- reads ----

    async def get(self, run_id: str) -> RunRecord:
        """The run (with why it waits, if this process knows), or UnknownRun."""
        run = await self.store.get(run_id)
        if run is None:
            raise UnknownRun(run_id)
        ex = self.scheduler.pool.get(run_id)
        if ex is not None and ex.blocked != run.blocked:
            run = run.model_copy(update={"blocked": ex.blocked})
        return run

    async def state_view(self, run_id: str) -> dict[str, Any]:
        """The run's state as people should see it now, repositories' legs in flight included.

        A leg's results reach the release's state only when the leg ends; until then they live
        in the leg's own (checkpointed) state. They are merged in here, so the page shows the
        branch that exists, the merges made and the pull request opened while a decision waits.
        """
        snapshot = await self.graph.aget_state(thread_config(run_id), subgraphs=True)
        values = dict(snapshot.values)
        legs: dict[str, str] = {}
        for task in snapshot.tasks:
            state = task.state
            if task.name != "release_repository" or not isinstance(state, StateSnapshot):
                continue
            leg = dict(state.values)
            repo = str(leg.get("repo") or "")
            for key in _PER_REPOSITORY:
                if leg.get(key):
                    values[key] = {**(values.get(key) or {}), **leg[key]}
            for key in ("skipped", "approvals", "notes"):
                if leg.get(key):
                    values[key] = [*(values.get(key) or []), *leg[key]]
            step = state.next[0] if state.next else None
            if repo and step:
                legs[repo] = step
        summary = build_snapshot_summary(values)
        summary["legs"] = legs
        return summary

    def is_executing(self, run_id: str) -> bool:
        """Whether this process executes (or is about to execute) the run now."""
        return self.scheduler.pool.get(run_id) is not None

    def blocked(self) -> dict[str, str]:
        """Runs of this process that wait for a dependency, with the cause."""
        return {
            run_id: ex.blocked
            for run_id, ex in self.scheduler.pool.executions.items()
            if ex.blocked is not None
        }

    @contextlib.asynccontextmanager
    async def subscribe(self, maxsize: int = 10_000) -> AsyncIterator[asyncio.Queue[Item]]:
        """Live events (and notices) from now on."""
        async with self.hub.subscribe(maxsize) as queue:
            yield queue

    async def set_status(
        self,
        run_id: str,
        status: str,
        actor: str | None = None,
        reason: str = "",
        only_from: frozenset[str] | None = None,
        **fields: Any,
    ) -> RunRecord:
        """Change the run's status and record the change as an event (see `RunStore`)."""
        before = (await self.get(run_id)).status
        run = await self.store.set_status(run_id, status, only_from=only_from, **fields)
        if before != status:
            await self.hub.emit(
                run_id, "run.status", {"from": before, "to": status, "reason": reason}, actor=actor
            )
        return run

    # ---- commands ----

    async def start(
        self, request: RunRequest, actor: str, idempotency_key: str | None = None
    ) -> tuple[RunRecord, bool]:
        """Create a run and queue it (see `commands.start`)."""
        return await commands.start(self, request, actor, idempotency_key)

    async def pause(self, run_id: str, actor: str) -> RunRecord:
        """Stop at the next step boundary."""
        return await commands.pause(self, run_id, actor)

    async def resume(self, run_id: str, actor: str) -> RunRecord:
        """Continue a paused or failed run from its last checkpoint."""
        return await commands.resume(self, run_id, actor)

    async def cancel(self, run_id: str, actor: str) -> RunRecord:
        """Stop now and for good."""
        return await commands.cancel(self, run_id, actor)

    async def decide(
        self,
        run_id: str,
        action: str,
        actor: str,
        comment: str = "",
        exclude: dict[str, list[str]] | None = None,
        interrupt_id: str | None = None,
        roles: frozenset[str] | None = None,
    ) -> RunRecord:
        """Answer a pending decision (roles: the caller's, checked against the policy's)."""
        return await decisions.decide(
            self, run_id, action, actor, comment, exclude, interrupt_id, roles
        )

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        """The run's checkpoints, newest first."""
        return await commands.history(self, run_id)

    async def rerun(self, run_id: str, checkpoint_id: str, reason: str, actor: str) -> RunRecord:
        """Run again from a checkpoint of the history."""
        return await commands.rerun(self, run_id, checkpoint_id, reason, actor)

    async def adopt(self, run_id: str) -> None:
        """Take over a queued or running run that no task of this process executes."""
        run = await self.get(run_id)
        if run.status not in ACTIVE:
            raise DecisionError(409, f"run {run_id} is {run.status}; nothing to adopt")
        if not self.is_executing(run_id):
            await self.hub.emit(run_id, "run.recovered", {"status": run.status})
            await self.scheduler.schedule(run_id)

    # ---- lifecycle ----

    async def start_background(self, recover: bool = True) -> None:
        """Recovery (or the cluster's loops), then the watchdog.

        `recover=False` (the CLI following one run) leaves other runs of an embedded store
        alone; a cluster worker takes part in the cluster either way.
        """
        await self.hub.start()
        if self.delivery is not None:
            self.delivery.start(self.store, self.hub)
        await self.scheduler.start(recover)
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while not self.closing:
            await asyncio.sleep(1.0)
            try:
                self.enforce_limits()
                await check_deadlines(self)
            except Exception:  # the watchdog must outlive anything
                log.exception("watchdog check failed")

    def enforce_limits(self) -> None:
        """Stop executions past their step timeout or run deadline (hard: nothing new starts).

        The timeouts are the run's policy's (per step), unless ENIGMA_STEP_TIMEOUT_SECONDS or
        ENIGMA_RUN_DEADLINE_SECONDS override them for every run.
        """
        now = time.monotonic()
        for ex in list(self.scheduler.pool.executions.values()):
            for step, since in ex.steps_since():
                limit = self.limits.step_timeout or ex.step_timeout(step)
                if now - since > limit:
                    ex.stop(f"timeout: step {step} ran over {limit:g}s", hard=True)
                    break
            else:
                if now > ex.deadline:
                    deadline = self.limits.run_deadline or float(ex.rules.run.deadline)
                    ex.stop(f"timeout: run deadline of {deadline:g}s passed", hard=True)

    # ---- the release policy each run runs under ----

    async def keep_policy(self) -> str:
        """Store the process's policy by its hash (once); new runs record that hash."""
        digest = self.context.policy_hash()
        if digest not in self._policies:
            body = self.context.rules.model_dump(
                mode="json", exclude={"notifications"}, exclude_unset=True
            )
            await self.store.save_policy(digest, body)
            self._policies[digest] = self.context
        return digest

    async def context_for(self, run: RunRecord) -> Context:
        """The context a run executes with: its own policy, even if the file changed since."""
        digest = run.policy_hash or self.context.policy_hash()
        found = self._policies.get(digest)
        if found is None:
            body = await self.store.policy(digest)
            if body is None:  # a run from before policies were kept: today's policy
                return self.context
            rules = ReleasePolicy.model_validate(body)
            found = Context(**{**self.context.__dict__, "rules": rules, "rules_hash": digest})
            self._policies[digest] = found
        return found

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Drain running runs at their next step boundary; leave them for the next start.

        A run whose step does not end within `timeout` is abandoned mid-step and keeps its
        status `running`, so the next start re-runs that step (nodes are check-then-act).
        """
        self.closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        await self.scheduler.shutdown(timeout)
        if self.delivery is not None:
            await self.delivery.stop()
        await self.hub.stop()
        self.hub.close()
        logging.getLogger("enigma.integrations").removeHandler(self._retry_log)
        self.io.shutdown(wait=False, cancel_futures=True)

    async def purge(self, older_than_seconds: float) -> list[str]:
        """Delete finished runs older than the retention, with checkpoints and events."""
        doomed = await self.store.finished_before(time.time() - older_than_seconds)
        for run_id in doomed:
            if self.checkpointer is not None:
                await self.checkpointer.adelete_thread(run_id)
            await self.store.delete(run_id)
        return doomed

    async def wait_for(self, run_id: str, statuses: set[str], timeout: float = 60.0) -> RunRecord:
        """Wait until the run reaches one of `statuses` (CLI and tests)."""
        deadline = time.monotonic() + timeout
        async with self.subscribe() as queue:
            while True:
                run = await self.get(run_id)
                if run.status in statuses:
                    return run
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"run {run_id} is {run.status}, not {sorted(statuses)}")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 0.5)):
                        await queue.get()


_PER_REPOSITORY = ("release_branches", "merge_status", "pull_requests", "checks", "repo_outcomes")


def build_snapshot_summary(values: dict[str, Any]) -> dict[str, Any]:
    """The parts of a run's state the API and the web page show."""
    keys = (
        "fix_version",
        "release_type",
        "repositories",
        "sprint_name",
        "dry_run",
        "current_step",
        "outcome",
        "outcome_reason",
        "outcome_detail",
        "jira_tickets",
        "plan",
        "release_branches",
        "merge_status",
        "pull_requests",
        "checks",
        "repo_outcomes",
        "skipped",
        "release_notes",
        "finalized",
        "approvals",
        "error",
        "notes",
    )
    return {k: values.get(k) for k in keys if k in values}

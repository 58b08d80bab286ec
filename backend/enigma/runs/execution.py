"""Executing a run: the graph streamed under the run's scope, its ending written down.

One run is one LangGraph thread (`thread_id = run_id`), executed with `durability="sync"` so
every finished step is on disk before the next starts. An `Execution` is this process's
handle on a run it executes now: the asyncio task, the run's `RunScope` (the stop signal the
integrations obey), the graph's `RunControl` (drain at the next step boundary) and the steps
in flight. `Runner.drive` executes until the run waits for a human, ends, or is stopped:

- pause: `control.request_drain` plus a soft stop of the scope, so a step that only waits
  (for CI, for a backoff) ends at once and the others at their boundary;
- cancel, step timeout, run deadline, lost lease: a hard stop: no new external call starts,
  waits end at once, and a call already on the wire ends the step it belongs to as soon as
  it returns; the execution writes nothing more for the run. The asyncio task is not
  cancelled: LangGraph records a cancelled node as failed with `CancelledError`, which a
  later resume of an interrupted node does not recover from; a node that stops raises
  `RunStopped` instead, which it re-runs cleanly. The run's record names the steps in flight;
- an outage of the run store or the checkpointer (database down, disk full) is not the
  run's failure: the execution waits, probing with capped backoff, and continues from the
  last checkpoint once the store answers; the run shows why it waits (`blocked`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphDrained
from langgraph.runtime import RunControl
from langgraph.types import Command

from enigma.context import Context
from enigma.integrations.scope import RunScope, RunStopped, bind_scope
from enigma.logs import bind_run
from enigma.policy import STEP_NAMES
from enigma.policy import Policy as ReleasePolicy
from enigma.runs.decisions import recorded_answers
from enigma.runs.models import RunRecord, RunRequest
from enigma.runs.settle import settle
from enigma.runs.steps import StepTracker
from enigma.runs.store import (
    IllegalTransition,
    NewEvent,
    RunHandedOver,
    StoreUnavailable,
    sqlite_cause,
)

if TYPE_CHECKING:
    from enigma.runs.manager import RunManager

__all__ = ["Execution", "Outage", "Runner", "outage_of", "thread_config"]

log = logging.getLogger("enigma.runs")


class Outage(Exception):
    """The run store or the checkpointer is unavailable; the run waits, it did not fail."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


def outage_of(exc: BaseException) -> str | None:
    """The infrastructure outage an exception means, or None (a bug, or the run's own error)."""
    if isinstance(exc, StoreUnavailable | Outage):
        return exc.cause
    cause = sqlite_cause(exc)
    if cause is not None:
        return cause
    import psycopg
    import psycopg_pool

    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return "database unavailable"
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return "database unavailable (no connection within the timeout)"
    return None


def thread_config(run_id: str) -> RunnableConfig:
    """The LangGraph config of a run's thread."""
    return RunnableConfig(configurable={"thread_id": run_id})


@dataclass
class Execution:
    """This process executing one run now (see the module docstring)."""

    run_id: str
    scope: RunScope
    control: RunControl = field(default_factory=RunControl)
    intent: str | None = None
    """Why it is being stopped: pause, cancel, shutdown, lease_lost, or "timeout: ..."."""
    tracker: StepTracker | None = None
    deadline: float = math.inf
    """The run's deadline on the monotonic clock."""
    blocked: str | None = None
    task: asyncio.Task[None] | None = None
    holds_slot: bool = False
    rules: ReleasePolicy = field(default_factory=ReleasePolicy)
    """The release policy the run runs under (step timeouts, deadline)."""

    def stop(self, intent: str, *, hard: bool) -> None:
        """Stop at the next boundary (soft) or now (hard: no new external call, no new write)."""
        if self.intent is None or hard:
            self.intent = intent
        self.scope.stop(intent, hard=hard)
        self.control.request_drain(intent)

    def in_flight(self) -> list[str]:
        """The steps running now."""
        return self.tracker.in_flight() if self.tracker is not None else []

    def steps_since(self) -> list[tuple[str, float]]:
        """(step, monotonic start) of each step running now."""
        if self.tracker is None:
            return []
        return [(step, started) for step, _, started in self.tracker.running.values()]

    def step_timeout(self, step: str) -> float:
        """The policy's timeout of a step (steps it does not name: its default)."""
        if step in STEP_NAMES:
            return float(self.rules.step_limits(step).timeout)
        return float(self.rules.steps.default.timeout)


class Runner:
    """Drives executions of the release graph for one run manager."""

    def __init__(self, manager: RunManager, *, wait_out_outages: bool = True):
        self.m = manager
        self.wait_out_outages = wait_out_outages
        """SQLite: wait here. PostgreSQL: the scheduler hands the run back to the cluster."""
        self.outage_first = 0.5
        self.outage_cap = 10.0

    async def drive(
        self, ex: Execution, resume: dict[str, Any] | None, checkpoint_id: str | None
    ) -> None:
        """Execute the run until it waits, ends or stops; outages of the store are waited out."""
        with bind_run(ex.run_id):  # every log line of the execution names the run
            await self._drive(ex, resume, checkpoint_id)

    async def _drive(
        self, ex: Execution, resume: dict[str, Any] | None, checkpoint_id: str | None
    ) -> None:
        pause = self.outage_first
        while True:
            try:
                again = await self._execute(ex, resume, checkpoint_id)
            except (Outage, StoreUnavailable) as exc:
                if not self.wait_out_outages:
                    raise Outage(exc.cause) from exc
                self.set_blocked(ex, exc.cause)
                await asyncio.sleep(pause)  # a cancel of the task ends the wait
                pause = min(self.outage_cap, pause * 2)
                resume, checkpoint_id = None, None  # the log re-sends recorded decisions
                continue
            self.set_blocked(ex, None)
            if not again:
                return
            resume, checkpoint_id = None, None  # answers that came in meanwhile, from the log

    def set_blocked(self, ex: Execution, cause: str | None) -> None:
        """Show (or clear) why the run waits: in memory, to live streams, and in its record."""
        if ex.blocked == cause:
            return
        ex.blocked = cause
        asyncio.get_running_loop().create_task(self._record_blocked(ex.run_id, cause))

    async def _record_blocked(self, run_id: str, cause: str | None) -> None:
        kind = "run.blocked" if cause else "run.unblocked"
        try:
            await self.m.store.update(run_id, blocked=cause)
            await self.m.hub.emit(run_id, kind, {"cause": cause})
        except StoreUnavailable as exc:
            # the store itself is down: live streams hear it now, the API reads it from memory
            self.m.hub.announce(kind, run_id=run_id, cause=cause, store=exc.cause)
        except Exception:  # showing why a run waits must never end the run
            log.exception("run %s: could not record that it waits", run_id)

    async def _execute(
        self, ex: Execution, resume: dict[str, Any] | None, checkpoint_id: str | None
    ) -> bool:
        """One pass of the graph; True when decisions arrived meanwhile and it must go again."""
        try:
            run = await self.m.store.get(ex.run_id)
            if run is None or run.status not in ("queued", "running"):
                return False
            try:
                await self.m.set_status(ex.run_id, "running", reason="executing")
            except IllegalTransition:
                return False  # paused or cancelled a moment ago: nothing to execute
            context = await self.m.context_for(run)
            ex.rules = context.rules
            deadline = self.m.limits.run_deadline or float(context.rules.run.deadline)
            ex.deadline = time.monotonic() + (run.created_at + deadline - time.time())
            config = thread_config(ex.run_id)
            config["recursion_limit"] = 500
            if checkpoint_id:
                config["configurable"]["checkpoint_id"] = checkpoint_id
            with bind_scope(ex.scope):
                graph_input = await self._input(run, config, resume, checkpoint_id)
                await self._stream(ex, graph_input, config, context)
            if ex.scope.hard:  # stopped while its last step was finishing: still stopped
                raise RunStopped(ex.scope.reason or "stopped")
            return await settle(self.m, ex.run_id)
        except (RunHandedOver, Outage):
            raise
        except GraphDrained:
            await self._stopped_at_boundary(ex)
        except (asyncio.CancelledError, RunStopped) as exc:
            await self._stopped(ex, exc)
        except IllegalTransition as exc:
            log.info("run %s: %s (cancelled meanwhile?)", ex.run_id, exc)
        except Exception as exc:
            cause = outage_of(exc)
            if cause is not None:
                raise Outage(cause) from exc
            log.exception("run %s failed", ex.run_id)
            await self.m.set_status(
                ex.run_id,
                "failed",
                reason="error",
                error=f"{type(exc).__name__}: {exc}; resume to retry from the last step",
            )
        return False

    async def _stopped_at_boundary(self, ex: Execution) -> None:
        if ex.scope.hard:  # a hard stop drains too; it is still what it was
            await self._stopped(ex, RunStopped(ex.scope.reason or "stopped"))
            return
        intent = ex.intent or "shutdown"
        status = "paused" if intent == "pause" else "queued"
        await self.m.set_status(ex.run_id, status, reason=f"stopped at a step boundary ({intent})")

    async def _stopped(self, ex: Execution, exc: BaseException) -> None:
        """The execution was cancelled or its scope stopped: write down why, or hand over."""
        intent = ex.intent
        if intent is None and isinstance(exc, RunStopped):
            intent = "lease_lost"  # the scope refused a call because the lease may have lapsed
        if intent is None:
            raise exc  # cancelled from outside (the process is going away): leave the row be
        if intent == "cancel":
            return  # the cancel command writes the outcome once the task has stopped
        if intent == "lease_lost":
            raise RunHandedOver(f"run {ex.run_id}: lease lost; another worker continues it")
        in_flight = ex.in_flight()
        where = f" (in flight: {', '.join(in_flight)})" if in_flight else ""
        if intent.startswith("timeout"):
            await self.m.set_status(
                ex.run_id,
                "failed",
                reason=intent + where,
                error=f"{intent}{where}; resume to try again",
                detail={"stopped": intent, "in_flight": in_flight},
            )
        elif intent == "pause":
            await self.m.set_status(ex.run_id, "paused", reason=f"paused{where}")
        else:  # shutdown: the next start continues it
            await self.m.set_status(ex.run_id, "queued", reason=f"stopped ({intent}){where}")

    async def _input(
        self,
        run: RunRecord,
        config: RunnableConfig,
        resume: dict[str, Any] | None,
        checkpoint_id: str | None,
    ) -> Any:
        """What to hand the graph: the request (new run), recorded decisions, or None."""
        if checkpoint_id is not None:
            return Command(resume=resume) if resume else None
        snapshot = await self.m.graph.aget_state(config)
        if not snapshot.values and not snapshot.next:
            return _initial_input(run)
        answers = await recorded_answers(self.m, run.id, {i.id for i in snapshot.interrupts})
        answers.update(resume or {})
        return Command(resume=answers) if answers else None

    async def _stream(
        self, ex: Execution, graph_input: Any, config: RunnableConfig, context: Context
    ) -> None:
        """Run the graph; its task chunks become events beside it, never in its way.

        The graph's loop advances a superstep only when its consumer asks for the next
        chunk, so writing each step's events inline would hold every step boundary for a
        round trip to the event log. The chunks go through a queue to a recorder task
        instead; the run's ending is written only after the recorder has written them all
        (in order), and a recorder that fails (the store is down) stops the stream.
        """
        attempts = await self.m.store.step_attempts(ex.run_id)
        burst: list[NewEvent] = []

        async def collect(
            _run: str, type: str, data: dict[str, Any], *, step: str, repo: str | None
        ) -> None:
            burst.append(NewEvent(type, data, step, repo))

        tracker = StepTracker(ex.run_id, attempts, collect, self.m.metrics)
        ex.tracker = tracker
        chunks: asyncio.Queue[tuple[tuple[str, ...], dict[str, Any]] | None] = asyncio.Queue()
        recorder = asyncio.get_running_loop().create_task(
            self._record(ex.run_id, tracker, chunks, burst)
        )
        stream = self.m.graph.astream(
            graph_input,
            config,
            context=context,
            stream_mode="tasks",
            subgraphs=True,
            durability="sync",
            control=ex.control,
            version="v1",
        )
        try:
            async for part in stream:
                if recorder.done():
                    break  # it failed: its error is raised below, the stream closed
                if ex.scope.hard:
                    continue  # stopped: whatever still finishes is not reported as progress
                chunks.put_nowait(cast(tuple[tuple[str, ...], dict[str, Any]], part))
        except asyncio.CancelledError:
            recorder.cancel()  # the process is going away: leave the log as it is
            raise
        except BaseException:
            chunks.put_nowait(None)
            with contextlib.suppress(Exception):  # write what the graph did, then its error
                await recorder
            raise
        chunks.put_nowait(None)
        await recorder

    async def _record(
        self,
        run_id: str,
        tracker: StepTracker,
        chunks: asyncio.Queue[tuple[tuple[str, ...], dict[str, Any]] | None],
        burst: list[NewEvent],
    ) -> None:
        """Write the stream's chunks as events, with the current step and the tickets found:
        whatever queued up while the last write was under way goes in the next one."""
        written_step = tracker.current_step
        ended = False
        while not ended:
            items = [await chunks.get()]
            while not chunks.empty():
                items.append(chunks.get_nowait())
            fields: dict[str, Any] = {}
            for item in items:
                if item is None:
                    ended = True
                    break
                namespace, chunk = item
                await tracker.on_chunk(namespace, chunk)  # appends its events to `burst`
                found = _tickets_found(namespace, chunk)
                if found is not None:  # the run is found by its tickets from now on
                    fields["tickets"] = found
            if tracker.current_step != written_step:
                fields["current_step"] = written_step = tracker.current_step
            if burst or fields:
                events = burst[:]
                burst.clear()
                await self.m.hub.emit_burst(run_id, events, fields)


def _tickets_found(namespace: tuple[str, ...], chunk: dict[str, Any]) -> list[str] | None:
    """The ticket keys fetch_tickets found, when `chunk` is its end; else None."""
    if namespace or chunk.get("name") != "fetch_tickets":
        return None
    result = chunk.get("result")
    if not isinstance(result, dict) or "jira_tickets" not in result:
        return None
    return [str(t["key"]) for t in result["jira_tickets"]]


def _initial_input(run: RunRecord) -> dict[str, Any]:
    request = RunRequest.model_validate(run.request)
    return {
        "fix_version": request.fix_version,
        "repositories": request.repositories,
        "release_type": request.release_type,
        "sprint_name": request.sprint_name,
        "dry_run": request.dry_run,
        "policy": request.policy.model_dump(),
    }

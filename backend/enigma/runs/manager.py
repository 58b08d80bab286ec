"""The run manager: starts, steers and recovers release runs; writes the event log.

One run is one LangGraph thread (`thread_id = run_id`), executed with `durability="sync"` so
every finished step is on disk before the next starts. The manager turns the graph's `tasks`
stream into events (`steps.StepTracker`), keeps each run's row in the store in step with the
checkpoint, and answers the commands of the API and the CLI:

- pause: cooperative; `RunControl.request_drain` stops the graph at the next step boundary
  (the control reaches the repository subgraphs too, so a pause takes effect after the
  current step of each repository);
- cancel: at once; the asyncio task is cancelled and in-flight work abandoned (every node is
  check-then-act, so work abandoned half way is finished, not repeated, by a later re-run);
- decisions: recorded in the event log first (`decision.made`, with the interrupt id), then
  sent with `Command(resume={interrupt_id: answer})`. LangGraph keeps a resume value only
  once the resumed node has finished, so after a crash in between the interrupt is pending
  again; every execution therefore re-sends the recorded answers of the interrupts that are
  still pending, and a decision survives any crash;
- recovery: at start-up every queued or running run continues from its last checkpoint;
  runs waiting for a decision and paused runs stay so;
- re-run: forks the thread at the chosen checkpoint (`aupdate_state`), so the fork is durable
  before the run is queued and a crash cannot lose where to start from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphDrained
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import RunControl
from langgraph.types import Command

from enigma.context import Context
from enigma.runs.metrics import Metrics, RetryLogBridge
from enigma.runs.models import ACTIVE, EventRecord, PendingDecision, RunRecord, RunRequest
from enigma.runs.steps import StepTracker
from enigma.runs.store import RunHandedOver, RunStore

__all__ = ["ACTION_KINDS", "DecisionError", "RunManager", "UnknownRun", "build_snapshot_summary"]

log = logging.getLogger("enigma.runs")

# Which pending decision each API action answers, and the value the graph receives.
ACTION_KINDS: dict[str, dict[str, str]] = {
    "approve": {"plan_approval": "approve", "release_approval": "approve"},
    "reject": {
        "plan_approval": "reject",
        "release_approval": "reject",
        "conflict": "abort",
        "error": "abort",
    },
    "amend": {"plan_approval": "amend"},
    "retry": {"error": "retry"},
    "skip": {"error": "skip", "conflict": "skip"},
    "abort": {"error": "abort", "conflict": "abort"},
}
_OUTCOME_STATUS = {
    "succeeded": "succeeded",
    "planned": "succeeded",
    "cancelled": "cancelled",
    "failed": "failed",
}


class UnknownRun(KeyError):
    """No run has that id."""


class DecisionError(Exception):
    """A decision the run cannot take now (`status` says which HTTP answer fits)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class RunManager:
    """Drives runs of the release graph; one per process."""

    def __init__(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        store: RunStore,
        context: Context,
        *,
        max_concurrent: int = 50,
        step_timeout: float = 1800.0,
        run_deadline: float = 86_400.0,
        four_eyes: bool = False,
        repositories: list[str] | None = None,
        checkpointer: Any = None,
    ):
        self.graph = graph
        self.store = store
        self.context = context
        self.checkpointer = checkpointer
        self.metrics = Metrics()
        self.four_eyes = four_eyes
        self.repositories = repositories
        self.step_timeout = step_timeout
        self.run_deadline = run_deadline
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._executing: set[str] = set()
        self._controls: dict[str, RunControl] = {}
        self._intent: dict[str, str] = {}
        self._steps: dict[str, dict[str, tuple[str, float]]] = {}
        self._subscribers: set[asyncio.Queue[EventRecord | None]] = set()
        self._waiting = 0
        self._watchdog: asyncio.Task[None] | None = None
        self._retry_log = RetryLogBridge(self.metrics)
        logging.getLogger("enigma.integrations").addHandler(self._retry_log)
        self.closing = False

    # ---- events ----

    def emit(
        self,
        run_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        step: str | None = None,
        repo: str | None = None,
        actor: str | None = None,
    ) -> EventRecord:
        """Append an event and hand it to every live subscriber."""
        event = self.store.append_event(run_id, type, data, step=step, repo=repo, actor=actor)
        self.metrics.events.labels(type).inc()
        self._publish(event)
        return event

    def _publish(self, event: EventRecord) -> None:
        """Hand a new event to every live subscriber (in this process, in id order)."""
        self._deliver(event)

    def _deliver(self, event: EventRecord) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a slow reader re-reads the log from its last id
                self._subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, maxsize: int = 10_000
    ) -> AsyncIterator[asyncio.Queue[EventRecord | None]]:
        """Live events from now on; `None` in the queue means "you fell behind, re-read"."""
        queue: asyncio.Queue[EventRecord | None] = asyncio.Queue(maxsize)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    # ---- commands ----

    def is_executing(self, run_id: str) -> bool:
        """Whether this process is executing (or about to execute) the run now."""
        task = self._tasks.get(run_id)
        return task is not None and not task.done()

    def get(self, run_id: str) -> RunRecord:
        """The run, or UnknownRun."""
        run = self.store.get(run_id)
        if run is None:
            raise UnknownRun(run_id)
        return run

    async def start(
        self, request: RunRequest, actor: str, idempotency_key: str | None = None
    ) -> tuple[RunRecord, bool]:
        """Create a run and queue it; the same idempotency key returns the same run.

        Keys are scoped to the caller (one user's key never returns another user's run), and
        a key reused with a different request is refused (409) rather than silently answered
        with a run that is not the one asked for.
        """
        if self.four_eyes and request.policy.auto_approve:
            raise DecisionError(
                403,
                "four-eyes rule: policy.auto_approve would let the starter's run approve "
                "itself; start it without auto_approve and let someone else approve",
            )
        if self.repositories is not None:
            unknown = [r for r in request.repositories if r not in self.repositories]
            if unknown:
                raise DecisionError(
                    422,
                    f"repositories: unknown repository {', '.join(unknown)}; "
                    f"configured: {', '.join(self.repositories)}",
                )
        now = time.time()
        run = RunRecord(
            id=f"run-{uuid.uuid4().hex[:12]}",
            status="queued",
            fix_version=request.fix_version,
            release_type=request.release_type,
            repositories=request.repositories,
            sprint_name=request.sprint_name,
            dry_run=request.dry_run,
            actor=actor,
            created_at=now,
            updated_at=now,
            request=request.model_dump(),
        )
        key = None if idempotency_key is None else f"{actor}\n{idempotency_key}"
        run, created = self.store.create(run, key)
        if not created:
            if run.request != request.model_dump():
                raise DecisionError(
                    409,
                    f"Idempotency-Key {idempotency_key!r} was used for run {run.id} with a "
                    "different request; use a new key for a new run",
                )
            return run, False
        self.emit(run.id, "run.created", {"request": run.request}, actor=actor)
        self._schedule(run.id)
        return run, True

    async def pause(self, run_id: str, actor: str) -> RunRecord:
        """Stop at the next step boundary (a queued run simply does not start)."""
        run = self.get(run_id)
        if run.status == "queued":
            return self._set_status(run_id, "paused", actor=actor, reason="paused before start")
        if run.status != "running":
            raise DecisionError(
                409, f"run {run_id} is {run.status}; only a running or queued run can be paused"
            )
        self._intent[run_id] = "pause"
        control = self._controls.get(run_id)
        if control is not None:
            control.request_drain("pause")
        self.emit(run_id, "run.pause_requested", actor=actor)
        return run

    async def resume(self, run_id: str, actor: str) -> RunRecord:
        """Continue a paused (or failed) run from its last checkpoint."""
        run = self.get(run_id)
        if run.status not in ("paused", "failed"):
            raise DecisionError(
                409, f"run {run_id} is {run.status}; only a paused or failed run can be resumed"
            )
        if run.outcome is not None:
            raise DecisionError(
                409,
                f"run {run_id} ended ({run.outcome}: {run.error}); "
                "re-run it from a checkpoint of its history instead",
            )
        # the command is recorded before the run becomes claimable (see ClusterRunManager)
        self._schedule(run_id)
        return self._set_status(run_id, "queued", actor=actor, reason="resumed", error=None)

    async def cancel(self, run_id: str, actor: str) -> RunRecord:
        """Stop the run now and for good."""
        run = self.get(run_id)
        if run.status in ("succeeded", "cancelled") or run.outcome is not None:
            raise DecisionError(409, f"run {run_id} is {run.status}; it cannot be cancelled")
        task = self._tasks.get(run_id)
        if task is not None and not task.done():
            self._intent[run_id] = "cancel"
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        run = self.get(run_id)
        if run.status == "cancelled":
            return run
        run = self._set_status(
            run_id,
            "cancelled",
            actor=actor,
            reason=f"cancelled by {actor}",
            finished_at=time.time(),
            pending=[],
            outcome="cancelled",
            error=None,
        )
        self.emit(
            run_id, "run.finished", {"outcome": "cancelled", "reason": f"cancelled by {actor}"}
        )
        return run

    async def decide(
        self,
        run_id: str,
        action: str,
        actor: str,
        comment: str = "",
        exclude: dict[str, list[str]] | None = None,
        interrupt_id: str | None = None,
    ) -> RunRecord:
        """Answer a pending decision (approve, reject, amend, retry, skip, abort)."""
        run = self.get(run_id)
        if run.status != "waiting_for_approval" or not run.pending:
            raise DecisionError(
                409, f"run {run_id} is {run.status}; there is no decision waiting for {action}"
            )
        accepted = ACTION_KINDS.get(action)
        if accepted is None:
            raise DecisionError(422, f"action {action!r} is not one of {sorted(ACTION_KINDS)}")
        pending = self._pick(run, action, accepted, interrupt_id)
        value = accepted[pending.kind]
        if value not in pending.choices:
            raise DecisionError(
                409, f"the pending {pending.kind} decision accepts {pending.choices}, not {value}"
            )
        approving = pending.kind.endswith("approval") and action == "approve"
        if self.four_eyes and approving and actor == run.actor:
            raise DecisionError(
                403, f"four-eyes rule: {actor} started run {run_id} and may not approve it"
            )
        answer = {"action": value, "actor": actor, "comment": comment, "exclude": exclude or {}}
        self.emit(
            run_id,
            "decision.made",
            {
                "kind": pending.kind,
                "action": value,
                "comment": comment,
                "interrupt_id": pending.interrupt_id,
                "exclude": exclude or {},
            },
            actor=actor,
        )
        rest = [p for p in run.pending if p.interrupt_id != pending.interrupt_id]
        self._schedule(run_id, Command(resume={pending.interrupt_id: answer}))
        return self._set_status(
            run_id, "queued", actor=actor, reason=f"{pending.kind}: {value}", pending=rest
        )

    def _pick(
        self, run: RunRecord, action: str, accepted: dict[str, str], interrupt_id: str | None
    ) -> PendingDecision:
        for pending in run.pending:
            if interrupt_id is not None and pending.interrupt_id != interrupt_id:
                continue
            if pending.kind in accepted:
                return pending
        if interrupt_id is not None and all(p.interrupt_id != interrupt_id for p in run.pending):
            raise DecisionError(409, f"run {run.id} has no pending decision {interrupt_id}")
        kinds = ", ".join(p.kind for p in run.pending)
        raise DecisionError(409, f"run {run.id} waits for {kinds}; {action} does not answer it")

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        """The run's checkpoints, newest first."""
        self.get(run_id)
        out = []
        async for snap in self.graph.aget_state_history(_thread(run_id)):
            metadata = snap.metadata or {}
            out.append(
                {
                    "checkpoint_id": snap.config["configurable"]["checkpoint_id"],
                    "step": metadata.get("step"),
                    "source": metadata.get("source"),
                    "created_at": snap.created_at,
                    "next": list(snap.next),
                    "current_step": snap.values.get("current_step"),
                }
            )
        return out

    async def rerun(self, run_id: str, checkpoint_id: str, reason: str, actor: str) -> RunRecord:
        """Run again from a chosen checkpoint (a durable fork of the thread), with a reason."""
        run = self.get(run_id)
        if run.status in ACTIVE:
            raise DecisionError(409, f"run {run_id} is {run.status}; pause or cancel it first")
        history = await self.history(run_id)
        if checkpoint_id not in {h["checkpoint_id"] for h in history}:
            raise DecisionError(404, f"run {run_id} has no checkpoint {checkpoint_id}")
        config = _thread(run_id)
        config["configurable"].update(checkpoint_ns="", checkpoint_id=checkpoint_id)
        forked = await self.graph.aupdate_state(config, None)
        self.emit(
            run_id,
            "run.rerun",
            {
                "checkpoint_id": checkpoint_id,
                "fork": forked["configurable"].get("checkpoint_id"),
                "reason": reason,
            },
            actor=actor,
        )
        self._schedule(run_id)
        return self._set_status(
            run_id,
            "queued",
            actor=actor,
            reason=f"re-run: {reason}",
            pending=[],
            error=None,
            finished_at=None,
            outcome=None,
        )

    # ---- lifecycle ----

    async def adopt(self, run_id: str) -> None:
        """Take over a queued or running run that no task of this process executes."""
        run = self.get(run_id)
        if run.status not in ACTIVE:
            raise DecisionError(409, f"run {run_id} is {run.status}; nothing to adopt")
        if not self.is_executing(run_id):
            self.emit(run_id, "run.recovered", {"status": run.status})
            self._schedule(run_id)

    async def recover(self) -> list[str]:
        """Continue every run that was queued or running when the last process stopped."""
        runs = self.store.with_status({"queued", "running"})
        for run in runs:
            self.emit(run.id, "run.recovered", {"status": run.status})
            self._schedule(run.id)
        return [r.id for r in runs]

    def start_watchdog(self) -> None:
        """Enforce per-step timeouts and per-run deadlines."""
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self._enforce_timeouts()
            except Exception:  # the watchdog must outlive a failing store call
                log.exception("watchdog check failed")

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for run_id, steps in list(self._steps.items()):
            late = [name for name, since in steps.values() if now - since > self.step_timeout]
            if late and self.is_executing(run_id):
                self._intent[run_id] = f"timeout: step {late[0]} ran over {self.step_timeout:g}s"
                self._tasks[run_id].cancel()
        for run in self.store.with_status({"running", "queued"}):
            if time.time() - run.created_at > self.run_deadline and self.is_executing(run.id):
                self._intent[run.id] = f"timeout: run deadline of {self.run_deadline:g}s passed"
                self._tasks[run.id].cancel()

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Drain running runs at their next step boundary; leave them queued for the next start.

        A run whose step does not end within `timeout` is abandoned mid-step and keeps its
        status `running`, so the next start re-runs that step (nodes are check-then-act).
        """
        self.closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        for run_id, control in list(self._controls.items()):
            self._intent.setdefault(run_id, "shutdown")
            control.request_drain("shutdown")
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        logging.getLogger("enigma.integrations").removeHandler(self._retry_log)

    async def purge(self, older_than_seconds: float) -> list[str]:
        """Delete finished runs older than the retention, with checkpoints and events."""
        doomed = self.store.finished_before(time.time() - older_than_seconds)
        for run_id in doomed:
            if self.checkpointer is not None:
                await self.checkpointer.adelete_thread(run_id)
            self.store.delete(run_id)
        return doomed

    async def wait_for(self, run_id: str, statuses: set[str], timeout: float = 60.0) -> RunRecord:
        """Wait until the run reaches one of `statuses` (CLI and tests)."""
        deadline = time.monotonic() + timeout
        async with self.subscribe() as queue:
            while True:
                run = self.get(run_id)
                if run.status in statuses:
                    return run
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"run {run_id} is {run.status}, not {sorted(statuses)}")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(queue.get(), timeout=min(remaining, 0.5))

    # ---- execution ----

    def _set_status(
        self, run_id: str, status: str, actor: str | None = None, reason: str = "", **fields: Any
    ) -> RunRecord:
        before = self.get(run_id).status
        run = self.store.set_status(run_id, status, **fields)
        if before != status:
            self.emit(
                run_id, "run.status", {"from": before, "to": status, "reason": reason}, actor=actor
            )
        return run

    def _schedule(
        self, run_id: str, command: Command[Any] | None = None, checkpoint_id: str | None = None
    ) -> None:
        """Queue an execution of the run, unless a task of this process already has it.

        A task still waiting for an execution slot reads the run's status and its recorded
        decisions when it gets one, so it serves the new request as well (pause then resume
        of a queued run). A task already executing cannot take a new command: 409.
        """
        previous = self._tasks.get(run_id)
        if previous is not None and not previous.done():
            if run_id not in self._executing and command is None and checkpoint_id is None:
                return
            raise DecisionError(409, f"run {run_id} is already executing; try again shortly")
        task = asyncio.get_running_loop().create_task(self._drive(run_id, command, checkpoint_id))
        self._tasks[run_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._tasks.get(run_id) is done:
                del self._tasks[run_id]
            if not done.cancelled() and done.exception() is not None:
                log.error("run %s: execution task failed", run_id, exc_info=done.exception())

        task.add_done_callback(forget)

    async def _drive(
        self, run_id: str, command: Command[Any] | None, checkpoint_id: str | None
    ) -> None:
        self._waiting += 1
        self.metrics.queue_depth.set(self._waiting)
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            self.metrics.queue_depth.set(self._waiting)
        self.metrics.executing.inc()
        self._executing.add(run_id)
        try:
            run = self.get(run_id)
            if run.status not in ("queued", "running") or self.closing:
                return
            self._set_status(run_id, "running", reason="executing")
            await self._execute(run, command, checkpoint_id)
        finally:
            self.metrics.executing.dec()
            self._slots.release()
            self._executing.discard(run_id)
            self._controls.pop(run_id, None)
            self._steps.pop(run_id, None)
            self._intent.pop(run_id, None)

    async def _execute(
        self, run: RunRecord, command: Command[Any] | None, checkpoint_id: str | None
    ) -> None:
        config = _thread(run.id)
        config["recursion_limit"] = 500
        if checkpoint_id:
            config["configurable"]["checkpoint_id"] = checkpoint_id
        control = RunControl()
        self._controls[run.id] = control
        if self._intent.get(run.id) == "pause":  # asked for while the task was starting
            control.request_drain("pause")
        try:
            graph_input = await self._input(run, config, command, checkpoint_id)
            await self._stream(run.id, graph_input, config, control)
            await self._settle(run.id)
        except RunHandedOver:
            raise  # another process has the run now; its status is not ours to write
        except GraphDrained:
            intent = self._intent.get(run.id, "shutdown")
            status = "paused" if intent == "pause" else "queued"
            self._set_status(run.id, status, reason=f"stopped at a step boundary ({intent})")
        except asyncio.CancelledError:
            intent = self._intent.get(run.id, "")
            if intent.startswith("timeout"):
                self._set_status(
                    run.id, "failed", reason=intent, error=f"{intent}; resume to try again"
                )
            elif intent != "cancel":
                raise
        except Exception as exc:  # a bug or an unexpected failure: keep the run resumable
            log.exception("run %s failed", run.id)
            self._set_status(
                run.id,
                "failed",
                reason="error",
                error=f"{type(exc).__name__}: {exc}; resume to retry from the last step",
            )

    async def _input(
        self,
        run: RunRecord,
        config: RunnableConfig,
        command: Command[Any] | None,
        checkpoint_id: str | None,
    ) -> Any:
        """What to hand the graph: the request (new run), recorded decisions, or None."""
        if checkpoint_id is not None:
            return command
        snapshot = await self.graph.aget_state(config)
        if not snapshot.values and not snapshot.next:
            return self._initial_input(run)
        answers = self._recorded_answers(run.id, {i.id for i in snapshot.interrupts})
        if command is not None and isinstance(command.resume, dict):
            answers.update(command.resume)
        return Command(resume=answers) if answers else None

    def _recorded_answers(self, run_id: str, pending: set[str]) -> dict[str, Any]:
        """Decisions in the event log for interrupts the checkpoint still shows as pending."""
        if not pending:
            return {}
        answers: dict[str, Any] = {}
        for event in self.store.events(run_id, limit=1_000_000):
            interrupt_id = event.data.get("interrupt_id")
            if event.type == "decision.made" and interrupt_id in pending:
                answers[str(interrupt_id)] = {
                    "action": event.data.get("action"),
                    "actor": event.actor or "someone",
                    "comment": event.data.get("comment") or "",
                    "exclude": event.data.get("exclude") or {},
                }
        return answers

    def _initial_input(self, run: RunRecord) -> dict[str, Any]:
        request = RunRequest.model_validate(run.request)
        return {
            "workflow_id": run.id,
            "started_by": run.actor,
            "fix_version": request.fix_version,
            "repositories": request.repositories,
            "release_type": request.release_type,
            "sprint_name": request.sprint_name,
            "dry_run": request.dry_run,
            "policy": request.policy.model_dump(),
        }

    async def _stream(
        self, run_id: str, graph_input: Any, config: RunnableConfig, control: RunControl
    ) -> None:
        tracker = StepTracker(run_id, self.store.step_attempts(run_id), self.emit, self.metrics)
        self._steps[run_id] = tracker.running
        stream = self.graph.astream(
            graph_input,
            config,
            context=self.context,
            stream_mode="tasks",
            subgraphs=True,
            durability="sync",
            control=control,
            version="v1",
        )
        async for part in stream:
            namespace, chunk = cast(tuple[tuple[str, ...], dict[str, Any]], part)
            step = tracker.current_step
            tracker.on_chunk(namespace, chunk)
            if tracker.current_step != step:
                self.store.update(run_id, current_step=tracker.current_step)

    async def _settle(self, run_id: str) -> None:
        """After the graph stopped: waiting for a human, finished, or stopped early."""
        snapshot = await self.graph.aget_state(_thread(run_id))
        if snapshot.interrupts:
            known = {p.interrupt_id for p in self.get(run_id).pending}
            pending = [_pending(i.id, i.value) for i in snapshot.interrupts]
            self._set_status(
                run_id,
                "waiting_for_approval",
                reason=", ".join(p.kind for p in pending),
                pending=pending,
            )
            for p in pending:
                if p.interrupt_id not in known:
                    self.emit(
                        run_id,
                        "decision.requested",
                        {"kind": p.kind, "choices": p.choices, "interrupt_id": p.interrupt_id},
                    )
            return
        values = snapshot.values
        outcome = values.get("outcome")
        if snapshot.next or outcome not in _OUTCOME_STATUS:
            self._set_status(
                run_id,
                "failed",
                reason="stopped",
                error="the run stopped before it finished; resume to continue",
            )
            return
        reason = values.get("outcome_reason") or outcome
        self._set_status(
            run_id,
            _OUTCOME_STATUS[outcome],
            reason=reason,
            outcome=outcome,
            finished_at=time.time(),
            pending=[],
            current_step=values.get("current_step"),
            error=values.get("outcome_reason") if outcome == "failed" else None,
        )
        self.emit(run_id, "run.finished", {"outcome": outcome, "reason": reason})


def _pending(interrupt_id: str, value: Any) -> PendingDecision:
    if not isinstance(value, dict):
        return PendingDecision(
            interrupt_id=interrupt_id, kind="decision", choices=[], payload={"value": value}
        )
    return PendingDecision(
        interrupt_id=interrupt_id,
        kind=str(value.get("kind", "decision")),
        choices=[str(c) for c in value.get("choices", [])],
        payload=value,
    )


def _thread(run_id: str) -> RunnableConfig:
    """The LangGraph config of a run's thread."""
    return RunnableConfig(configurable={"thread_id": run_id})


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
        "steps_completed",
        "steps_failed",
    )
    summary = {k: values.get(k) for k in keys if k in values}
    summary["messages"] = [
        {
            "type": getattr(m, "type", "ai"),
            "name": getattr(m, "name", None),
            "content": str(getattr(m, "content", m)),
        }
        for m in values.get("messages", [])
    ]
    return summary


RunManagerFactory = Callable[..., RunManager]

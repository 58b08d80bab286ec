"""Who executes a run, and when: the execution pool and the embedded (one-process) scheduler.

`ExecutionPool` holds the runs this process executes now: one asyncio task per run, at most
`limit` of them past the gate at once (the rest wait, holding nothing), each with its
`Execution` handle. A run scheduled again while its task is still busy is driven once more
when the task finishes, so no request is lost and none is refused for bad timing.

`LocalScheduler` schedules straight into the pool and recovers, at start-up, every run that
was queued or running when the last process stopped. The PostgreSQL scheduler
(`cluster.LeaseScheduler`) feeds the same pool from leases instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from enigma.integrations.scope import RunScope
from enigma.runs.execution import Execution, Outage, Runner
from enigma.runs.store import RunHandedOver

if TYPE_CHECKING:
    from enigma.runs.manager import RunManager

__all__ = ["ExecutionPool", "LocalScheduler", "Scheduler"]

log = logging.getLogger("enigma.runs")
_RELAUNCH = 5.0
"""Seconds before an execution that died unexpectedly is started again."""
_GRACE = 0.5
"""How long a hard stop waits for the execution to end before it returns anyway."""


class Scheduler(Protocol):
    """Where a request to execute a run goes (this process, or the cluster's leases)."""

    pool: ExecutionPool

    async def start(self, recover: bool = True) -> None:
        """Start background work (recovery, claim loops)."""
        ...

    async def schedule(
        self, run_id: str, resume: dict[str, Any] | None = None, checkpoint_id: str | None = None
    ) -> None:
        """Have the run executed (again), with decisions to resume or from a checkpoint."""
        ...

    async def pause(self, run_id: str) -> None:
        """Ask whoever executes the run to stop at the next boundary."""
        ...

    async def cancel(self, run_id: str) -> None:
        """Stop the run's execution now; returns once no new external call can start."""
        ...

    async def shutdown(self, timeout: float) -> None:
        """Stop executing at step boundaries, leaving the runs to the next start."""
        ...


class ExecutionPool:
    """The runs this process executes now (see the module docstring)."""

    def __init__(
        self,
        manager: RunManager,
        runner: Runner,
        limit: int,
        on_exit: Callable[[Execution], None] | None = None,
    ):
        self.m = manager
        self.runner = runner
        self.limit = limit
        self.executions: dict[str, Execution] = {}
        self._gate = asyncio.Semaphore(limit)
        self._waiting = 0
        self._again: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
        self._on_exit = on_exit

    def get(self, run_id: str) -> Execution | None:
        """The run's execution in this process, if its task is alive."""
        ex = self.executions.get(run_id)
        return ex if ex is not None and ex.task is not None and not ex.task.done() else None

    def busy(self) -> int:
        """Executions alive (running or waiting at the gate)."""
        return sum(1 for ex in self.executions.values() if ex.task and not ex.task.done())

    def launch(
        self, run_id: str, resume: dict[str, Any] | None = None, checkpoint_id: str | None = None
    ) -> Execution:
        """Execute the run (or, if it is executing, once more when this execution ends)."""
        current = self.get(run_id)
        if current is not None:
            before = self._again.get(run_id, (None, None))
            merged = {**(before[0] or {}), **(resume or {})} or None
            self._again[run_id] = (merged, checkpoint_id or before[1])
            return current
        ex = Execution(run_id, scope=self._scope(run_id))
        ex.task = asyncio.get_running_loop().create_task(self._run(ex, resume, checkpoint_id))
        self.executions[run_id] = ex
        ex.task.add_done_callback(lambda task: self._exited(ex, task))
        return ex

    def _scope(self, run_id: str) -> RunScope:
        def blocked(cause: str | None) -> None:
            ex = self.executions.get(run_id)
            if ex is not None:
                self.runner.set_blocked(ex, cause)

        return RunScope(run_id, on_blocked=blocked)

    async def _run(
        self, ex: Execution, resume: dict[str, Any] | None, checkpoint_id: str | None
    ) -> None:
        self._waiting += 1
        self.m.metrics.queue_depth.set(self._waiting)
        try:
            await self._gate.acquire()
        finally:
            self._waiting -= 1
            self.m.metrics.queue_depth.set(self._waiting)
        ex.holds_slot = True
        self.m.metrics.executing.inc()
        try:
            while True:
                if ex.scope.stopped or self.m.closing:
                    return
                await self.runner.drive(ex, resume, checkpoint_id)
                if ex.run_id not in self._again or ex.scope.stopped:
                    return
                resume, checkpoint_id = self._again.pop(ex.run_id)
        finally:
            self.m.metrics.executing.dec()
            self._gate.release()

    def _exited(self, ex: Execution, task: asyncio.Task[None]) -> None:
        if self.executions.get(ex.run_id) is ex:
            del self.executions[ex.run_id]
        again = self._again.pop(ex.run_id, None)
        error = None if task.cancelled() else task.exception()
        if self._on_exit is not None:
            self._on_exit(ex)
        if self.m.closing or ex.scope.stopped:
            return
        if error is not None and not isinstance(error, RunHandedOver | Outage):
            # supervision: an execution that died is taken up again, not left orphaned
            log.error(
                "run %s: execution died; again in %.0fs", ex.run_id, _RELAUNCH, exc_info=error
            )
            loop = asyncio.get_running_loop()
            loop.call_later(_RELAUNCH, lambda: self.get(ex.run_id) or self.launch(ex.run_id))
        elif again is not None:
            self.launch(ex.run_id, *again)  # scheduled while it was busy: go again

    async def stop(self, run_id: str, intent: str, *, hard: bool) -> Execution | None:
        """Stop the run's execution (see `Execution.stop`).

        A hard stop returns once no new external call can start; it waits for the execution
        to end only briefly (a call on the wire may take its time, and is let finish).
        """
        ex = self.get(run_id)
        if ex is None:
            return None
        self._again.pop(run_id, None)
        ex.stop(intent, hard=hard)
        if hard and ex.task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                async with asyncio.timeout(_GRACE):
                    await asyncio.shield(ex.task)
        return ex

    async def drain(self, timeout: float) -> None:
        """Stop every execution at its next boundary; what is still busy after `timeout` is
        stopped hard, and what is busy even then (a call that does not return) is cancelled."""
        for ex in list(self.executions.values()):
            ex.stop("shutdown", hard=False)
        tasks = [ex.task for ex in self.executions.values() if ex.task and not ex.task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        if not pending:
            return
        for ex in list(self.executions.values()):
            ex.stop("shutdown", hard=True)
        _, pending = await asyncio.wait(pending, timeout=2)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2)


class LocalScheduler:
    """One process: scheduling is launching in the pool; recovery at start-up."""

    def __init__(self, manager: RunManager, limit: int):
        self.m = manager
        self.pool = ExecutionPool(manager, Runner(manager), limit)

    async def start(self, recover: bool = True) -> None:
        """Continue every run that was queued or running when the last process stopped."""
        if not recover:
            return
        for run in await self.m.store.with_status({"queued", "running"}):
            await self.m.hub.emit(run.id, "run.recovered", {"status": run.status})
            self.pool.launch(run.id)

    async def schedule(
        self, run_id: str, resume: dict[str, Any] | None = None, checkpoint_id: str | None = None
    ) -> None:
        """Launch (or re-launch after the current execution) in this process."""
        self.pool.launch(run_id, resume, checkpoint_id)

    async def pause(self, run_id: str) -> None:
        """Soft-stop the local execution (drain at the next boundary, end waits)."""
        await self.pool.stop(run_id, "pause", hard=False)

    async def cancel(self, run_id: str) -> None:
        """Hard-stop the local execution and wait for its task."""
        await self.pool.stop(run_id, "cancel", hard=True)

    async def shutdown(self, timeout: float) -> None:
        """Drain the pool."""
        await self.pool.drain(timeout)

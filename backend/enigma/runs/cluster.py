"""Several workers on one PostgreSQL: the same run manager with a lease scheduler and hub.

`LeaseScheduler` replaces the local scheduler: starting, resuming or answering a run records
what must happen next in the run's row and wakes the workers; whichever worker claims the
run's lease executes it, in the same `ExecutionPool` a single process uses. Three loops, each
of which survives any exception (logged, then tried again with capped backoff):

- claim: leases queued or orphaned runs while this worker has room, and launches them;
- lease: renews the leases of the runs this worker *executes* (a claim whose execution never
  started lapses by itself and is claimed again), stops an execution whose lease was lost,
  tells each run's scope until when its lease surely holds (a worker frozen past its lease
  starts no external call when it wakes up), applies pause / cancel requests written by
  other workers, and hands back runs whose execution stopped in a database outage;
- listen: LISTEN/NOTIFY for wake-ups, control requests and new events.

When the database goes away, executions stop at their next write or external call and the
runs wait in the table; when it answers again, the claim loop (of any worker) takes them up
from their last checkpoint. `ClusterHub` delivers events to this worker's SSE clients in the
table's order, ours and other workers' alike, one read per notification burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from enigma.runs.execution import Execution, Outage, Runner
from enigma.runs.hub import EventHub
from enigma.runs.models import EventRecord
from enigma.runs.pg_leases import Leases
from enigma.runs.pg_store import PgRunStore
from enigma.runs.scheduler import ExecutionPool

if TYPE_CHECKING:
    from enigma.runs.manager import RunManager

__all__ = ["ClusterHub", "LeaseScheduler"]

log = logging.getLogger("enigma.cluster")
_MARGIN = 0.25
"""Part of the lease kept in reserve: a call must not start this close to the lease's end."""


class ClusterHub(EventHub):
    """Events delivered in the table's order (see the module docstring)."""

    store: PgRunStore

    def __init__(self, store: PgRunStore, metrics: Any):
        super().__init__(store, metrics)
        self._read_upto = 0
        self._reading = False
        self._again = False

    async def start(self) -> None:
        """Live delivery starts from the newest event now."""
        self._read_upto = await self.store.last_event_id()

    def published(self, event: EventRecord) -> None:
        """Our own events come back through NOTIFY like everyone else's."""

    async def read_new(self) -> None:
        """Deliver every event committed since the last read, in id order (coalesced)."""
        if self._reading:
            self._again = True
            return
        self._reading = True
        try:
            while True:
                self._again = False
                for event in await self.store.events(None, after=self._read_upto, limit=10_000):
                    self._read_upto = event.id
                    self.deliver(event)
                if not self._again:
                    return
        finally:
            self._reading = False


class LeaseScheduler:
    """Runs shared with other workers through PostgreSQL leases (see the module docstring)."""

    def __init__(
        self,
        manager: RunManager,
        store: PgRunStore,
        *,
        limit: int,
        lease_seconds: float = 10.0,
        poll_seconds: float = 1.0,
        global_limit: int | None = None,
    ):
        self.m = manager
        self.store = store
        self.leases = Leases(store, lease_seconds)
        self.limit = limit
        self.global_limit = global_limit or limit
        self.poll_seconds = poll_seconds
        self.pool = ExecutionPool(
            manager, Runner(manager, wait_out_outages=False), limit, on_exit=self._exited
        )
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._hand_back: set[str] = set()

    # ---- the Scheduler interface ----

    async def start(self, recover: bool = True) -> None:
        """Start the claim, lease and listen loops (idempotent; orphans are claimed anyway)."""
        if self._loops:
            return
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self._forever("claim", self._claim_once)),
            loop.create_task(self._forever("lease", self._lease_once)),
            loop.create_task(self._forever("listen", self._listen_once)),
        ]

    async def schedule(
        self, run_id: str, resume: dict[str, Any] | None = None, checkpoint_id: str | None = None
    ) -> None:
        """Record the command for whichever worker claims the run, and wake the workers."""
        payload = None
        if resume is not None or checkpoint_id is not None:
            payload = {"resume": resume, "checkpoint_id": checkpoint_id}
        await self.leases.enqueue(run_id, payload)
        self._wake.set()

    async def pause(self, run_id: str) -> None:
        """Pause here if this worker executes the run, else ask the worker that does."""
        if self.pool.get(run_id) is not None:
            await self.pool.stop(run_id, "pause", hard=False)
        else:
            await self.leases.request_control(run_id, "pause")

    async def cancel(self, run_id: str) -> None:
        """Cancel here, or have the executing worker cancel and confirm it (up to 10 s)."""
        if self.pool.get(run_id) is not None:
            await self.pool.stop(run_id, "cancel", hard=True)
            return
        run = await self.m.get(run_id)
        if run.status != "running":
            return
        await self.leases.request_control(run_id, "cancel")
        for _ in range(100):
            await asyncio.sleep(0.1)
            run = await self.m.get(run_id)
            if run.status != "running":
                return
        from enigma.runs.decisions import DecisionError

        raise DecisionError(
            409, f"run {run_id} is executing on another worker that did not answer yet; try again"
        )

    async def shutdown(self, timeout: float) -> None:
        """Drain at step boundaries, then give the leases up so other workers continue at once."""
        await self.pool.drain(timeout)
        for task in self._loops:
            task.cancel()
        for run_id in list(self.store.fences):
            with contextlib.suppress(Exception):
                await self.leases.release(run_id)

    # ---- the loops ----

    async def _forever(self, name: str, once: Any) -> None:
        """Run `once` until closing; any exception is logged and tried again after a pause."""
        pause = 0.5
        while not self.m.closing:
            try:
                await once()
                pause = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("%s loop: failed; trying again in %.1fs", name, pause, exc_info=True)
                await asyncio.sleep(pause)
                pause = min(10.0, pause * 2)

    async def _claim_once(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_seconds):
                await self._wake.wait()
        self._wake.clear()
        if self.m.closing:
            return
        sent = time.monotonic()
        claimed = await self.leases.claim(self.limit - self.pool.busy(), self.global_limit)
        for run_id, command in claimed:
            command = command or {}
            ex = self.pool.launch(run_id, command.get("resume"), command.get("checkpoint_id"))
            ex.scope.lease_valid_until(sent + self.leases.ttl * (1 - _MARGIN))
            try:
                await self.m.hub.emit(run_id, "run.claimed", {"worker": self.store.worker_id})
            except Exception:  # the claim stands; the event is only for people
                log.warning("run %s: could not record the claim", run_id, exc_info=True)

    async def _lease_once(self) -> None:
        await asyncio.sleep(self.leases.ttl / 3)
        for run_id in list(self._hand_back):
            await self.leases.release(run_id)
            self._hand_back.discard(run_id)
        executing = {rid for rid in self.pool.executions if self.pool.get(rid) is not None}
        lost, until = await self.leases.renew(executing)
        for run_id in lost:
            ex = self.pool.get(run_id)
            if ex is not None:
                log.warning("run %s: lease lost; stopping here", run_id)
                ex.stop("lease_lost", hard=True)
        for run_id in executing - set(lost):
            ex = self.pool.get(run_id)
            if ex is not None:
                ex.scope.lease_valid_until(until - self.leases.ttl * _MARGIN)
        for run_id, control in await self.leases.controls_for_me():
            await self._apply_control(run_id, control)

    async def _listen_once(self) -> None:
        conn = await self.leases.listen()
        try:
            while not self.m.closing:
                notes = [n async for n in conn.notifies(timeout=self.poll_seconds, stop_after=1000)]
                channels = {n.channel for n in notes}
                if "enigma_wakeup" in channels:
                    self._wake.set()
                for note in notes:
                    if note.channel == "enigma_control":
                        run_id, _, control = note.payload.partition(":")
                        await self._apply_control(run_id, control)
                # the table is the truth: read on every poll too, in case a NOTIFY was missed
                if isinstance(self.m.hub, ClusterHub):
                    await self.m.hub.read_new()
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _apply_control(self, run_id: str, control: str) -> None:
        if self.pool.get(run_id) is None:
            return
        if control == "pause":
            await self.pool.stop(run_id, "pause", hard=False)
        elif control == "cancel":
            await self.m.cancel(run_id, actor="cluster")

    def _exited(self, ex: Execution) -> None:
        """An execution ended: forget its loss; a run stopped by an outage goes back."""
        task = ex.task
        failed = task is not None and not task.cancelled() and task.exception() is not None
        if failed and isinstance(task.exception() if task else None, Outage):
            self._hand_back.add(ex.run_id)
        asyncio.get_running_loop().create_task(self.leases.forget(ex.run_id))

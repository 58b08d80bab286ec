"""Several workers on one PostgreSQL: leases instead of local scheduling.

`ClusterRunManager` keeps every behaviour of `RunManager` and changes only who executes a run.
Starting, resuming or answering a run records what must happen next in the run's row
(`next_command`) and wakes the workers; whichever worker claims the run's lease executes it.
A background loop renews the leases this worker holds and applies pause / cancel requests that
other workers wrote; a LISTEN loop turns notifications into local wake-ups and live events for
this worker's SSE clients. When a worker dies its leases lapse and another worker claims the
runs and continues them from their checkpoints (which are in PostgreSQL too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from langgraph.types import Command

from enigma.runs.manager import DecisionError, RunManager
from enigma.runs.models import EventRecord, RunRecord
from enigma.runs.pg_store import LeaseLost, PgRunStore

__all__ = ["ClusterRunManager"]

log = logging.getLogger("enigma.cluster")


class ClusterRunManager(RunManager):
    """A run manager whose runs are shared with other workers through PostgreSQL leases."""

    store: PgRunStore

    def __init__(
        self,
        *args: Any,
        lease_seconds: float = 10.0,
        poll_seconds: float = 1.0,
        global_limit: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.local_limit = kwargs.get("max_concurrent", 50)
        self.global_limit = global_limit or self.local_limit
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._read_upto = self.store.last_event_id()  # live delivery starts from now

    # ---- scheduling goes through the database ----

    def _schedule(
        self, run_id: str, command: Command[Any] | None = None, checkpoint_id: str | None = None
    ) -> None:
        payload: dict[str, Any] | None = None
        if command is not None or checkpoint_id is not None:
            payload = {
                "resume": command.resume if command is not None else None,
                "checkpoint_id": checkpoint_id,
            }
        self.store.enqueue(run_id, payload)
        self.start_cluster()
        self._wake.set()

    async def recover(self) -> list[str]:
        """Nothing to do: orphaned runs are claimed once their lease lapses."""
        self.start_cluster()
        return []

    def start_cluster(self) -> None:
        """Start the claim, lease and listen loops (idempotent)."""
        if self._loops:
            return
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self._claim_loop()),
            loop.create_task(self._lease_loop()),
            loop.create_task(self._listen_loop()),
        ]

    async def _claim_loop(self) -> None:
        while not self.closing:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            self._wake.clear()
            if self.closing:
                return
            room = self.local_limit - sum(1 for t in self._tasks.values() if not t.done())
            try:
                claimed = await asyncio.to_thread(
                    self.store.claim, self.lease_seconds, room, self.global_limit
                )
            except psycopg.Error:
                log.exception("claiming runs failed; trying again")
                continue
            for run_id, command in claimed:
                self.emit(run_id, "run.claimed", {"worker": self.store.worker_id})
                resume: Command[Any] | None = None
                if command and command.get("resume") is not None:
                    resume = Command(resume=command["resume"])
                checkpoint = command.get("checkpoint_id") if command else None
                RunManager._schedule(self, run_id, resume, checkpoint)

    async def _lease_loop(self) -> None:
        while not self.closing:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                lost = await asyncio.to_thread(self.store.renew, self.lease_seconds)
                controls = await asyncio.to_thread(self.store.controls_for_me)
            except psycopg.Error:
                log.exception("renewing leases failed")
                continue
            for run_id in lost:
                self._stop_local(run_id, "lease_lost")
            for run_id, control in controls:
                await self._apply_control(run_id, control)

    async def _listen_loop(self) -> None:
        while not self.closing:
            try:
                conn = await asyncio.to_thread(self.store.listen_connection)
            except psycopg.Error:
                await asyncio.sleep(self.poll_seconds)
                continue
            try:
                while not self.closing:
                    notes = await asyncio.to_thread(_drain_notifies, conn, self.poll_seconds)
                    channels = {n.channel for n in notes}
                    if "enigma_wakeup" in channels:
                        self._wake.set()
                    for note in notes:
                        if note.channel == "enigma_control":
                            run_id, _, control = note.payload.partition(":")
                            await self._apply_control(run_id, control)
                    # events: the table is the truth; also read on every poll in case a
                    # notification was missed
                    self._deliver_new_events()
            except psycopg.Error:
                log.warning("listen connection lost; reconnecting")
            finally:
                with contextlib.suppress(Exception):
                    conn.close()

    def _deliver_new_events(self) -> None:
        """Deliver every event committed since the last read, ours and other workers', in id order.

        Ids are committed in id order (advisory lock in `append_event`), so reading after the
        last delivered id never skips one. Pushing our own events straight to subscribers would
        let one overtake an earlier event of another worker still on its way.
        """
        for event in self.store.events(None, after=self._read_upto, limit=10_000):
            self._read_upto = event.id
            self._deliver(event)

    def _publish(self, event: EventRecord) -> None:
        self._deliver_new_events()

    # ---- commands for runs executing on another worker ----

    async def _apply_control(self, run_id: str, control: str) -> None:
        if not self.is_executing(run_id):
            return
        if control == "pause":
            self._intent[run_id] = "pause"
            ctl = self._controls.get(run_id)
            if ctl is not None:
                ctl.request_drain("pause")
        elif control == "cancel":
            await RunManager.cancel(self, run_id, actor="cluster")

    def _stop_local(self, run_id: str, reason: str) -> None:
        task = self._tasks.get(run_id)
        if task is not None and not task.done():
            log.warning("run %s: %s; stopping here", run_id, reason)
            self._intent[run_id] = "lease_lost"
            task.cancel()

    async def pause(self, run_id: str, actor: str) -> RunRecord:
        run = self.get(run_id)
        if run.status == "running" and not self.is_executing(run_id):
            self.store.request_control(run_id, "pause")
            self.emit(run_id, "run.pause_requested", actor=actor)
            return run
        return await super().pause(run_id, actor)

    async def cancel(self, run_id: str, actor: str) -> RunRecord:
        run = self.get(run_id)
        if run.status == "running" and not self.is_executing(run_id):
            self.store.request_control(run_id, "cancel")
            for _ in range(100):  # the owner cancels within a lease period; report its answer
                await asyncio.sleep(0.1)
                run = self.get(run_id)
                if run.status == "cancelled":
                    return run
            raise DecisionError(
                409,
                f"run {run_id} is executing on another worker that did not answer yet; try again",
            )
        return await super().cancel(run_id, actor)

    # ---- execution: a lost lease stops quietly ----

    async def _drive(
        self, run_id: str, command: Command[Any] | None, checkpoint_id: str | None
    ) -> None:
        try:
            await super()._drive(run_id, command, checkpoint_id)
        except LeaseLost as exc:
            log.warning("%s", exc)
        except asyncio.CancelledError:
            if self._intent.get(run_id) != "lease_lost" and not self.closing:
                raise
        finally:
            self.store.forget_loss(run_id)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Drain at step boundaries, then give the leases up so other workers continue at once."""
        await super().shutdown(timeout)
        for task in self._loops:
            task.cancel()
        for run in self.store.with_status({"queued", "running"}):
            if self.store.holds(run.id):
                self.store.release(run.id)


def _drain_notifies(conn: psycopg.Connection[Any], timeout: float) -> list[psycopg.Notify]:
    """Wait up to `timeout` for a notification, then take whatever else is already there."""
    notes = list(conn.notifies(timeout=timeout, stop_after=1))
    if notes:
        notes += list(conn.notifies(timeout=0.005, stop_after=1000))
    return notes

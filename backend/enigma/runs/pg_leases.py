"""Leases on runs: which worker executes which run, claimed with `FOR UPDATE SKIP LOCKED`.

A worker claims queued or orphaned runs (lease lapsed), bumping each run's `fence`; it renews
the leases of the runs it *executes* (never of a claim whose execution did not start, so such
a claim lapses and any worker takes the run again); it gives a lease up at an interrupt, a
pause, the end (the store clears it with the status) or shutdown. All fence bookkeeping of a
worker happens under one lock, so a renew racing a re-claim of the same run cannot mistake
the worker's own new fence for a takeover.

Commands travel through the table and NOTIFY: `next_command` (the resume value or checkpoint
the next executor must use), `control` (pause / cancel for whoever executes the run), and
the channels `enigma_wakeup`, `enigma_control` and `enigma_events`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg

from enigma.runs.pg_schema import CLAIM_LOCK
from enigma.runs.pg_store import PgRunStore

__all__ = ["Claim", "Leases"]

Claim = tuple[str, dict[str, Any] | None]
"""A claimed run: its id and the command recorded for its next execution."""


class Leases:
    """Lease operations of one worker on the shared store."""

    def __init__(self, store: PgRunStore, ttl: float):
        self.store = store
        self.ttl = ttl
        self.lock = asyncio.Lock()

    @property
    def worker_id(self) -> str:
        """This worker's id (host:pid:random)."""
        return self.store.worker_id

    async def enqueue(self, run_id: str, command: dict[str, Any] | None) -> None:
        """Record what the next executor must do (resume value, checkpoint) and wake workers."""
        async with self.store.connection() as conn:
            await conn.execute(
                "UPDATE enigma_runs SET next_command=%s WHERE id=%s",
                (json.dumps(command) if command is not None else None, run_id),
            )
            await conn.execute("SELECT pg_notify('enigma_wakeup', %s)", (run_id,))

    async def claim(self, limit: int, global_limit: int) -> list[Claim]:
        """Lease up to `limit` queued or orphaned runs, never more than `global_limit` running."""
        if limit <= 0:
            return []
        async with self.lock, self.store.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))
            row = await (
                await conn.execute(
                    "SELECT count(*) FROM enigma_runs WHERE status='running' "
                    "AND lease_until > now()"
                )
            ).fetchone()
            room = max(0, min(limit, global_limit - (int(row[0]) if row else 0)))
            if room == 0:
                return []
            rows = await (
                await conn.execute(
                    "UPDATE enigma_runs r SET lease_owner=%(me)s, "
                    "lease_until=now() + make_interval(secs => %(ttl)s), fence=r.fence + 1, "
                    "next_command=NULL "
                    "FROM (SELECT id FROM enigma_runs WHERE status IN ('queued', 'running') "
                    "AND (lease_until IS NULL OR lease_until < now()) "
                    "ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT %(n)s) c "
                    "WHERE r.id = c.id RETURNING r.id, r.fence, r.next_command",
                    {"me": self.worker_id, "ttl": self.ttl, "n": room},
                )
            ).fetchall()
            for run_id, fence, _ in rows:
                self.store.fences[str(run_id)] = int(fence)
                self.store.lost.pop(str(run_id), None)
        return [(str(r[0]), r[2]) for r in rows]

    async def renew(self, executing: set[str]) -> tuple[list[str], float]:
        """Extend the leases of the runs this worker executes.

        Returns the runs whose lease was lost, and the monotonic time until which the others
        are surely still ours (measured from before the request, so never optimistic).
        """
        sent = time.monotonic()
        async with self.lock:
            held = {rid: fence for rid, fence in self.store.fences.items() if rid in executing}
            if not held:
                return [], sent + self.ttl
            async with self.store.connection() as conn:
                rows = await (
                    await conn.execute(
                        "UPDATE enigma_runs SET lease_until=now() + make_interval(secs => %s) "
                        "WHERE lease_owner=%s AND id = ANY(%s) AND fence = ANY(%s) "
                        "RETURNING id, fence",
                        (self.ttl, self.worker_id, list(held), list(held.values())),
                    )
                ).fetchall()
            kept = {str(r[0]): int(r[1]) for r in rows}
            lost = [rid for rid, fence in held.items() if kept.get(rid) != fence]
            for rid in lost:
                if self.store.fences.get(rid) == held[rid]:
                    self.store.lost[rid] = self.store.fences.pop(rid)
        return lost, sent + self.ttl

    async def release(self, run_id: str) -> None:
        """Give a lease up (shutdown, or a run handed back in an outage): claimable at once."""
        async with self.lock:
            fence = self.store.fences.pop(run_id, None)
            if fence is None:
                return
            async with self.store.connection() as conn:
                await conn.execute(
                    "UPDATE enigma_runs SET lease_owner=NULL, lease_until=NULL "
                    "WHERE id=%s AND lease_owner=%s AND fence=%s",
                    (run_id, self.worker_id, fence),
                )

    async def forget(self, run_id: str) -> None:
        """This worker's execution of the run ended: drop its bookkeeping for the run."""
        async with self.lock:
            self.store.lost.pop(run_id, None)

    async def request_control(self, run_id: str, control: str) -> None:
        """Ask whichever worker executes the run to pause or cancel it."""
        async with self.store.connection() as conn:
            await conn.execute("UPDATE enigma_runs SET control=%s WHERE id=%s", (control, run_id))
            await conn.execute("SELECT pg_notify('enigma_control', %s)", (f"{run_id}:{control}",))

    async def controls_for_me(self) -> list[tuple[str, str]]:
        """Pause / cancel requests for runs this worker executes (the table is the truth)."""
        async with self.store.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT id, control FROM enigma_runs WHERE lease_owner=%s "
                    "AND control IS NOT NULL",
                    (self.worker_id,),
                )
            ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    async def listen(self) -> psycopg.AsyncConnection[Any]:
        """A dedicated connection listening to Enigma's channels."""
        conn = await psycopg.AsyncConnection.connect(
            self.store.dsn, autocommit=True, options=self.store.options, connect_timeout=3
        )
        for channel in ("enigma_events", "enigma_wakeup", "enigma_control"):
            await conn.execute(f"LISTEN {channel}")
        return conn

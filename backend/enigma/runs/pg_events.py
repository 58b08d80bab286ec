"""The PostgreSQL event log: ids in commit order, inserts grouped, the outbox written with them.

Events get ids in commit order, so a reader resuming "after id N" can never skip one that
commits late. Writes are grouped: events queued in the same moment (by any of this worker's
runs) are inserted in one transaction that takes the ordering lock once, with the outbox rows
they cause, and one NOTIFY tells the other workers to read. No lock per event and no query per
event to publish.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection
from typing import Any

from enigma.runs.models import EventRecord
from enigma.runs.pg_base import LeaseLost, PgBase
from enigma.runs.pg_schema import EVENT_LOCK
from enigma.runs.store import Notify

__all__ = ["PgEvents"]

_EVENT = "SELECT id, run_id, at, type, step, repo, actor, data, worker FROM enigma_events"


def _record(event_id: int, row: tuple[Any, ...]) -> EventRecord:
    run_id, at, type, step, repo, actor, body, worker = row
    return EventRecord(
        id=event_id,
        run_id=run_id,
        at=at,
        type=type,
        step=step,
        repo=repo,
        actor=actor,
        data=json.loads(body),
        worker=worker,
    )


def _event(r: tuple[Any, ...]) -> EventRecord:
    return EventRecord(
        id=r[0],
        run_id=r[1],
        at=r[2],
        type=r[3],
        step=r[4],
        repo=r[5],
        actor=r[6],
        data=r[7],
        worker=r[8],
    )


class PgEvents(PgBase):
    """The event log of `PgRunStore`."""

    async def append_event(
        self,
        run_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        step: str | None = None,
        repo: str | None = None,
        actor: str | None = None,
        notify: Notify | None = None,
    ) -> EventRecord:
        if run_id in self.lost:
            raise LeaseLost(f"run {run_id}: this worker lost its lease")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[EventRecord] = loop.create_future()
        body = json.dumps(data or {}, default=str)
        row = (run_id, time.time(), type, step, repo, actor, body, self.worker_id)
        self._events.append((row, future))
        if notify is not None:
            self._notify[id(future)] = notify
        if not self._flushing:
            self._flushing = True
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._events:
                batch, self._events = self._events, []
                try:
                    records = await self._insert(batch)
                except BaseException as exc:  # every waiter hears it
                    for _, future in batch:
                        self._notify.pop(id(future), None)
                        if not future.done():
                            future.set_exception(
                                exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                            )
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), record in zip(batch, records, strict=True):
                    if future.done():
                        continue
                    if isinstance(record, Exception):
                        future.set_exception(record)
                    else:
                        future.set_result(record)
        finally:
            self._flushing = False

    async def _insert(
        self, batch: list[tuple[tuple[Any, ...], asyncio.Future[EventRecord]]]
    ) -> list[EventRecord | Exception]:
        runs = sorted({row[0] for row, _ in batch if row[0] in self.fences or row[0] in self.lost})
        out: list[EventRecord | Exception] = []
        async with self.connection() as conn, conn.transaction():
            refused: dict[str, Exception] = {}
            if runs:
                owners = await (
                    await conn.execute(
                        "SELECT id, lease_owner, fence FROM enigma_runs WHERE id = ANY(%s)", (runs,)
                    )
                ).fetchall()
                for run_id, owner, fence in owners:
                    try:
                        self.check_fence(run_id, owner, fence)
                    except LeaseLost as exc:
                        refused[run_id] = exc
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENT_LOCK,))
            rows = [row for row, _ in batch if row[0] not in refused]
            ids: list[int] = []
            if rows:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO enigma_events "
                        "(run_id, at, type, step, repo, actor, data, worker) "
                        "VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                        rows,
                        returning=True,
                    )
                    while True:
                        fetched = await cur.fetchone()
                        assert fetched is not None
                        ids.append(int(fetched[0]))
                        if not cur.nextset():
                            break
            it = iter(ids)
            outbox: list[tuple[Any, ...]] = []
            for row, future in batch:
                if row[0] in refused:
                    out.append(refused[row[0]])
                    continue
                record = _record(next(it), row)
                out.append(record)
                notify = self._notify.pop(id(future), None)
                for entry in notify(record) if notify is not None else []:
                    outbox.append(
                        (
                            entry.key,
                            record.run_id,
                            record.id,
                            entry.notification["type"],
                            entry.channel,
                            json.dumps(entry.notification),
                            record.at,
                            record.at,
                        )
                    )
            if outbox:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO enigma_outbox (id, run_id, event_id, type, channel, "
                        "notification, created_at, next_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) "
                        "ON CONFLICT (id) DO NOTHING",
                        outbox,
                    )
            if ids:
                await conn.execute("SELECT pg_notify('enigma_events', %s)", (str(max(ids)),))
        return out

    async def events(
        self,
        run_id: str | None,
        after: int = 0,
        limit: int = 1000,
        types: Collection[str] | None = None,
    ) -> list[EventRecord]:
        rows = await self._all(
            f"{_EVENT} WHERE id > %s AND (%s::text IS NULL OR run_id = %s) "
            "AND (%s::text[] IS NULL OR type = ANY(%s)) ORDER BY id LIMIT %s",
            (after, run_id, run_id, sorted(types) if types else None, sorted(types or []), limit),
        )
        return [_event(r) for r in rows]

    async def last_event_id(self) -> int:
        """The newest event id (0 for none)."""
        row = await self._one("SELECT coalesce(max(id), 0) FROM enigma_events")
        return int(row[0]) if row else 0

    async def step_attempts(self, run_id: str) -> dict[tuple[str, str | None], int]:
        rows = await self._all(
            "SELECT step, repo, sum(CASE type WHEN 'step.started' THEN 1 ELSE -1 END) "
            "FROM enigma_events WHERE run_id=%s "
            "AND type IN ('step.started', 'step.waiting') GROUP BY step, repo",
            (run_id,),
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

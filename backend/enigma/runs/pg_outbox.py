"""The PostgreSQL outbox and decision deadlines: each claimed so one worker acts on it."""

from __future__ import annotations

from typing import Any

from enigma.notify.outbox import OutboxItem
from enigma.runs.models import RunRecord
from enigma.runs.pg_base import PgBase
from enigma.runs.store import RUN_COLUMNS, outbox_row, run_from_row

__all__ = ["PgOutbox"]

_SELECT = f"SELECT {RUN_COLUMNS} FROM enigma_runs"  # noqa: S608 (fixed column names)


def _run(row: tuple[Any, ...]) -> RunRecord:
    return run_from_row(row, decode=lambda value: value)


class PgOutbox(PgBase):
    """Outbox claims and results, notifications for the API, deadlines (of `PgRunStore`)."""

    async def outbox_due(self, now: float, limit: int, lease: float) -> list[OutboxItem]:
        async with self.connection() as conn, conn.transaction():
            rows = await (
                await conn.execute(
                    "UPDATE enigma_outbox o SET claimed_until = %(until)s FROM ("
                    "SELECT id FROM enigma_outbox WHERE status = 'pending' AND next_at <= %(now)s "
                    "AND (claimed_until IS NULL OR claimed_until < %(now)s) ORDER BY created_at "
                    "FOR UPDATE SKIP LOCKED LIMIT %(n)s) c WHERE o.id = c.id "
                    "RETURNING o.id, o.channel, o.notification, o.attempts, o.created_at",
                    {"now": now, "until": now + lease, "n": limit},
                )
            ).fetchall()
        return [
            OutboxItem(id=r[0], channel=r[1], notification=r[2], attempts=r[3], created_at=r[4])
            for r in sorted(rows, key=lambda r: r[4])
        ]

    async def outbox_result(
        self,
        item_id: str,
        status: str,
        attempts: int,
        *,
        at: float | None = None,
        next_at: float | None = None,
        error: str | None = None,
    ) -> None:
        async with self.connection() as conn:
            await conn.execute(
                "UPDATE enigma_outbox SET status = %s, attempts = %s, delivered_at = %s, "
                "next_at = coalesce(%s, next_at), last_error = %s, claimed_until = NULL "
                "WHERE id = %s",
                (status, attempts, at, next_at, error, item_id),
            )

    async def notifications(
        self, run_id: str | None, status: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT id, run_id, event_id, type, channel, created_at, attempts, status, "
            "last_error, delivered_at, next_at, notification->'decision'->>'kind' "
            "FROM enigma_outbox "
            "WHERE (%(r)s::text IS NULL OR run_id = %(r)s) "
            "AND (%(s)s::text IS NULL OR status = %(s)s) ORDER BY created_at DESC, id LIMIT %(n)s",
            {"r": run_id, "s": status, "n": limit},
        )
        return [outbox_row(r) for r in rows]

    async def outbox_counts(self, run_id: str | None = None) -> dict[str, int]:
        rows = await self._all(
            "SELECT status, count(*) FROM enigma_outbox "
            "WHERE (%(r)s::text IS NULL OR run_id = %(r)s) GROUP BY status",
            {"r": run_id},
        )
        return {str(r[0]): int(r[1]) for r in rows}

    # ---- deadlines ----

    async def due_deadlines(self, now: float) -> list[RunRecord]:
        rows = await self._all(
            f"{_SELECT} WHERE status = 'waiting_for_approval' AND deadline_at <= %s "
            "ORDER BY deadline_at",
            (now,),
        )
        return [_run(r) for r in rows]

    async def move_deadline(self, run_id: str, expected: float, new: float | None) -> bool:
        row = await self._one(
            "UPDATE enigma_runs SET deadline_at = %s WHERE id = %s AND deadline_at = %s "
            "RETURNING id",
            (new, run_id, expected),
        )
        return row is not None

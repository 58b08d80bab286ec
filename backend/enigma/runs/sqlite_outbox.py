"""The SQLite outbox, decision deadlines and stored policies (part of `SqliteRunStore`)."""

from __future__ import annotations

import json
import time
from typing import Any

from enigma.notify.outbox import OutboxItem
from enigma.runs.models import RunRecord
from enigma.runs.sqlite_base import SqliteBase
from enigma.runs.sqlite_schema import Db
from enigma.runs.store import RUN_COLUMNS, outbox_row, run_from_row

__all__ = ["SqliteOutbox"]

_SELECT = f"SELECT {RUN_COLUMNS} FROM runs"  # noqa: S608 (fixed column names)
_OUTBOX = (
    "SELECT id, run_id, event_id, type, channel, created_at, attempts, status, last_error, "
    "delivered_at, next_at, json_extract(notification, '$.decision.kind') FROM outbox"
)


class SqliteOutbox(SqliteBase):
    """Outbox claims and results, notifications for the API, deadlines, policies by hash."""

    async def outbox_due(self, now: float, limit: int, lease: float) -> list[OutboxItem]:
        def claim(db: Db) -> list[OutboxItem]:
            rows = db.execute(
                "SELECT id, channel, notification, attempts, created_at FROM outbox "
                "WHERE status = 'pending' AND next_at <= ? "
                "AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY created_at LIMIT ?",
                (now, now, limit),
            ).fetchall()
            for row in rows:
                db.execute(
                    "UPDATE outbox SET claimed_until = ? WHERE id = ?", (now + lease, row[0])
                )
            return [
                OutboxItem(
                    id=r[0],
                    channel=r[1],
                    notification=json.loads(r[2]),
                    attempts=r[3],
                    created_at=r[4],
                )
                for r in rows
            ]

        return await self._write(claim)

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
        await self._write(
            lambda db: db.execute(
                "UPDATE outbox SET status = ?, attempts = ?, delivered_at = ?, "
                "next_at = coalesce(?, next_at), last_error = ?, claimed_until = NULL "
                "WHERE id = ?",
                (status, attempts, at, next_at, error, item_id),
            )
        )

    async def notifications(
        self, run_id: str | None, status: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self._read(
            lambda db: db.execute(
                f"{_OUTBOX} WHERE (? IS NULL OR run_id = ?) AND (? IS NULL OR status = ?) "
                "ORDER BY created_at DESC, id LIMIT ?",
                (run_id, run_id, status, status, limit),
            ).fetchall()
        )
        return [outbox_row(r) for r in rows]

    async def outbox_counts(self, run_id: str | None = None) -> dict[str, int]:
        rows = await self._read(
            lambda db: db.execute(
                "SELECT status, count(*) FROM outbox WHERE (? IS NULL OR run_id = ?) "
                "GROUP BY status",
                (run_id, run_id),
            ).fetchall()
        )
        return {str(r[0]): int(r[1]) for r in rows}

    # ---- deadlines ----

    async def due_deadlines(self, now: float) -> list[RunRecord]:
        rows = await self._read(
            lambda db: db.execute(
                f"{_SELECT} WHERE status = 'waiting_for_approval' AND deadline_at <= ? "
                "ORDER BY deadline_at",
                (now,),
            ).fetchall()
        )
        return [run_from_row(r) for r in rows]

    async def move_deadline(self, run_id: str, expected: float, new: float | None) -> bool:
        def move(db: Db) -> bool:
            cur = db.execute(
                "UPDATE runs SET deadline_at = ? WHERE id = ? AND deadline_at = ?",
                (new, run_id, expected),
            )
            return cur.rowcount == 1

        return await self._write(move)

    async def save_policy(self, policy_hash: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, sort_keys=True, default=str)
        await self._write(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO policies (hash, body, created_at) VALUES (?, ?, ?)",
                (policy_hash, text, time.time()),
            )
        )

    async def policy(self, policy_hash: str) -> dict[str, Any] | None:
        row = await self._read(
            lambda db: db.execute(
                "SELECT body FROM policies WHERE hash=?", (policy_hash,)
            ).fetchone()
        )
        return None if row is None else dict(json.loads(row[0]))

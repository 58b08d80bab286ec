"""What the run manager needs from storage: one row per run and the append-only event log.

Two implementations: SQLite (`sqlite_store.py`, the embedded default) and PostgreSQL
(`pg_store.py`, scale-out). Both are async and never block the event loop: SQLite runs on
threads of its own with writes grouped into one commit, PostgreSQL on psycopg's async pool.

When the database cannot be reached or written (server down, disk full, data directory not
writable) a store raises `StoreUnavailable` with a cause a person can act on. Callers treat it
as an outage to wait out (the API answers 503 with Retry-After), never as a run failure.
"""

from __future__ import annotations

import errno
import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from enigma.notify.outbox import OutboxEntry, OutboxItem
from enigma.runs.models import EventRecord, PendingDecision, RunRecord

__all__ = [
    "LIVE",
    "RUN_COLUMNS",
    "UPDATABLE_FIELDS",
    "WAITING",
    "IllegalTransition",
    "NewEvent",
    "RunHandedOver",
    "RunStore",
    "StoreUnavailable",
    "VersionBusy",
    "encode_field",
    "outbox_row",
    "run_from_row",
    "sqlite_cause",
]

RUN_COLUMNS = (
    "id, status, fix_version, release_type, repositories, sprint_name, dry_run, actor, "
    "created_at, updated_at, finished_at, current_step, error, outcome, pending, request, "
    "blocked, detail, policy_hash, tickets, deadline_at"
)
UPDATABLE_FIELDS = frozenset(
    {
        "current_step",
        "error",
        "outcome",
        "pending",
        "finished_at",
        "blocked",
        "detail",
        "policy_hash",
        "tickets",
        "deadline_at",
    }
)
_JSON_FIELDS = frozenset({"pending", "detail", "tickets"})


Notify = Callable[[EventRecord], list[OutboxEntry]]
"""The notifications an event causes, given the event (with its id): written with it."""

LIVE = ("queued", "running", "waiting_for_approval", "paused")
"""Statuses of a run that is under way: one such run per fix version at a time."""
WAITING = frozenset({"waiting_for_approval"})
"""`only_from` of the moves a decision races for (see decisions.decide and settle)."""


@dataclass(frozen=True)
class NewEvent:
    """One event of a burst for `append_events` (the arguments `append_event` takes)."""

    type: str
    data: dict[str, Any]
    step: str | None = None
    repo: str | None = None


class VersionBusy(Exception):
    """Another run of the same fix version is under way (`run_id`, `status`)."""

    def __init__(self, fix_version: str, run_id: str, status: str):
        super().__init__(f"run {run_id} is releasing {fix_version} ({status})")
        self.fix_version = fix_version
        self.run_id = run_id
        self.status = status


class StoreUnavailable(Exception):
    """The database cannot be reached or written now; `cause` says why, for people."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


class RunHandedOver(Exception):
    """Another process executes this run now (a store with leases says so): stop quietly.

    The executor must not write the run's status after this: it is no longer its run.
    """


class IllegalTransition(Exception):
    """The run's status does not allow the requested change."""

    def __init__(self, run_id: str, current: str, wanted: str):
        super().__init__(f"run {run_id} is {current}; it cannot become {wanted}")
        self.current = current
        self.wanted = wanted


class RunStore(ABC):
    """Runs and their events (see the module docstring for the two implementations)."""

    @abstractmethod
    async def create(self, run: RunRecord, idempotency_key: str | None) -> tuple[RunRecord, bool]:
        """Insert a run; with a known idempotency key return the existing run and False."""

    @abstractmethod
    async def get(self, run_id: str) -> RunRecord | None:
        """One run, or None."""

    @abstractmethod
    async def list_runs(
        self,
        status: str | None,
        fix_version: str | None,
        limit: int,
        offset: int,
        query: str | None = None,
    ) -> tuple[list[RunRecord], int]:
        """A page of runs, newest first, and the total that match.

        `query` matches a run id, a fix version, a repository or a ticket key exactly.
        """

    @abstractmethod
    async def with_status(self, statuses: set[str]) -> list[RunRecord]:
        """Every run in one of `statuses`, oldest first."""

    @abstractmethod
    async def set_status(
        self, run_id: str, status: str, only_from: frozenset[str] | None = None, **fields: Any
    ) -> RunRecord:
        """Change status (only legal transitions) and other fields in one write.

        A run becomes live (queued, running, waiting, paused) only while no other run of its
        fix version is live (`VersionBusy`); `create` checks the same. With `only_from`, the
        change happens only from one of those statuses (`IllegalTransition` otherwise), read
        and written in one transaction: of two writers racing for one change, one wins.
        """

    @abstractmethod
    async def update(self, run_id: str, **fields: Any) -> None:
        """Change fields other than status."""

    @abstractmethod
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
        """Append to the event log; ids only go up, in commit order.

        `notify` gives the outbox rows the event causes; they are written in the same
        transaction as the event, so no event's notification is lost and none is invented.
        """

    async def append_events(
        self, run_id: str, events: list[NewEvent], fields: dict[str, Any]
    ) -> list[EventRecord]:
        """Append a burst of one run's events, none of which notifies anyone (a run's step
        events), in order, and change `fields` of its row (as `update`). The SQLite store
        does it all in one write; this default, one call after another."""
        records = [
            await self.append_event(run_id, e.type, e.data, step=e.step, repo=e.repo)
            for e in events
        ]
        if fields:
            await self.update(run_id, **fields)
        return records

    @abstractmethod
    async def events(
        self,
        run_id: str | None,
        after: int = 0,
        limit: int = 1000,
        types: Collection[str] | None = None,
    ) -> list[EventRecord]:
        """Events after an id, oldest first, for one run or all (of `types`, when given)."""

    @abstractmethod
    async def step_attempts(self, run_id: str) -> dict[tuple[str, str | None], int]:
        """Attempts of each (step, repository): starts, less resumes after a human answer."""

    @abstractmethod
    async def finished_before(self, timestamp: float) -> list[str]:
        """Ids of runs that finished before `timestamp`."""

    @abstractmethod
    async def delete(self, run_id: str) -> None:
        """Remove a run and its events."""

    # ---- the outbox (see enigma.notify.outbox) ----

    @abstractmethod
    async def outbox_due(self, now: float, limit: int, lease: float) -> list[OutboxItem]:
        """Claim due pending rows (lease until now + `lease`), oldest first."""

    @abstractmethod
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
        """Record a delivery attempt: delivered / pending again at `next_at` / undeliverable."""

    @abstractmethod
    async def notifications(
        self, run_id: str | None, status: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Outbox rows, newest first, without their bodies' secrets (bodies carry none)."""

    @abstractmethod
    async def outbox_counts(self, run_id: str | None = None) -> dict[str, int]:
        """Rows per status (pending, delivered, undeliverable), of one run or all."""

    # ---- decision deadlines ----

    @abstractmethod
    async def due_deadlines(self, now: float) -> list[RunRecord]:
        """Runs waiting for a decision whose next deadline (reminder or expiry) has come."""

    @abstractmethod
    async def move_deadline(self, run_id: str, expected: float, new: float | None) -> bool:
        """Set the run's next deadline if it still is `expected` (one worker acts on it)."""

    @abstractmethod
    async def save_policy(self, policy_hash: str, body: dict[str, Any]) -> None:
        """Keep a release policy by its hash (runs record the hash they run under)."""

    @abstractmethod
    async def policy(self, policy_hash: str) -> dict[str, Any] | None:
        """A kept release policy, or None."""

    @abstractmethod
    async def probe(self) -> None:
        """Raise `StoreUnavailable` unless a write would succeed now (readiness)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections and threads."""


def run_from_row(row: tuple[Any, ...], decode: Callable[[Any], Any] = json.loads) -> RunRecord:
    """A run from a row of RUN_COLUMNS (`decode` turns a JSON column into Python)."""
    return RunRecord(
        id=row[0],
        status=row[1],
        fix_version=row[2],
        release_type=row[3],
        repositories=decode(row[4]),
        sprint_name=row[5],
        dry_run=bool(row[6]),
        actor=row[7],
        created_at=row[8],
        updated_at=row[9],
        finished_at=row[10],
        current_step=row[11],
        error=row[12],
        outcome=row[13],
        pending=[PendingDecision.model_validate(p) for p in decode(row[14])],
        request=decode(row[15]),
        blocked=row[16],
        detail=decode(row[17]) if row[17] is not None else {},
        policy_hash=row[18],
        tickets=decode(row[19]) if row[19] is not None else [],
        deadline_at=row[20],
    )


def run_values(run: RunRecord) -> tuple[Any, ...]:
    """A new run as the values of RUN_COLUMNS (JSON columns encoded)."""
    return (
        run.id,
        run.status,
        run.fix_version,
        run.release_type,
        json.dumps(run.repositories),
        run.sprint_name,
        run.dry_run,
        run.actor,
        run.created_at,
        run.updated_at,
        run.finished_at,
        run.current_step,
        run.error,
        run.outcome,
        "[]",
        json.dumps(run.request),
        run.blocked,
        json.dumps(run.detail),
        run.policy_hash,
        json.dumps(run.tickets),
        run.deadline_at,
    )


def outbox_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """One notification as `GET /api/notifications` shows it (no body: it is the event)."""
    names = (
        "id",
        "run_id",
        "event_id",
        "type",
        "channel",
        "created_at",
        "attempts",
        "status",
        "last_error",
        "delivered_at",
        "next_at",
        "kind",
    )
    return dict(zip(names, row, strict=True))


def encode_field(name: str, value: Any) -> Any:
    """A field value as the database stores it (decisions, details and tickets as JSON)."""
    if name == "pending":
        return json.dumps([p.model_dump() if hasattr(p, "model_dump") else p for p in value])
    if name in _JSON_FIELDS:
        return json.dumps(value, default=str)
    return value


def check_fields(fields: dict[str, Any]) -> None:
    """ValueError for a field the run row does not let callers change."""
    unknown = set(fields) - UPDATABLE_FIELDS - {"status"}
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")


def sqlite_cause(exc: BaseException) -> str | None:
    """The outage an SQLite or file-system error means (None: not an outage, a bug)."""
    if isinstance(exc, OSError) and not isinstance(exc, sqlite3.Error):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "data directory full"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "data directory not writable"
        return f"data directory unavailable ({exc.strerror or exc})"
    if not isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        return None
    text = str(exc).lower()
    if "full" in text:
        return "data directory full"
    if "readonly" in text or "read-only" in text or "permission" in text:
        return "data directory not writable"
    if "locked" in text or "busy" in text:
        return "database busy"
    if "disk i/o" in text or "unable to open" in text or "malformed" in text:
        return f"database unavailable ({exc})"
    return None

"""What a notification says: one JSON-able model, built from plain inputs, one builder per event.

The body a webhook receives is exactly `Notification.to_json()`; Slack and e-mail render it
as text (`text.py`). Nothing here imports the run manager: the integrator passes the run's
identity (`RunRef`), the decision or the outcome, and the event id.

The event id is the outbox key and the receivers' de-duplication key: delivery is at least
once, so the same id may arrive twice and must be acted on once. It must be stable for the
event (derive it from the event-log row, never generate it at send time).

Shape (`schema_version` 1)::

    {"schema_version": 1, "id": "…", "type": "decision.requested", "time": "…Z",
     "run_id": "…", "fix_version": "2.4.0", "release_type": "minor",
     "repositories": ["acme/payments-api"], "actor": null,
     "decision": {"kind": "release_approval", "summary": "…", "choices": ["approve", "reject"],
                  "approvers": {"roles": ["approver", "admin"], "required": 1},
                  "deadline": "…Z", "on_expiry": "reject", "action": null, "comment": null},
     "outcome": null,
     "links": {"run": "{base}/ui/#/runs/{id}", "api": "{base}/api/runs/{id}"}}

`decision` is set for `decision.*` events, `outcome` for `run.*` events; never both.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, model_validator

from enigma.notify.config import EventType

__all__ = [
    "SCHEMA_VERSION",
    "Approvers",
    "DecisionInfo",
    "Links",
    "Notification",
    "Outcome",
    "OutcomeStatus",
    "RunRef",
    "decision_expired",
    "decision_made",
    "decision_reminder",
    "decision_requested",
    "iso_time",
    "pending_decision",
    "run_failed",
    "run_finished",
    "run_links",
]

SCHEMA_VERSION: Literal[1] = 1
OutcomeStatus = Literal[
    "succeeded", "partial", "planned", "failed", "rejected", "refused", "cancelled"
]
When = float | datetime
"""A moment: epoch seconds (as the run store keeps them) or an aware datetime."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunRef(_Model):
    """Which run the event is about, as the run store knows it."""

    run_id: str = Field(..., min_length=1)
    fix_version: str
    release_type: str
    repositories: list[str]


class Links(_Model):
    """Where a person goes to look or decide."""

    run: str = Field(..., description="The run page in the web UI")
    api: str = Field(..., description="The run in the REST API")


class Approvers(_Model):
    """Who may answer a decision: any of `roles`, and how many distinct people must."""

    roles: list[str] = Field(..., min_length=1)
    required: int = Field(1, ge=1)


class DecisionInfo(_Model):
    """A decision the run waits on (or that was just made or expired)."""

    kind: str = Field(..., description="plan_approval, release_approval, conflict or error")
    summary: str = Field(..., description="One line: what is being decided")
    choices: list[str]
    approvers: Approvers
    deadline: str | None = Field(None, description="ISO 8601 UTC; None: no deadline")
    on_expiry: Literal["reject", "pause"] | None = None
    action: str | None = Field(None, description="Made: the choice; expired: what expiry did")
    comment: str | None = None


class Outcome(_Model):
    """How a run ended."""

    status: OutcomeStatus
    reason: str = ""
    pull_requests: dict[str, str] = Field(default_factory=dict, description="repo -> PR URL")
    notes_url: str | None = None
    left_out: list[str] = Field(
        default_factory=list, description="Tickets, branches or repositories not released"
    )


class Notification(_Model):
    """One event for people, as every channel receives it."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str = Field(..., min_length=1, max_length=200, description="Event id: the de-dup key")
    type: EventType
    time: str = Field(..., description="When the event happened, ISO 8601 UTC")
    run_id: str
    fix_version: str
    release_type: str
    repositories: list[str]
    actor: str | None = None
    decision: DecisionInfo | None = None
    outcome: Outcome | None = None
    links: Links

    @model_validator(mode="after")
    def _one_subject(self) -> Notification:
        if self.type.startswith("decision."):
            if self.decision is None or self.outcome is not None:
                raise ValueError(f"{self.type} carries a decision and no outcome")
        elif self.outcome is None or self.decision is not None:
            raise ValueError(f"{self.type} carries an outcome and no decision")
        elif (self.type == "run.failed") != (self.outcome.status == "failed"):
            raise ValueError(f"{self.type} cannot have outcome {self.outcome.status!r}")
        return self

    def to_json(self) -> dict[str, Any]:
        """The plain-JSON form: what the outbox stores and a webhook receives."""
        return self.model_dump(mode="json")

    def body(self) -> bytes:
        """The exact bytes a webhook POSTs (compact UTF-8 JSON) and signs."""
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False).encode()


def iso_time(at: When) -> str:
    """`at` as ISO 8601 UTC with milliseconds and a `Z`, e.g. 2026-03-01T09:30:00.000Z."""
    moment = datetime.fromtimestamp(at, UTC) if isinstance(at, int | float) else at
    if moment.tzinfo is None:
        raise ValueError("a datetime must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_links(base_url: str, run_id: str) -> Links:
    """The run page and API URLs under `base_url` (the service's public address)."""
    base = base_url.rstrip("/")
    rid = quote(run_id, safe="")
    return Links(run=f"{base}/ui/#/runs/{rid}", api=f"{base}/api/runs/{rid}")


def pending_decision(
    kind: str,
    summary: str,
    choices: list[str],
    *,
    roles: list[str],
    required: int = 1,
    deadline: When | None = None,
    on_expiry: Literal["reject", "pause"] | None = None,
) -> DecisionInfo:
    """A `DecisionInfo` from plain values (the deadline as epoch seconds or a datetime)."""
    return DecisionInfo(
        kind=kind,
        summary=summary,
        choices=choices,
        approvers=Approvers(roles=roles, required=required),
        deadline=None if deadline is None else iso_time(deadline),
        on_expiry=on_expiry,
    )


def _build(
    event_id: str,
    type_: EventType,
    at: When,
    run: RunRef,
    base_url: str,
    *,
    actor: str | None = None,
    decision: DecisionInfo | None = None,
    outcome: Outcome | None = None,
) -> Notification:
    return Notification(
        id=event_id,
        type=type_,
        time=iso_time(at),
        run_id=run.run_id,
        fix_version=run.fix_version,
        release_type=run.release_type,
        repositories=list(run.repositories),
        actor=actor,
        decision=decision,
        outcome=outcome,
        links=run_links(base_url, run.run_id),
    )


def decision_requested(
    event_id: str, at: When, run: RunRef, decision: DecisionInfo, *, base_url: str
) -> Notification:
    """A run now waits for `decision`."""
    return _build(event_id, "decision.requested", at, run, base_url, decision=decision)


def decision_reminder(
    event_id: str, at: When, run: RunRef, decision: DecisionInfo, *, base_url: str
) -> Notification:
    """`decision` is still open (sent before its deadline)."""
    return _build(event_id, "decision.reminder", at, run, base_url, decision=decision)


def decision_made(
    event_id: str,
    at: When,
    run: RunRef,
    decision: DecisionInfo,
    *,
    action: str,
    actor: str,
    comment: str | None = None,
    base_url: str,
) -> Notification:
    """`actor` answered `decision` with `action`."""
    answered = decision.model_copy(update={"action": action, "comment": comment or None})
    return _build(event_id, "decision.made", at, run, base_url, actor=actor, decision=answered)


def decision_expired(
    event_id: str,
    at: When,
    run: RunRef,
    decision: DecisionInfo,
    *,
    action: Literal["reject", "pause"],
    base_url: str,
) -> Notification:
    """`decision` passed its deadline unanswered; the run was rejected or paused (`action`)."""
    expired = decision.model_copy(update={"action": action, "on_expiry": action})
    return _build(event_id, "decision.expired", at, run, base_url, decision=expired)


def run_finished(
    event_id: str,
    at: When,
    run: RunRef,
    outcome: Outcome,
    *,
    actor: str | None = None,
    base_url: str,
) -> Notification:
    """The run ended: succeeded, partial, rejected or cancelled (`actor`: who cancelled)."""
    return _build(event_id, "run.finished", at, run, base_url, actor=actor, outcome=outcome)


def run_failed(
    event_id: str, at: When, run: RunRef, outcome: Outcome, *, base_url: str
) -> Notification:
    """The run stopped on an error nobody can retry from here (`outcome.status` "failed")."""
    return _build(event_id, "run.failed", at, run, base_url, outcome=outcome)

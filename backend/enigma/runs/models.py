"""What a run is, as the store keeps it and the API shows it."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from enigma.state import RELEASE_TYPES, normalize_version

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "TRANSITIONS",
    "EventRecord",
    "PendingDecision",
    "PolicyModel",
    "RunRecord",
    "RunRequest",
    "RunStatus",
    "check_repository_names",
]

RunStatus = Literal[
    "queued", "running", "waiting_for_approval", "paused", "succeeded", "failed", "cancelled"
]
TERMINAL: frozenset[str] = frozenset({"succeeded", "cancelled"})
ACTIVE: frozenset[str] = frozenset({"queued", "running"})

# Legal status changes; anything else is refused (409 at the API). A run starts executing
# only from queued: a pause that lands first wins over an execution about to start.
TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "paused", "cancelled"}),
    "running": frozenset(
        {"waiting_for_approval", "paused", "succeeded", "failed", "cancelled", "queued"}
    ),
    "waiting_for_approval": frozenset({"queued", "paused", "cancelled"}),
    "paused": frozenset({"queued", "cancelled"}),
    "failed": frozenset({"queued", "cancelled"}),
    "succeeded": frozenset({"queued"}),
    "cancelled": frozenset({"queued"}),
}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
VERSION_PATTERN = r"^v?(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$"
SprintName = Annotated[
    str, Field(max_length=100, json_schema_extra={"pattern": r"^(?=.*\S)[^\x00-\x1f]+$"})
]
RepositoryName = Annotated[
    str, Field(min_length=1, max_length=100, json_schema_extra={"pattern": _NAME.pattern})
]


def check_repository_names(value: list[str]) -> list[str]:
    """Each name a repository name (the pattern, with a message naming it), none twice."""
    for name in value:
        if not _NAME.match(name):
            raise ValueError(f"repository name {name!r} is not a valid repository name")
    if len(set(value)) != len(value):
        raise ValueError("repositories are listed more than once")
    return value


def _whole_number(value: Any) -> Any:
    """JSON's integers: 3 and 3.0 (JSON Schema calls both integer), never true or "3"."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
"""An integer as JSON Schema means it; the models are strict, so bools and strings fail."""


class PolicyModel(BaseModel):
    """What happens without a human (see `state.Policy`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    auto_approve: bool = False
    on_conflict: Literal["ask", "skip", "abort"] = "ask"
    on_check_failure: Literal["ask", "skip", "abort"] = "ask"
    on_error: Literal["ask", "abort"] = "ask"
    auto_retries: WholeNumber | None = Field(
        None, ge=0, le=10, description="Automatic retries of a failed step (default: the policy's)"
    )


class RunRequest(BaseModel):
    """Start a release: the body of POST /api/runs."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # The patterns document in OpenAPI what the validators below enforce (with messages that
    # name the problem), so a client generating requests from the schema gets them right.
    fix_version: str = Field(
        ...,
        max_length=32,
        examples=["2.4.0"],
        json_schema_extra={"pattern": VERSION_PATTERN},
        description="Jira fix version: three numbers, optional leading v",
    )
    repositories: list[RepositoryName] = Field(
        ..., min_length=1, max_length=50, json_schema_extra={"uniqueItems": True}
    )
    release_type: Literal["major", "minor", "patch", "hotfix", "release"] = "minor"
    sprint_name: SprintName | None = None
    dry_run: bool = False
    policy: PolicyModel = Field(default_factory=PolicyModel)

    @field_validator("fix_version")
    @classmethod
    def _version(cls, value: str) -> str:
        return normalize_version(value)

    @field_validator("repositories")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        return check_repository_names(value)

    @field_validator("sprint_name")
    @classmethod
    def _sprint(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(ord(c) < 32 for c in value)):
            raise ValueError("sprint name must be printable text")
        return value


class PendingDecision(BaseModel):
    """A question the run is waiting on: plan approval, release approval, conflict or error."""

    interrupt_id: str
    kind: str
    choices: list[str]
    payload: dict[str, Any]


class RunRecord(BaseModel):
    """One run as the store keeps it."""

    id: str
    status: RunStatus
    fix_version: str
    release_type: str
    repositories: list[str]
    sprint_name: str | None = None
    dry_run: bool = False
    actor: str
    created_at: float
    updated_at: float
    finished_at: float | None = None
    current_step: str | None = None
    error: str | None = None
    outcome: str | None = None
    pending: list[PendingDecision] = Field(default_factory=list)
    request: dict[str, Any] = Field(default_factory=dict)
    blocked: str | None = None
    """Why the run waits for a dependency now ("github unreachable"), or None."""
    detail: dict[str, Any] = Field(default_factory=dict)
    """How the run ended, in detail (who, when, what was left out, what the service said)."""
    policy_hash: str | None = None
    """The release policy the run runs under."""
    tickets: list[str] = Field(default_factory=list)
    """The fix version's ticket keys, once fetched (for search)."""
    deadline_at: float | None = None
    """When a pending decision's next reminder or expiry is due (policy deadlines)."""


class EventRecord(BaseModel):
    """One entry of the append-only event log."""

    id: int
    run_id: str
    at: float
    type: str
    step: str | None = None
    repo: str | None = None
    actor: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    worker: str | None = None
    """The process that wrote it (PostgreSQL scale-out; None on the embedded store)."""


assert set(RELEASE_TYPES) == {"major", "minor", "patch", "hotfix", "release"}

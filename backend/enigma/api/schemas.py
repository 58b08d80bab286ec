"""Request and response bodies of the API (OpenAPI documents them all)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from enigma.runs.models import EventRecord, RepositoryName, RunRecord, check_repository_names

__all__ = [
    "AmendIn",
    "Checkpoint",
    "Checkpoints",
    "DecisionIn",
    "ErrorOut",
    "Exclusions",
    "RerunIn",
    "RunDetail",
    "RunList",
    "StepStatus",
]


class ErrorOut(BaseModel):
    """Every error answer: what is wrong and, where it helps, what to do."""

    detail: str
    errors: list[dict[str, Any]] = Field(default_factory=list)


class DecisionIn(BaseModel):
    """Body of approve / reject / retry / skip: who decides is the token's user."""

    model_config = ConfigDict(extra="forbid", strict=True)

    comment: str = Field("", max_length=2000)
    interrupt_id: str | None = Field(
        None, max_length=64, description="which pending decision, when several"
    )


class Exclusions(BaseModel):
    """What an amendment drops from the plan.

    Repositories are checked as the start body checks them (`RunRequest`): names of the
    same pattern and length, at most as many, none twice. Tickets and branches are non-empty
    and bounded: an empty name would drop nothing and say it did.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    tickets: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=500
    )
    branches: list[Annotated[str, Field(min_length=3, max_length=400)]] = Field(
        default_factory=list, max_length=500, description="repo:branch"
    )
    repositories: list[RepositoryName] = Field(
        default_factory=list, max_length=50, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("repositories")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        return check_repository_names(value)


class AmendIn(DecisionIn):
    """Body of amend: drop tickets, branches or repositories, then re-plan."""

    exclude: Exclusions


class RerunIn(BaseModel):
    """Body of rerun: the checkpoint to start again from, and why."""

    model_config = ConfigDict(extra="forbid", strict=True)

    checkpoint_id: str = Field(..., max_length=64)
    reason: str = Field(..., min_length=1, max_length=2000)


class StepStatus(BaseModel):
    """One step (per repository for the repository leg) as the event log tells it."""

    step: str
    repo: str | None = None
    status: str
    attempts: int
    duration_ms: float | None = None
    summary: str | None = None
    error: str | None = None


class RunDetail(RunRecord):
    """A run with its state summary and steps."""

    state: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepStatus] = Field(default_factory=list)


class RunList(BaseModel):
    """A page of runs."""

    runs: list[RunRecord]
    total: int
    limit: int
    offset: int


class EventList(BaseModel):
    """Events of the log (JSON rather than a stream)."""

    events: list[EventRecord]


class Checkpoint(BaseModel):
    """One checkpoint of a run's thread."""

    checkpoint_id: str
    step: int | None = None
    source: str | None = None
    created_at: str | None = None
    next: list[str] = Field(default_factory=list)
    current_step: str | None = None


class Checkpoints(BaseModel):
    """A run's checkpoints, newest first."""

    checkpoints: list[Checkpoint]

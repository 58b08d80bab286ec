"""What each node may write: partial updates of the state, typed per node (or group of nodes).

A node returns one of these instead of `dict[str, Any]`, so mypy (strict) rejects a misspelled
key, a field the node has no business writing, or a value of the wrong type. They are
`total=False`: a node writes only what changed. The reducers live on the state
(`enigma.state`); here each field is the type of one write (a list to append, a dict of
repositories to merge).
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from enigma.integrations.base import CheckRun, PullRequestRecord, Ticket
from enigma.state import (
    ApprovalRecord,
    ErrorRecord,
    MergeRecord,
    Note,
    Outcome,
    Plan,
    ReleaseBranch,
    SkipRecord,
)

__all__ = [
    "ApprovalUpdate",
    "CloseUpdate",
    "CollectUpdate",
    "ErrorDecisionUpdate",
    "FinalizeUpdate",
    "NotesUpdate",
    "PlanUpdate",
    "RepoUpdate",
    "TicketsUpdate",
]


class _Narrated(TypedDict, total=False):
    notes: list[Note]


class _Step(_Narrated, total=False):
    """A top-level step that can fail into `handle_error` (and clears the error on success)."""

    current_step: str
    error: ErrorRecord | None
    error_step: str | None
    retry_count: int


class _Ending(TypedDict, total=False):
    """A step that decides (or explains) how the run ends."""

    outcome: Outcome
    outcome_reason: str
    outcome_detail: dict[str, Any]


class TicketsUpdate(_Step, _Ending, total=False):
    """fetch_tickets: the tickets, and those left out (or a refusal)."""

    jira_tickets: list[Ticket]
    excluded_tickets: list[dict[str, str]]


class PlanUpdate(_Step, _Ending, total=False):
    """plan_release: the plan (or a refusal: nothing to release)."""

    plan: Plan


class ApprovalUpdate(_Narrated, total=False):
    """approve_plan and approve_release: the decision, an amendment, or why it was rejected."""

    current_step: str
    approvals: list[ApprovalRecord]
    excluded: dict[str, list[str]]
    outcome_reason: str
    outcome_detail: dict[str, Any]


class CollectUpdate(_Narrated, total=False):
    """collect_repositories: the next wave, and the repositories it leaves out."""

    current_step: str
    wave: int
    outcome_reason: str
    repo_outcomes: dict[str, str]
    skipped: list[SkipRecord]


class NotesUpdate(_Step, total=False):
    """publish_release_notes: the published page."""

    release_notes: dict[str, Any]


class FinalizeUpdate(_Step, _Ending, total=False):
    """finalize: the operations done, and the tickets as the tracker has them now."""

    finalized: dict[str, Any]
    jira_tickets: list[Ticket]


class CloseUpdate(_Narrated, _Ending, total=False):
    """close_run: how a run that does not release ended."""

    current_step: str


class ErrorDecisionUpdate(_Narrated, total=False):
    """handle_error: the decision about a failed top-level step, and what it changes."""

    current_step: str
    error_decision: str
    approvals: list[ApprovalRecord]
    error: ErrorRecord | None
    retry_count: int
    outcome_reason: str
    finalized: dict[str, Any]
    skipped: list[SkipRecord]


class RepoUpdate(_Narrated, total=False):
    """A step of one repository's leg (the `release_repository` subgraph)."""

    release_branches: dict[str, ReleaseBranch]
    merge_status: dict[str, dict[str, MergeRecord]]
    pull_requests: dict[str, PullRequestRecord]
    checks: dict[str, list[CheckRun]]
    repo_outcomes: dict[str, str]
    skipped: list[SkipRecord]
    approvals: list[ApprovalRecord]
    pending_conflict: MergeRecord | None
    conflict_decision: str
    error: ErrorRecord | None
    error_step: str | None
    error_decision: str
    retry_count: int

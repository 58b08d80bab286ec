"""The workflow's state: plain JSON-able data with reducers for what accumulates.

`WorkflowState` is the parent graph's state; `RepoState` is the per-repository subgraph's.
Both use `typing_extensions.TypedDict` (on Python 3.11 LangGraph Studio shows no input schema
for `typing.TypedDict`). What a repository's leg hands back (`RepoResults`) is declared once
and shared by both: per-repository results live in dicts keyed by repository name and are
combined with `merge_by_key`, so the parallel subgraphs each write only their own key.

Every field is read by a node, a router, the run manager or the web page; what each node may
write is typed in `enigma.updates`. The SQLite checkpointer stores every channel in every
checkpoint, so the narrative is plain `Note` records (a LangChain message list cost an id,
a pydantic model and a reducer pass per line, on every step) and step history lives in the
run's event log, not here. A checkpoint written before a field was dropped still loads:
LangGraph restores only the channels the graph declares and ignores the rest.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from typing import Annotated, Any, Literal, NotRequired

from typing_extensions import TypedDict

from enigma.integrations.base import CheckRun, PullRequestRecord, Ticket

__all__ = [
    "OUTCOMES",
    "RELEASE_TYPES",
    "ApprovalRecord",
    "BranchPlan",
    "ErrorRecord",
    "MergeRecord",
    "Note",
    "Outcome",
    "Plan",
    "Policy",
    "ReleaseBranch",
    "ReleaseInput",
    "ReleaseType",
    "RepoPlan",
    "RepoResults",
    "RepoState",
    "SkipRecord",
    "WorkflowState",
    "merge_by_key",
    "normalize_version",
    "plan_hash",
]

ReleaseType = Literal["major", "minor", "patch", "hotfix", "release"]
RELEASE_TYPES: tuple[str, ...] = ("major", "minor", "patch", "hotfix", "release")
# Exactly what the published pattern says: ASCII digits only ([0-9], not \d, which also takes
# other scripts' digits), nothing before or after (fullmatch: `$` would let "\n" through).
_VERSION = re.compile(r"v?(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})")

Outcome = Literal["succeeded", "partial", "planned", "rejected", "refused", "cancelled", "failed"]
OUTCOMES: tuple[str, ...] = (
    "succeeded",
    "partial",
    "planned",
    "rejected",
    "refused",
    "cancelled",
    "failed",
)


def normalize_version(value: str) -> str:
    """`2.4.0` or `v2.4.0` → `2.4.0`; anything else raises ValueError saying what is wrong."""
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        raise ValueError(
            f"fix version {value!r} is not a version like 2.4.0 or v2.4.0 "
            "(three numbers of ASCII digits 0-9 separated by dots, optional leading v, "
            "nothing before or after)"
        )
    return value.removeprefix("v")


def merge_by_key(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: later writes replace earlier ones per key (one key per repository)."""
    return {**(left or {}), **(right or {})}


class Policy(TypedDict):
    """What happens without a human: auto-approval, and how to answer conflicts and errors."""

    auto_approve: bool
    on_conflict: Literal["ask", "skip", "abort"]
    on_check_failure: Literal["ask", "skip", "abort"]
    on_error: Literal["ask", "abort"]
    auto_retries: int | None


class BranchPlan(TypedDict):
    """One branch the release would merge, with its predicted outcome."""

    branch: str
    ticket: str | None
    sha: str
    predicted: Literal["clean", "conflict", "already"]
    files: list[str]
    conflicts_with: list[str]


class RepoPlan(TypedDict):
    """What the release would do in one repository, under which rules."""

    repo: str
    release_branch: str
    base_ref: str
    base_sha: str
    target_branch: str
    branches: list[BranchPlan]
    branches_without_ticket: list[str]
    has_changes: bool
    merge_method: str
    checks: dict[str, Any]
    after: list[str]
    existing: dict[str, Any]


class Plan(TypedDict):
    """The dry run the release manager approves."""

    fix_version: str
    release_type: str
    repositories: list[RepoPlan]
    tickets: list[str]
    tickets_without_branch: list[str]
    branches_without_ticket: list[str]
    repositories_without_changes: list[str]
    predicted_conflicts: list[dict[str, Any]]
    excluded: dict[str, list[str]]
    excluded_tickets: list[dict[str, str]]
    flags: list[str]
    waves: list[list[str]]
    already_released: list[str]
    policy_hash: str
    hash: str


class ApprovalRecord(TypedDict):
    """A human (or policy, or deadline) decision, tied to the plan and policy it answered."""

    kind: str
    action: str
    actor: str
    at: str
    comment: str
    plan_hash: str | None
    policy_hash: NotRequired[str | None]


class MergeRecord(TypedDict):
    """What happened to one branch in one repository."""

    branch: str
    ticket: str | None
    outcome: Literal["merged", "already", "conflict", "skipped"]
    sha: str | None
    files: list[str]


class ReleaseBranch(TypedDict):
    """The release branch of one repository: where it starts, and whether this run made it."""

    name: str
    base_ref: str
    base_sha: str
    created: bool


class SkipRecord(TypedDict):
    """Something the release left out, why, and who chose it (kept out of the notes)."""

    repo: str
    branch: str | None
    reason: str
    by: NotRequired[str | None]


class Note(TypedDict):
    """One line of the run's narrative: which step (or decision) said what."""

    step: str
    text: str


class ErrorRecord(TypedDict):
    """The failure waiting for a decision."""

    step: str
    repo: str | None
    kind: str
    message: str
    transient: bool
    attempt: int
    choices: list[str]
    operation: NotRequired[str | None]


class ReleaseInput(TypedDict):
    """What starting a release takes (the graph's input schema)."""

    fix_version: str
    repositories: list[str]
    release_type: ReleaseType
    sprint_name: NotRequired[str | None]
    dry_run: NotRequired[bool]
    policy: NotRequired[Policy]


class RepoResults(TypedDict, total=False):
    """What a repository's leg hands back to the release (every key merges per repository)."""

    notes: Annotated[list[Note], operator.add]
    release_branches: Annotated[dict[str, ReleaseBranch], merge_by_key]
    merge_status: Annotated[dict[str, dict[str, MergeRecord]], merge_by_key]
    pull_requests: Annotated[dict[str, PullRequestRecord], merge_by_key]
    checks: Annotated[dict[str, list[CheckRun]], merge_by_key]
    repo_outcomes: Annotated[dict[str, str], merge_by_key]
    skipped: Annotated[list[SkipRecord], operator.add]
    approvals: Annotated[list[ApprovalRecord], operator.add]


class WorkflowState(RepoResults, total=False):
    """The release run's whole state (the parent graph)."""

    # what was asked (ReleaseInput); the run's id is the LangGraph thread's id
    repositories: list[str]
    fix_version: str
    sprint_name: str | None
    release_type: ReleaseType
    dry_run: bool
    policy: Policy
    # the last top-level step that ended (a run settled after a crash reports it)
    current_step: str
    outcome: Outcome
    outcome_reason: str
    outcome_detail: dict[str, Any]
    jira_tickets: list[Ticket]
    excluded_tickets: list[dict[str, str]]
    plan: Plan
    # what an amended plan leaves out: tickets, "repo:branch" and repositories
    excluded: dict[str, list[str]]
    # the index of the next wave of repositories (plan["waves"]) to release
    wave: int
    release_notes: dict[str, Any]
    finalized: dict[str, Any]
    # a failed step waiting for its decision; error_step and error_decision outlive it (a
    # retry clears `error`), so the router after handle_error knows where to go back to
    error: ErrorRecord | None
    error_step: str | None
    error_decision: str | None
    retry_count: int


class RepoState(RepoResults, total=False):
    """One repository's leg of the release (the `release_repository` subgraph)."""

    repo: str
    fix_version: str
    release_type: ReleaseType
    policy: Policy
    repo_plan: RepoPlan
    pending_conflict: MergeRecord | None
    conflict_decision: str | None
    error: ErrorRecord | None
    error_step: str | None
    error_decision: str | None
    retry_count: int


def plan_hash(plan: dict[str, Any]) -> str:
    """Stable hash of a plan (without its own hash field), recorded with each approval."""
    body = {k: v for k, v in plan.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

"""Building blocks of the policy schema: names, value types and the small nested tables."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from enigma.policy.durations import Duration
from enigma.policy.text import (
    branch_name_problem,
    check_repository_name,
    check_template,
    fill,
)

__all__ = [
    "APPROVAL_KINDS",
    "DEFAULT_TICKET_PREFIXES",
    "ERROR_CLASSES",
    "RELEASE_TYPES",
    "ROLES",
    "SAMPLE_VERSION",
    "STEP_NAMES",
    "ApprovalKind",
    "Backoff",
    "BranchName",
    "ChecksSettings",
    "ErrorClass",
    "ReleaseBranches",
    "ReleaseType",
    "RepoName",
    "Role",
    "StepName",
    "TicketPattern",
    "Tidy",
    "unique",
]

ReleaseType = Literal["major", "minor", "patch", "hotfix", "release"]
RELEASE_TYPES: tuple[ReleaseType, ...] = ("major", "minor", "patch", "hotfix", "release")
StepName = Literal[
    "fetch_tickets",
    "plan_release",
    "create_release_branch",
    "merge_feature_branches",
    "open_pull_request",
    "wait_for_checks",
    "publish_release_notes",
    "finalize",
]
STEP_NAMES: tuple[StepName, ...] = (
    "fetch_tickets",
    "plan_release",
    "create_release_branch",
    "merge_feature_branches",
    "open_pull_request",
    "wait_for_checks",
    "publish_release_notes",
    "finalize",
)
ApprovalKind = Literal["plan_approval", "release_approval", "conflict", "error"]
APPROVAL_KINDS: tuple[ApprovalKind, ...] = (
    "plan_approval",
    "release_approval",
    "conflict",
    "error",
)
# The roles api/auth.py knows; a role outside these would never match a caller.
Role = Literal["viewer", "release_manager", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "release_manager", "approver", "admin")
ErrorClass = Literal["transient", "conflict", "not_found", "unprocessable", "auth"]
ERROR_CLASSES: dict[ErrorClass, str] = {
    "transient": "TransientError",
    "conflict": "ConflictError",
    "not_found": "NotFound",
    "unprocessable": "Unprocessable",
    "auth": "AuthError",
}
"""Policy name of an error class → the class in `enigma.integrations.errors`."""

DEFAULT_TICKET_PREFIXES = ("feature/", "bugfix/", "fix/", "task/", "story/", "chore/")
SAMPLE_VERSION = "2.4.0"
CheckSource = Literal["check_runs", "statuses"]
CheckConclusion = Literal[
    "success",
    "neutral",
    "skipped",
    "failure",
    "cancelled",
    "timed_out",
    "action_required",
    "stale",
    "error",
]


class Tidy(BaseModel):
    """Base of every policy table: unknown keys are refused, values are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def unique(values: list[Any]) -> list[Any]:
    """The list itself, or ValueError naming the first value given twice."""
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value)
    return values


def _branch(name: str) -> str:
    problem = branch_name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


def _branch_template(template: str) -> str:
    check_template(template, allowed=("version",), required=("version",))
    problem = branch_name_problem(fill(template, version=SAMPLE_VERSION))
    if problem:
        raise ValueError(f"for version {SAMPLE_VERSION}: {problem}")
    return template


def _ticket_pattern(pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    if "key" not in compiled.groupindex:
        raise ValueError("the pattern needs a named group for the ticket key: (?P<key>...)")
    return pattern


RepoName = Annotated[str, AfterValidator(check_repository_name)]
BranchName = Annotated[str, AfterValidator(_branch)]
BranchTemplate = Annotated[str, AfterValidator(_branch_template)]
TicketPattern = Annotated[str, AfterValidator(_ticket_pattern)]
CheckName = Annotated[str, Field(min_length=1, max_length=200)]


class ReleaseBranches(Tidy):
    """The release branch's name per release type; `{version}` is the fix version."""

    major: BranchTemplate = "release/{version}"
    minor: BranchTemplate = "release/{version}"
    patch: BranchTemplate = "hotfix/{version}"
    hotfix: BranchTemplate = "hotfix/{version}"
    release: BranchTemplate = "release/{version}"


def _sources() -> list[CheckSource]:
    return ["check_runs"]


def _green() -> list[CheckConclusion]:
    return ["success", "neutral", "skipped"]


class ChecksSettings(Tidy):
    """Which CI results a release pull request needs, and what no CI at all means."""

    required: list[CheckName] = Field(
        default_factory=list, description="Check names that must be green (empty: all reported)"
    )
    sources: list[CheckSource] = Field(default_factory=_sources, min_length=1)
    green: list[CheckConclusion] = Field(default_factory=_green, min_length=1)
    when_none: Literal["wait", "pass", "fail"] = "wait"
    none_grace: Duration = 120.0
    timeout: Annotated[Duration, Field(gt=0)] = 600.0

    _unique = field_validator("required", "sources", "green")(unique)


class Backoff(Tidy):
    """Pause before automatic retry n: min(cap, base * multiplier**n), jittered (half to all)."""

    base: Duration = 1.0
    cap: Duration = 60.0
    multiplier: float = Field(2.0, ge=1.0, le=10.0)
    jitter: bool = True

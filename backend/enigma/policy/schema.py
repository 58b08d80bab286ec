"""The `enigma.toml` schema: every table optional, unknown keys refused, defaults = today.

Repository tables and step tables override their defaults field by field (nested tables too):
a `[repositories.web-app.checks]` table with only `required` keeps every other check setting
of `[defaults.checks]`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from enigma.notify.config import ChannelConfig
from enigma.policy.durations import Duration
from enigma.policy.parts import (
    APPROVAL_KINDS,
    DEFAULT_TICKET_PREFIXES,
    STEP_NAMES,
    ApprovalKind,
    Backoff,
    BranchName,
    ChecksSettings,
    ErrorClass,
    ReleaseBranches,
    ReleaseType,
    RepoName,
    Role,
    StepName,
    TicketPattern,
    Tidy,
    unique,
)
from enigma.policy.rules import ApprovalRule, RepoRules, StepLimits
from enigma.policy.text import check_template, fill, plural

__all__ = [
    "DEFAULT_ROLES",
    "ApprovalSettings",
    "Approvals",
    "NoteSection",
    "NotesSettings",
    "Policy",
    "RepoSettings",
    "RepoTable",
    "RunSettings",
    "StepSettings",
    "Steps",
    "TrackerSettings",
]

# api/auth.py ROLE_ACTIONS: "approve" for the two approvals, "decide" for conflicts and errors.
DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "plan_approval": ("approver", "admin"),
    "release_approval": ("approver", "admin"),
    "conflict": ("approver", "release_manager", "admin"),
    "error": ("approver", "release_manager", "admin"),
}
Prefix = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S+$")]


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


class RepoSettings(Tidy):
    """Branch, merge and CI conventions: `[defaults]`, and the body of a repository table."""

    ticket_prefixes: Annotated[list[Prefix], Field(min_length=1)] | None = None
    ticket_pattern: TicketPattern | None = None
    base_branch: BranchName = "develop"
    base_branch_fallback: Literal["default", "fail"] = "default"
    target_branch: BranchName | None = None
    hotfix_base: Literal["latest-tag", "latest-tag-of-line"] = "latest-tag-of-line"
    release_branch: ReleaseBranches = Field(default_factory=ReleaseBranches)
    merge_method: Literal["merge", "squash", "rebase"] = "merge"
    checks: ChecksSettings = Field(default_factory=ChecksSettings)

    @field_validator("ticket_prefixes")
    @classmethod
    def _unique_prefixes(cls, value: list[str] | None) -> list[str] | None:
        return value if value is None else unique(value)

    @model_validator(mode="after")
    def _one_ticket_rule(self) -> RepoSettings:
        if self.ticket_prefixes is not None and self.ticket_pattern is not None:
            raise ValueError("give either ticket_prefixes or ticket_pattern, not both")
        return self


class RepoTable(RepoSettings):
    """`[repositories.NAME]`: overrides for one repository, and the repositories it waits for."""

    after: list[RepoName] = Field(default_factory=list)

    _unique_after = field_validator("after")(unique)


class TrackerSettings(Tidy):
    """What finalize does in the tracker."""

    done_status: str = Field("Done", min_length=1, max_length=100)
    comment: str = "Released in {version}: {links}"
    release_version: bool = True
    version_name: str = "{version}"

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: str) -> str:
        return check_template(value, allowed=("version", "links"))

    @field_validator("version_name")
    @classmethod
    def _version_name(cls, value: str) -> str:
        return check_template(value, allowed=("version",), required=("version",))

    def comment_for(self, version: str, links: str) -> str:
        """The release comment on a ticket (finalize appends its idempotency marker)."""
        return fill(self.comment, version=version, links=links)

    def version_name_for(self, version: str) -> str:
        """The tracker's version name for a fix version."""
        return fill(self.version_name, version=version)


class ApprovalOverride(Tidy):
    """Any approval setting, for one release type (`major = 2` is short for approvers = 2)."""

    approvers: int | None = Field(None, ge=1, le=10)
    roles: Annotated[list[Role], Field(min_length=1)] | None = None
    four_eyes: bool | None = None
    remind_after: Duration | None = None
    expire_after: Duration | None = None
    on_expire: Literal["reject", "pause"] | None = None


class ApprovalSettings(ApprovalOverride):
    """`[approvals.<kind>]`: how many people, which roles, four-eyes, and deadlines."""

    by_release_type: dict[ReleaseType, ApprovalOverride] = Field(default_factory=dict)

    @field_validator("by_release_type", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: {"approvers": v} if isinstance(v, int) and not isinstance(v, bool) else v
                for k, v in value.items()
            }
        return value


class Approvals(Tidy):
    """One table per decision kind."""

    plan_approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    release_approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    conflict: ApprovalSettings = Field(default_factory=ApprovalSettings)
    error: ApprovalSettings = Field(default_factory=ApprovalSettings)


def _transient() -> list[ErrorClass]:
    return ["transient"]


class StepSettings(Tidy):
    """`[steps.default]` and `[steps.<step>]`: timeout, tries and automatic retry."""

    timeout: Annotated[Duration, Field(gt=0)] = 1800.0
    tries: int = Field(3, ge=1, le=20)
    backoff: Backoff = Field(default_factory=Backoff)
    retry_on: list[ErrorClass] = Field(default_factory=_transient)

    _unique = field_validator("retry_on")(unique)


class Steps(Tidy):
    """Defaults for every step, and overrides per step (unknown step names are refused)."""

    default: StepSettings = Field(default_factory=StepSettings)
    fetch_tickets: StepSettings | None = None
    plan_release: StepSettings | None = None
    create_release_branch: StepSettings | None = None
    merge_feature_branches: StepSettings | None = None
    open_pull_request: StepSettings | None = None
    wait_for_checks: StepSettings | None = None
    publish_release_notes: StepSettings | None = None
    finalize: StepSettings | None = None


class RunSettings(Tidy):
    """Limits of a whole run."""

    deadline: Annotated[Duration, Field(gt=0)] = 86_400.0


class NoteSection(Tidy):
    """One heading of the release notes and the issue types listed under it."""

    title: str = Field(..., min_length=1, max_length=200)
    types: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]

    _unique = field_validator("types")(unique)


def _default_sections() -> list[NoteSection]:
    return [
        NoteSection(title="Stories", types=["Story"]),
        NoteSection(title="Bugs", types=["Bug"]),
        NoteSection(title="Tasks", types=["Task"]),
    ]


class NotesSettings(Tidy):
    """The notes page: its title and its sections, in order."""

    title: str = "{project} {version} release notes"
    sections: list[NoteSection] = Field(default_factory=_default_sections)
    other_title: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return check_template(value, allowed=("project", "version"), required=("version",))

    @model_validator(mode="after")
    def _each_type_once(self) -> NotesSettings:
        seen: dict[str, str] = {}
        for section in self.sections:
            for kind in section.types:
                if kind in seen:
                    raise ValueError(
                        f"issue type {kind!r} is in two sections: "
                        f"{seen[kind]!r} and {section.title!r}"
                    )
                seen[kind] = section.title
        return self

    def title_for(self, project: str, version: str) -> str:
        """The notes page title."""
        return fill(self.title, project=project, version=version)

    def section_of(self, issue_type: str) -> tuple[int, str]:
        """(position, heading) of an issue type: sort tickets by it, group them by heading.

        Types no section names come after every section, under `other_title` if it is set,
        else each under its own plural ("Improvement" → "Improvements").
        """
        for position, section in enumerate(self.sections):
            if issue_type in section.types:
                return position, section.title
        return len(self.sections), self.other_title or plural(issue_type)


class Policy(Tidy):
    """The whole release policy; `Policy()` is today's behaviour."""

    defaults: RepoSettings = Field(default_factory=RepoSettings)
    repositories: dict[RepoName, RepoTable] = Field(default_factory=dict)
    tracker: TrackerSettings = Field(default_factory=TrackerSettings)
    approvals: Approvals = Field(default_factory=Approvals)
    steps: Steps = Field(default_factory=Steps)
    run: RunSettings = Field(default_factory=RunSettings)
    notes: NotesSettings = Field(default_factory=NotesSettings)
    notifications: list[ChannelConfig] = Field(default_factory=list)

    def for_repository(self, name: str) -> RepoRules:
        """The effective rules of one repository (the defaults if it has no table)."""
        base = self.defaults.model_dump()
        table = self.repositories.get(name)
        over = table.model_dump(exclude_unset=True) if table is not None else {}
        after = over.pop("after", [])
        if "ticket_prefixes" in over or "ticket_pattern" in over:
            # a repository naming its own ticket rule replaces the default one entirely
            base.update(ticket_prefixes=None, ticket_pattern=None)
        merged = _merged(base, over)
        if merged["ticket_prefixes"] is None and merged["ticket_pattern"] is None:
            merged["ticket_prefixes"] = DEFAULT_TICKET_PREFIXES
        return RepoRules.model_validate({**merged, "name": name, "after": after})

    def approval_rule(
        self, kind: ApprovalKind | str, release_type: ReleaseType | str | None = None
    ) -> ApprovalRule:
        """Who answers a decision of `kind` in a release of `release_type`, and how soon."""
        if kind not in APPROVAL_KINDS:
            raise ValueError(f"unknown decision kind {kind!r}; one of {', '.join(APPROVAL_KINDS)}")
        table: ApprovalSettings = getattr(self.approvals, kind)
        rule: dict[str, Any] = {"approvers": 1, "roles": DEFAULT_ROLES[kind]}
        rule.update(table.model_dump(exclude_unset=True, exclude={"by_release_type"}))
        special = table.by_release_type.get(release_type) if release_type else None  # type: ignore[call-overload]
        if special is not None:
            rule.update(special.model_dump(exclude_unset=True))
        return ApprovalRule.model_validate(
            {
                "four_eyes": None,
                "remind_after": None,
                "expire_after": None,
                "on_expire": None,
                **rule,
                "kind": kind,
                "release_type": release_type,
            }
        )

    def step_limits(self, step: StepName | str) -> StepLimits:
        """Timeout, tries, backoff and retry classes of one step."""
        if step not in STEP_NAMES:
            raise ValueError(f"unknown step {step!r}; one of {', '.join(STEP_NAMES)}")
        base = self.steps.default.model_dump()
        table: StepSettings | None = getattr(self.steps, step)
        over = table.model_dump(exclude_unset=True) if table is not None else {}
        return StepLimits.model_validate({**_merged(base, over), "step": step})

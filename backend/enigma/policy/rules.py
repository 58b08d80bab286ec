"""The effective rules the workflow asks for, and the pure functions that apply them.

`Policy.for_repository`, `Policy.approval_rule` and `Policy.step_limits` build these; nodes call
the functions below with them, so no node re-derives a convention of its own.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Collection, Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from enigma.integrations import errors as integration_errors
from enigma.policy.parts import (
    ERROR_CLASSES,
    Backoff,
    ChecksSettings,
    ErrorClass,
    ReleaseBranches,
    ReleaseType,
)
from enigma.policy.text import fill

__all__ = [
    "ApprovalRule",
    "MissingBaseBranch",
    "RepoRules",
    "StepLimits",
    "hotfix_base_tag",
    "is_ticket_branch",
    "latest_release_tag",
    "release_base",
    "release_branch_name",
    "target_branch",
    "ticket_of_branch",
]

# Today's ticket key in a branch name: `feature/ENG-101-refunds` → ENG-101.
_DEFAULT_KEY = re.compile(r"(?:^|/)([A-Z][A-Z0-9]{1,9}-\d{1,7})(?=$|[-_/])")
_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


class _Effective(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RepoRules(_Effective):
    """One repository's conventions: the defaults with its `[repositories.NAME]` table on top."""

    name: str
    ticket_prefixes: tuple[str, ...] | None
    ticket_pattern: str | None
    base_branch: str
    base_branch_fallback: Literal["default", "fail"]
    target_branch: str | None
    hotfix_base: Literal["latest-tag", "latest-tag-of-line"]
    release_branch: ReleaseBranches
    merge_method: Literal["merge", "squash", "rebase"]
    checks: ChecksSettings
    after: tuple[str, ...]

    @model_validator(mode="after")
    def _one_ticket_rule(self) -> RepoRules:
        if (self.ticket_prefixes is None) == (self.ticket_pattern is None):
            raise ValueError("give either ticket_prefixes or ticket_pattern, not both")
        return self


class ApprovalRule(_Effective):
    """Who may answer one kind of decision for one release type, and how soon."""

    kind: str
    release_type: str | None
    approvers: int
    roles: tuple[str, ...]
    four_eyes: bool | None
    remind_after: float | None
    expire_after: float | None
    on_expire: Literal["reject", "pause"] | None

    @model_validator(mode="after")
    def _deadlines(self) -> ApprovalRule:
        if (self.expire_after is None) != (self.on_expire is None):
            raise ValueError("expire_after and on_expire go together: give both or neither")
        if (
            self.remind_after is not None
            and self.expire_after is not None
            and self.remind_after >= self.expire_after
        ):
            raise ValueError("remind_after must be shorter than expire_after")
        return self

    def uses_four_eyes(self, setting: bool) -> bool:
        """Four-eyes for this decision: the policy's answer, else the ENIGMA_FOUR_EYES setting."""
        return setting if self.four_eyes is None else self.four_eyes

    def allows(self, roles: Iterable[str]) -> bool:
        """Whether a caller with `roles` may answer this decision."""
        return not set(roles).isdisjoint(self.roles)


class StepLimits(_Effective):
    """How long a step may take and how it retries by itself."""

    step: str
    timeout: float
    tries: int
    backoff: Backoff
    retry_on: tuple[ErrorClass, ...]

    @property
    def auto_retries(self) -> int:
        """Automatic retries after the first try (today's `policy.auto_retries`)."""
        return self.tries - 1

    def retries(self, kind: str, transient: bool = False) -> bool:
        """Whether an error (an ErrorRecord's `kind` and `transient`) is retried automatically."""
        if transient and "transient" in self.retry_on:
            return True
        found = getattr(integration_errors, kind, None)
        for name in self.retry_on:
            wanted = getattr(integration_errors, ERROR_CLASSES[name])
            if isinstance(found, type) and issubclass(found, wanted):
                return True
        return False

    def pause(self, retry: int, uniform: Callable[[float, float], float] = random.uniform) -> float:
        """Seconds to wait before automatic retry number `retry` (0 for the first)."""
        pause = min(self.backoff.cap, self.backoff.base * self.backoff.multiplier**retry)
        return uniform(pause / 2, pause) if self.backoff.jitter else pause


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def ticket_of_branch(rules: RepoRules, branch: str) -> str | None:
    """The ticket key a branch is named after (`feature/ENG-101-refunds` → ENG-101), or None."""
    if rules.ticket_pattern is None:
        match = _DEFAULT_KEY.search(branch)
        return match.group(1) if match else None
    match = _compiled(rules.ticket_pattern).search(branch)
    return (match.group("key") or None) if match else None


def is_ticket_branch(rules: RepoRules, branch: str) -> bool:
    """Whether a branch is work to release: it has a ticket prefix, or matches the pattern.

    With prefixes, a prefixed branch naming no ticket is still work (the plan lists it under
    "branches without ticket"); with a pattern, only branches it matches count.
    """
    if rules.ticket_prefixes is not None:
        return branch.startswith(rules.ticket_prefixes)
    return ticket_of_branch(rules, branch) is not None


def release_branch_name(rules: RepoRules, release_type: ReleaseType | str, version: str) -> str:
    """`release/2.4.0` for major / minor / release, `hotfix/2.3.1` for patch / hotfix."""
    template: str = getattr(rules.release_branch, release_type)
    return fill(template, version=version)


def target_branch(rules: RepoRules, default_branch: str) -> str:
    """Where the release pull request goes: the policy's branch, else the default branch."""
    return rules.target_branch or default_branch


def _version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _tags(tags: Iterable[str]) -> list[tuple[tuple[int, int, int], str]]:
    return [((int(m[1]), int(m[2]), int(m[3])), m.group(0)) for m in map(_TAG.match, tags) if m]


def latest_release_tag(tags: Iterable[str]) -> str | None:
    """The highest `vX.Y.Z` tag (today's hotfix base), or None."""
    found = _tags(tags)
    return max(found)[1] if found else None


def hotfix_base_tag(tags: list[str], version: str) -> str | None:
    """The latest `vX.Y.*` tag below `version` on its own line: 2.3.2 → v2.3.1, not v2.4.0."""
    wanted = _version(version)
    if wanted is None:
        raise ValueError(f"{version!r} is not a version like 2.3.1")
    line = [(v, tag) for v, tag in _tags(tags) if v[:2] == wanted[:2] and v < wanted]
    return max(line)[1] if line else None


class MissingBaseBranch(LookupError):
    """The policy's base branch does not exist and `base_branch_fallback = "fail"`."""


def release_base(
    rules: RepoRules,
    release_type: ReleaseType | str,
    version: str,
    *,
    branches: Collection[str],
    tags: Iterable[str],
    default_branch: str,
) -> str:
    """The ref the release branch starts from.

    patch / hotfix: the tag `hotfix_base` picks (no such tag: the default branch); otherwise
    `base_branch` if the repository has it, else (`base_branch_fallback = "default"`) the
    default branch. Raises MissingBaseBranch when the fallback is "fail".
    """
    if release_type in ("patch", "hotfix"):
        tag_list = list(tags)
        if rules.hotfix_base == "latest-tag-of-line":
            tag = hotfix_base_tag(tag_list, version)
        else:
            tag = latest_release_tag(tag_list)
        return tag or default_branch
    if rules.base_branch in branches:
        return rules.base_branch
    if rules.base_branch_fallback == "default":
        return default_branch
    raise MissingBaseBranch(
        f"{rules.name} has no branch {rules.base_branch!r} to start the release from "
        '(base_branch_fallback = "fail")'
    )

"""The release policy (`enigma.toml`): each team's conventions as one validated file.

`load_policy()` finds and validates the file; `LoadedPolicy.policy.for_repository(name)`,
`.approval_rule(kind, release_type)` and `.step_limits(step)` give the effective rules, and the
functions here apply them. `Policy()` (no file) is Enigma's built-in behaviour.
"""

from __future__ import annotations

from enigma.policy.describe import canonical, describe, policy_hash
from enigma.policy.durations import format_duration, parse_duration
from enigma.policy.loader import (
    ENV_VAR,
    FILE_NAME,
    LoadedPolicy,
    example_text,
    find_policy_file,
    load_policy,
    parse_policy,
    validate,
)
from enigma.policy.order import reference_problems, waves
from enigma.policy.parts import (
    APPROVAL_KINDS,
    ERROR_CLASSES,
    RELEASE_TYPES,
    STEP_NAMES,
    ChecksSettings,
)
from enigma.policy.problems import PolicyError, Problem
from enigma.policy.rules import (
    ApprovalRule,
    MissingBaseBranch,
    RepoRules,
    StepLimits,
    hotfix_base_tag,
    is_ticket_branch,
    latest_release_tag,
    release_base,
    release_branch_name,
    target_branch,
    ticket_of_branch,
)
from enigma.policy.schema import NotesSettings, Policy, TrackerSettings
from enigma.policy.text import plural

__all__ = [
    "APPROVAL_KINDS",
    "ENV_VAR",
    "ERROR_CLASSES",
    "FILE_NAME",
    "RELEASE_TYPES",
    "STEP_NAMES",
    "ApprovalRule",
    "ChecksSettings",
    "LoadedPolicy",
    "MissingBaseBranch",
    "NotesSettings",
    "Policy",
    "PolicyError",
    "Problem",
    "RepoRules",
    "StepLimits",
    "TrackerSettings",
    "canonical",
    "describe",
    "example_text",
    "find_policy_file",
    "format_duration",
    "hotfix_base_tag",
    "is_ticket_branch",
    "latest_release_tag",
    "load_policy",
    "parse_duration",
    "parse_policy",
    "plural",
    "policy_hash",
    "reference_problems",
    "release_base",
    "release_branch_name",
    "target_branch",
    "ticket_of_branch",
    "validate",
    "waves",
]

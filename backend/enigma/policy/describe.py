"""The effective policy as data: for the plan, `GET /api/policy`, `enigma policy show`, the hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, SecretStr

from enigma.policy.order import waves
from enigma.policy.parts import APPROVAL_KINDS, RELEASE_TYPES, STEP_NAMES
from enigma.policy.rules import RepoRules
from enigma.policy.schema import Policy

__all__ = ["canonical", "describe", "policy_hash"]


def _rules(rules: RepoRules) -> dict[str, Any]:
    data = rules.model_dump(mode="json", exclude={"name"})
    data["ticket_rule"] = "pattern" if rules.ticket_pattern is not None else "prefixes"
    return data


def _approvals(policy: Policy) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in APPROVAL_KINDS:
        base = policy.approval_rule(kind).model_dump(mode="json", exclude={"kind", "release_type"})
        special = {}
        for release_type in RELEASE_TYPES:
            rule = policy.approval_rule(kind, release_type).model_dump(
                mode="json", exclude={"kind", "release_type"}
            )
            if rule != base:
                special[release_type] = rule
        out[kind] = {**base, "by_release_type": special}
    return out


def describe(policy: Policy, repositories: list[str]) -> dict[str, Any]:
    """JSON-able effective rules per repository, the waves, and every other section.

    `defaults` is what a repository without its own table gets. Secrets show as "**********".
    """
    return {
        "repositories": {
            name: _rules(policy.for_repository(name)) for name in dict.fromkeys(repositories)
        },
        "waves": waves(policy, repositories),
        "defaults": _rules(policy.for_repository("*")),
        "tracker": policy.tracker.model_dump(mode="json"),
        "approvals": _approvals(policy),
        "steps": {
            step: policy.step_limits(step).model_dump(mode="json", exclude={"step"})
            for step in STEP_NAMES
        },
        "run": policy.run.model_dump(mode="json"),
        "notes": policy.notes.model_dump(mode="json"),
        # json mode prints every SecretStr as "**********"
        "notifications": [c.model_dump(mode="json") for c in policy.notifications],
    }


def _digested(value: Any) -> Any:
    """Python-mode dump with each secret replaced by a digest: a changed secret changes the hash."""
    if isinstance(value, SecretStr):
        digest = hashlib.sha256(value.get_secret_value().encode()).hexdigest()
        return {"secret_sha256": digest}
    if isinstance(value, BaseModel):
        return _digested(value.model_dump())
    if isinstance(value, dict):
        return {str(k): _digested(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_digested(v) for v in value]
    return value


def canonical(policy: Policy) -> dict[str, Any]:
    """The effective policy, complete and without redundancy: what the hash is taken of.

    A repository appears only when its rules differ from the defaults or it has an `after`,
    so restating a default, reordering keys or adding comments leaves the hash unchanged.
    """
    default = policy.for_repository("*").model_dump(exclude={"name"})
    repositories = {}
    for name in sorted(policy.repositories):
        rules = policy.for_repository(name).model_dump(exclude={"name"})
        if rules != default:
            repositories[name] = rules
    effective: dict[str, Any] = _digested(
        {
            "defaults": default,
            "repositories": repositories,
            "tracker": policy.tracker,
            "approvals": {
                kind: {rt: policy.approval_rule(kind, rt) for rt in (None, *RELEASE_TYPES)}
                for kind in APPROVAL_KINDS
            },
            "steps": {step: policy.step_limits(step) for step in STEP_NAMES},
            "run": policy.run,
            "notes": policy.notes,
            "notifications": list(policy.notifications),
        }
    )
    return effective


def policy_hash(policy: Policy) -> str:
    """First 16 hex digits of the sha256 of the canonical JSON of the effective policy."""
    text = json.dumps(canonical(policy), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

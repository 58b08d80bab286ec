"""The derived rules the workflow asks for: merged per repository, waves, approvals, steps."""

from __future__ import annotations

import pytest

from enigma.policy import (
    MissingBaseBranch,
    hotfix_base_tag,
    is_ticket_branch,
    plural,
    release_base,
    release_branch_name,
    target_branch,
    ticket_of_branch,
    waves,
)
from enigma.policy.schema import Policy
from tests.policy.conftest import WritePolicy, load


def test_repository_table_overrides_defaults_field_by_field(write_policy: WritePolicy) -> None:
    policy = load(
        write_policy(
            """\
            [defaults]
            merge_method = "squash"
            [defaults.checks]
            required = ["build"]
            timeout = "20m"
            [defaults.release_branch]
            major = "major/{version}"

            [repositories.web-app]
            target_branch = "production"
            [repositories.web-app.checks]
            required = ["build", "e2e"]
            [repositories.web-app.release_branch]
            minor = "rel-{version}"
            """
        )
    ).policy
    web = policy.for_repository("web-app")
    other = policy.for_repository("payments-api")
    assert web.merge_method == other.merge_method == "squash"
    assert web.checks.required == ["build", "e2e"] and other.checks.required == ["build"]
    assert web.checks.timeout == other.checks.timeout == 1200  # nested tables merge too
    assert web.checks.green == ["success", "neutral", "skipped"]
    assert release_branch_name(web, "major", "3.0.0") == "major/3.0.0"
    assert release_branch_name(web, "minor", "2.5.0") == "rel-2.5.0"
    assert release_branch_name(other, "minor", "2.5.0") == "release/2.5.0"
    assert target_branch(web, "main") == "production"
    assert target_branch(other, "main") == "main"


def test_ticket_pattern_replaces_the_prefixes_for_one_repository(write_policy: WritePolicy) -> None:
    policy = load(
        write_policy(
            r"""
            [repositories.legacy]
            ticket_pattern = '^(?:feat|hotfix)/(?P<key>[a-z]+-\d+)'
            """
        )
    ).policy
    legacy = policy.for_repository("legacy")
    assert legacy.ticket_prefixes is None
    assert ticket_of_branch(legacy, "feat/pay-12-refunds") == "pay-12"
    assert is_ticket_branch(legacy, "feat/pay-12-refunds")
    assert ticket_of_branch(legacy, "feature/ENG-1-x") is None
    assert not is_ticket_branch(legacy, "feature/ENG-1-x")
    default = policy.for_repository("web-app")
    assert ticket_of_branch(default, "feature/ENG-1-x") == "ENG-1"


def test_repository_may_go_back_to_prefixes(write_policy: WritePolicy) -> None:
    policy = load(
        write_policy(
            r"""
            [defaults]
            ticket_pattern = '(?P<key>[A-Z]+-\d+)'
            [repositories.old]
            ticket_prefixes = ["topic/"]
            """
        )
    ).policy
    old = policy.for_repository("old")
    assert old.ticket_pattern is None
    assert is_ticket_branch(old, "topic/x") and not is_ticket_branch(old, "feature/ENG-1")
    assert is_ticket_branch(policy.for_repository("new"), "anything/ENG-1")


def test_hotfix_base_of_the_line(write_policy: WritePolicy) -> None:
    tags = ["v2.3.0", "v2.3.1", "v2.4.0", "v2.3.10", "v3.0.0", "v2.3.12"]
    assert hotfix_base_tag(tags, "2.3.11") == "v2.3.10"
    assert hotfix_base_tag(tags, "v2.4.1") == "v2.4.0"
    assert hotfix_base_tag(tags, "2.5.1") is None
    assert hotfix_base_tag(tags, "2.3.0") is None
    with pytest.raises(ValueError, match="not a version"):
        hotfix_base_tag(tags, "latest")
    rules = load(write_policy('[defaults]\nhotfix_base = "latest-tag-of-line"\n')).policy
    repo = rules.for_repository("payments-api")
    for release_type in ("patch", "hotfix"):
        base = release_base(repo, release_type, "2.3.2", branches=(), tags=tags, default_branch="m")
        assert base == "v2.3.1"
        none = release_base(repo, release_type, "9.0.1", branches=(), tags=tags, default_branch="m")
        assert none == "m"


def test_missing_base_branch_can_stop_the_plan(write_policy: WritePolicy) -> None:
    policy = load(write_policy('[defaults]\nbase_branch = "next"\nbase_branch_fallback = "fail"\n'))
    rules = policy.policy.for_repository("web-app")
    assert release_base(rules, "minor", "2.4.0", branches={"next"}, tags=(), default_branch="main")
    with pytest.raises(MissingBaseBranch, match="web-app has no branch 'next'"):
        release_base(rules, "minor", "2.4.0", branches={"main"}, tags=(), default_branch="main")


def _after(pairs: dict[str, list[str]]) -> Policy:
    return Policy.model_validate({"repositories": {k: {"after": v} for k, v in pairs.items()}})


def test_waves_for_lib_and_service() -> None:
    policy = _after({"service": ["lib"], "lib": []})
    assert waves(policy, ["service", "web-app", "lib"]) == [["web-app", "lib"], ["service"]]
    # lib is not in this release: service's `after` is satisfied
    assert waves(policy, ["service", "web-app"]) == [["service", "web-app"]]


def test_waves_for_a_diamond() -> None:
    policy = _after({"app": ["left", "right"], "left": ["core"], "right": ["core"], "core": []})
    assert waves(policy, ["app", "right", "left", "core", "docs"]) == [
        ["core", "docs"],
        ["right", "left"],
        ["app"],
    ]
    # without core, left and right start at once; the order does not pass through absentees
    assert waves(policy, ["app", "left", "right"]) == [["left", "right"], ["app"]]
    assert waves(policy, ["app", "core"]) == [["app", "core"]]


def test_waves_refuse_a_cycle_built_in_code() -> None:
    with pytest.raises(ValueError, match="cycle"):
        waves(_after({"a": ["b"], "b": ["a"]}), ["a", "b"])


def test_approval_rule_by_release_type(write_policy: WritePolicy) -> None:
    policy = load(
        write_policy(
            """\
            [approvals.release_approval]
            four_eyes = true
            remind_after = "4h"
            expire_after = "2d"
            on_expire = "pause"

            [approvals.release_approval.by_release_type]
            major = 2
            hotfix = { four_eyes = false, roles = ["approver", "release_manager"], expire_after = "6h", on_expire = "reject" }
            """  # noqa: E501
        )
    ).policy
    major = policy.approval_rule("release_approval", "major")
    assert (major.approvers, major.four_eyes, major.roles) == (2, True, ("approver", "admin"))
    assert (major.remind_after, major.expire_after, major.on_expire) == (14_400, 172_800, "pause")
    minor = policy.approval_rule("release_approval", "minor")
    assert minor.approvers == 1 and minor.four_eyes is True
    hotfix = policy.approval_rule("release_approval", "hotfix")
    assert hotfix.approvers == 1 and not hotfix.uses_four_eyes(True)
    assert hotfix.allows({"release_manager"}) and not major.allows({"release_manager"})
    assert (hotfix.expire_after, hotfix.on_expire) == (21_600, "reject")
    assert policy.approval_rule("plan_approval", "major").approvers == 1
    with pytest.raises(ValueError, match="unknown decision kind"):
        policy.approval_rule("deploy", "major")


def test_step_limits_merge_over_the_default_step(write_policy: WritePolicy) -> None:
    policy = load(
        write_policy(
            """\
            [steps.default]
            tries = 4
            backoff = { base = "2s", cap = "5s" }
            [steps.finalize]
            retry_on = ["transient", "conflict"]
            backoff = { jitter = false }
            """
        )
    ).policy
    plan = policy.step_limits("plan_release")
    final = policy.step_limits("finalize")
    assert plan.tries == final.tries == 4
    assert plan.auto_retries == 3
    assert final.backoff.base == 2 and final.backoff.cap == 5 and not final.backoff.jitter
    assert [final.pause(n) for n in range(4)] == [2, 4, 5, 5]  # capped, no jitter
    assert all(1 <= plan.pause(0) <= 2 for _ in range(20))  # jittered into [base/2, base]
    assert final.retries("MergeConflict") and final.retries("ConflictError")
    assert not plan.retries("ConflictError")
    assert final.retries("TransientError", transient=True)
    assert not final.retries("NotFound") and not final.retries("SomethingElse")
    with pytest.raises(ValueError, match="unknown step"):
        policy.step_limits("deploy")


def test_notes_sections_and_other_title(write_policy: WritePolicy) -> None:
    notes = load(
        write_policy(
            """\
            [notes]
            title = "Release {version}"
            sections = [{ title = "Features", types = ["Story", "New Feature"] }, { title = "Fixes", types = ["Bug"] }]
            other_title = "Everything else"
            """  # noqa: E501
        )
    ).policy.notes
    assert notes.title_for("ENG", "2.4.0") == "Release 2.4.0"
    assert notes.section_of("New Feature") == (0, "Features")
    assert notes.section_of("Bug") == (1, "Fixes")
    assert notes.section_of("Task") == notes.section_of("Epic") == (2, "Everything else")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Story", "Stories"),
        ("Bug", "Bugs"),
        ("Task", "Tasks"),
        ("Sub-task", "Sub-tasks"),
        ("Epic", "Epics"),
        ("Improvement", "Improvements"),
        ("New Feature", "New Features"),
        ("Day", "Days"),
        ("Patch", "Patches"),
        ("Fix", "Fixes"),
    ],
)
def test_plural(word: str, expected: str) -> None:
    assert plural(word) == expected

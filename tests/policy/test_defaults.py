"""Built-in defaults (and the shipped example) reproduce today's hard-coded behaviour."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from enigma.api.auth import ROLE_ACTIONS
from enigma.context import Context
from enigma.integrations import errors as integration_errors
from enigma.policy import (
    APPROVAL_KINDS,
    ERROR_CLASSES,
    RELEASE_TYPES,
    STEP_NAMES,
    Policy,
    is_ticket_branch,
    latest_release_tag,
    load_policy,
    release_base,
    release_branch_name,
    target_branch,
    ticket_of_branch,
)
from enigma.policy.text import branch_name_problem
from enigma.runs.models import PolicyModel
from enigma.settings import Settings
from enigma.shipped import SANDBOX_SEED
from enigma.state import RELEASE_TYPES as STATE_RELEASE_TYPES

SEED = SANDBOX_SEED
SEED_REPOS = ["payments-api", "web-app", "notifications"]


def _seed_branches() -> list[str]:
    seed = tomllib.loads(SEED.read_text())
    return [b["name"] for r in seed["github"]["repos"] for b in r.get("branches", [])]


BRANCHES = [
    *_seed_branches(),
    "feature/ENG-101-refunds",
    "fix/ENG-7",
    "task/AB-1_x",
    "story/ENG-1234567-x",
    "chore/deps",
    "chore/ENG-9/sub",
    "release/2.4.0",
    "hotfix/2.3.1",
    "release/ENG-1",
    "develop",
    "main",
    "ENG-5-no-prefix",
    "feature/eng-101-lower",
    "feature/ENG-101x",
    "feature/X-1",
    "feature/ABCDEFGHIJK-1",
    "feature/ENG-12345678",
    "feature/ENG-1_underscore",
    "features/ENG-1",
    "Feature/ENG-1",
    "user/ENG-77-try",
    "",
]


# The conventions Enigma had hard-coded before the policy file (its first release): the
# built-in policy must keep them exactly.
_PREFIXES = ("feature/", "bugfix/", "fix/", "task/", "story/", "chore/")
_KEY = re.compile(r"(?:^|/)([A-Z][A-Z0-9]{1,9}-\d{1,7})(?=$|[-_/])")


def _todays_ticket(branch: str) -> str | None:
    match = _KEY.search(branch)
    return match.group(1) if match else None


@pytest.mark.parametrize("branch", BRANCHES)
def test_default_ticket_rules_name_the_same_ticket_as_today(branch: str) -> None:
    rules = Policy().for_repository("payments-api")
    assert ticket_of_branch(rules, branch) == _todays_ticket(branch)
    assert is_ticket_branch(rules, branch) == branch.startswith(_PREFIXES)


@pytest.mark.parametrize("release_type", RELEASE_TYPES)
@pytest.mark.parametrize("version", ["2.4.0", "2.3.1", "10.0.0"])
def test_default_release_branch_names_are_todays(release_type: str, version: str) -> None:
    rules = Policy().for_repository("web-app")
    prefix = "hotfix" if release_type in ("patch", "hotfix") else "release"
    assert release_branch_name(rules, release_type, version) == f"{prefix}/{version}"


def test_default_bases_and_target_are_todays() -> None:
    rules = Policy().for_repository("notifications")
    tags = ["v2.3.0", "v2.4.0", "v10.0.0", "v2.3.1", "latest", "2.9.9"]

    def base(release_type: str, branches: set[str], tags: list[str]) -> str:
        return release_base(
            rules, release_type, "2.3.1", branches=branches, tags=tags, default_branch="main"
        )

    # major / minor / release: develop if it exists, else the default branch
    for release_type in ("major", "minor", "release"):
        assert base(release_type, {"main", "develop"}, tags) == "develop"
        assert base(release_type, {"main"}, tags) == "main"
    # patch / hotfix: the latest tag of the line the version fixes (2.3.1 from v2.3.0, not
    # from v10.0.0, the highest of all), else the default branch
    for release_type in ("patch", "hotfix"):
        assert base(release_type, {"develop"}, tags) == "v2.3.0"
        assert latest_release_tag(tags) == "v10.0.0"
        assert base(release_type, {"develop"}, []) == "main"
    assert target_branch(rules, "main") == "main"


def test_latest_release_tag_agrees_with_the_git_planner(tmp_path: Path) -> None:
    from enigma.integrations.git_mirror import GitMirror

    repo = tmp_path / "repo"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    tags = ["v2.3.0", "v2.10.0", "v2.9.1", "v10.0.0-rc1", "release-3", "v1.0.0"]
    for tag in tags:
        subprocess.run([*git, "tag", tag], check=True)
    planner = GitMirror(tmp_path / "mirrors")
    assert latest_release_tag(tags) == planner.last_release_tag(repo / ".git") == "v2.10.0"


def test_other_defaults_are_todays() -> None:
    policy = Policy()
    rules = policy.for_repository("payments-api")
    assert tuple(rules.checks.green) == ("success", "neutral", "skipped")
    assert rules.checks.required == [] and rules.checks.sources == ["check_runs"]
    assert rules.checks.when_none == "wait"
    assert rules.checks.timeout == 600.0
    # the settings override the policy only when set
    assert Settings.model_fields["check_timeout_seconds"].default is None
    assert Context.__dataclass_fields__["check_timeout_seconds"].default is None
    assert rules.merge_method == "merge"
    assert policy.tracker.done_status == "Done"
    assert policy.tracker.comment_for("2.4.0", "L") == "Released in 2.4.0: L"
    assert policy.tracker.release_version is True
    assert policy.tracker.version_name_for("2.4.0") == "2.4.0"
    assert policy.notes.title_for("ENG", "2.4.0") == "ENG 2.4.0 release notes"
    assert policy.run.deadline == 86_400.0
    assert Settings.model_fields["run_deadline_seconds"].default is None


def test_default_note_sections_keep_todays_order() -> None:
    sections = Policy().notes
    types = ["Improvement", "Task", "Bug", "Story", "Epic"]
    ordered = sorted(types, key=lambda t: sections.section_of(t)[0])
    todays = {"Story": 0, "Bug": 1, "Task": 2}
    assert ordered == sorted(types, key=lambda t: todays.get(t, 9))
    assert [sections.section_of(t)[1] for t in ("Story", "Bug", "Task", "Sub-task")] == [
        "Stories",
        "Bugs",
        "Tasks",
        "Sub-tasks",
    ]


@pytest.mark.parametrize("step", STEP_NAMES)
def test_default_step_limits_are_todays(step: str) -> None:
    limits = Policy().step_limits(step)
    assert limits.timeout == 1800.0
    assert limits.auto_retries == 2
    assert PolicyModel().auto_retries is None  # a run takes the policy's unless it says
    assert limits.retries("TransientError", transient=True)
    assert not limits.retries("NotFound") and not limits.retries("ChecksFailed")
    base = 1.0  # the backoff of automatic retries before the policy file
    for retry in range(limits.auto_retries):
        # nodes/errors.py: pause = base * 2**n, drawn from uniform(pause / 2, pause)
        pause = base * 2**retry
        assert limits.pause(retry, lambda low, high: low + high) == pause / 2 + pause


def test_default_approvals_are_todays_roles() -> None:
    policy = Policy()
    action = {
        "plan_approval": "approve",
        "release_approval": "approve",
        "conflict": "decide",
        "error": "decide",
    }
    for kind in APPROVAL_KINDS:
        for release_type in (None, *RELEASE_TYPES):
            rule = policy.approval_rule(kind, release_type)
            assert set(rule.roles) == ROLE_ACTIONS[action[kind]]
            assert rule.approvers == 1
            assert rule.four_eyes is None  # ENIGMA_FOUR_EYES decides
            assert rule.uses_four_eyes(True) and not rule.uses_four_eyes(False)
            assert rule.expire_after is None and rule.remind_after is None


def test_policy_names_match_the_code() -> None:
    assert RELEASE_TYPES == STATE_RELEASE_TYPES
    assert set(ERROR_CLASSES.values()) <= set(integration_errors.__all__)


def test_example_file_is_valid_and_equals_defaults_for_the_seed_repositories() -> None:
    from enigma.policy import example_text, parse_policy

    example = parse_policy(example_text())
    defaults = Policy()
    for name in SEED_REPOS:
        assert example.for_repository(name) == defaults.for_repository(name)
    for section in ("tracker", "run", "notes", "notifications"):
        assert getattr(example, section) == getattr(defaults, section)
    for kind in APPROVAL_KINDS:
        for release_type in (None, *RELEASE_TYPES):
            assert example.approval_rule(kind, release_type) == defaults.approval_rule(
                kind, release_type
            )
    for step in STEP_NAMES:
        assert example.step_limits(step) == defaults.step_limits(step)
    assert example.for_repository("service").after == ("lib",)


def test_example_covers_every_section() -> None:
    from enigma.policy import example_text

    data = tomllib.loads(example_text())
    text = example_text()
    for section in Policy.model_fields:
        assert section in data or f"[[{section}]]" in text, section
    for kind in APPROVAL_KINDS:
        assert kind in data["approvals"]


def test_example_notification_channels_are_valid_when_uncommented() -> None:
    from enigma.policy import example_text, parse_policy

    text = example_text()
    block = text[text.index("# [[notifications]]") :]
    uncommented = "\n".join(line.removeprefix("#").removeprefix(" ") for line in block.splitlines())
    policy = parse_policy(uncommented)
    assert [c.type for c in policy.notifications] == ["slack", "webhook", "email"]


def test_without_a_file_the_built_in_defaults_apply(tmp_path: Path) -> None:
    loaded = load_policy(cwd=tmp_path, env={})
    assert loaded.source is None and loaded.policy == Policy()
    assert loaded.source_label == "built-in defaults"


@pytest.mark.parametrize(
    "name",
    ["release/2.4.0", "a..b", "-x", "x.lock", "x/", "a b", "a~b", "a^b", "a:b", "a?b", "a*b",
     "a[b", "a\\b", "a//b", "a@{b", "@", ".x", "x/.y", "ok/name-1_2", "x.", "/x"],
)  # fmt: skip
def test_branch_name_check_agrees_with_git(name: str) -> None:
    git = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, text=True, check=False
    )
    git_ok = git.returncode == 0 and git.stdout.strip() == name
    assert (branch_name_problem(name) is None) == git_ok

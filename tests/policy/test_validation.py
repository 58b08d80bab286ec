"""A policy file is refused with every problem's key path, reason and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from enigma.policy import Policy, PolicyError, load_policy, parse_duration
from tests.policy.conftest import WritePolicy, load, problems_of


def test_unknown_key_is_refused_with_its_path_and_line(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        # team conventions
        [defaults]
        merge_method = "squash"

        [repositories.web-app.checks]
        requried = ["build"]
        """
    )
    assert problems_of(path) == [
        "enigma.toml:6: repositories.web-app.checks.requried: "
        "unknown key 'requried'; did you mean 'required'?"
    ]


def test_unknown_top_level_table_lists_what_is_allowed(write_policy: WritePolicy) -> None:
    path = write_policy("[deploy]\nenv = 'prod'\n")
    (problem,) = problems_of(path)
    assert problem.startswith("enigma.toml:1: deploy: unknown key 'deploy'; this table takes:")
    assert "repositories" in problem and "approvals" in problem


def test_bad_element_of_a_list_names_its_index_and_line(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        [repositories.web-app.checks]
        required = [
          "build",
          42,
        ]
        green = ["success", "purple"]
        """
    )
    problems = problems_of(path)
    assert problems[0] == (
        "enigma.toml:4: repositories.web-app.checks.required[1]: Input should be a valid string"
    )
    assert problems[1].startswith("enigma.toml:6: repositories.web-app.checks.green[1]: ")


def test_every_problem_is_reported_at_once(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        [defaults]
        merge_method = "fast-forward"
        [tracker]
        done_status = ""
        [steps.default]
        tries = 0
        """
    )
    problems = problems_of(path)
    assert [p.split(": ")[0:2] for p in problems] == [
        ["enigma.toml:2", "defaults.merge_method"],
        ["enigma.toml:4", "tracker.done_status"],
        ["enigma.toml:6", "steps.default.tries"],
    ]
    assert "'merge', 'squash' or 'rebase'" in problems[0]


def test_toml_syntax_error_names_its_line(write_policy: WritePolicy) -> None:
    path = write_policy('[defaults]\nmerge_method = "merge"\nbase_branch = = "x"\n')
    assert problems_of(path) == ["enigma.toml:3: not valid TOML: Invalid value"]


def test_cycle_is_refused_naming_every_repository_in_it(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        [repositories.service]
        after = ["lib"]

        [repositories.lib]
        after = ["service"]

        [repositories.web-app]
        """
    )
    assert problems_of(path) == [
        "enigma.toml:5: repositories.lib.after: repositories form a cycle: lib → service → lib"
    ]


def test_longer_cycle_and_self_reference(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        [repositories.a]
        after = ["c"]
        [repositories.b]
        after = ["a"]
        [repositories.c]
        after = ["b"]
        [repositories.d]
        after = ["d"]
        """
    )
    assert problems_of(path) == [
        "enigma.toml:2: repositories.a.after: repositories form a cycle: a → c → b → a",
        "enigma.toml:8: repositories.d.after[0]: d cannot come after itself",
    ]


def test_unknown_after_name_is_refused_naming_both(write_policy: WritePolicy) -> None:
    path = write_policy('[repositories.service]\nafter = ["lib", "libb"]\n[repositories.lib]\n')
    assert problems_of(path) == [
        "enigma.toml:2: repositories.service.after[1]: service comes after unknown repository "
        "'libb': add a [repositories.libb] table, or check the spelling"
    ]


def test_after_may_name_a_known_repository_without_a_table(write_policy: WritePolicy) -> None:
    path = write_policy('[repositories.service]\nafter = ["lib"]\n')
    assert "unknown repository 'lib'" in problems_of(path)[0]
    assert load(path, known=("lib", "web-app")).policy.for_repository("service").after == ("lib",)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("feature/(?P<key>[A-Z]+-\\d+", "not a regular expression: missing ), unterminated"),
        ("feature/([A-Z]+-\\d+)", "the pattern needs a named group for the ticket key"),
    ],
)
def test_bad_ticket_pattern_is_refused(
    write_policy: WritePolicy, pattern: str, reason: str
) -> None:
    path = write_policy(f"[repositories.web-app]\nticket_pattern = '{pattern}'\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"enigma.toml:2: repositories.web-app.ticket_pattern: {reason}")


def test_prefixes_and_pattern_together_are_refused(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        [defaults]
        ticket_prefixes = ["feature/"]
        ticket_pattern = '(?P<key>[A-Z]+-\\d+)'
        """
    )
    assert problems_of(path) == [
        "enigma.toml:1: defaults: give either ticket_prefixes or ticket_pattern, not both"
    ]


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("release/{v}", "unknown placeholder {v}; this template may use {version}"),
        ("release/latest", "the template must contain {version}"),
        ("release {version}", "for version 2.4.0: branch name 'release 2.4.0' contains ' '"),
        ("release/{version.real}", "placeholder {version.real} must be a plain name"),
        ("release/{version", "not a valid template"),
    ],
)
def test_release_branch_templates_are_checked(
    write_policy: WritePolicy, template: str, reason: str
) -> None:
    path = write_policy(f'[defaults.release_branch]\nmajor = "{template}"\n')
    (problem,) = problems_of(path)
    assert problem.startswith(f"enigma.toml:2: defaults.release_branch.major: {reason}")


def test_repository_names_are_checked(write_policy: WritePolicy) -> None:
    path = write_policy('[repositories."web app"]\nmerge_method = "merge"\n')
    (problem,) = problems_of(path)
    assert problem.startswith("enigma.toml:1: repositories.\"web app\": 'web app' is not a")


def test_approval_deadlines_must_make_sense_together(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        [approvals.release_approval]
        remind_after = "4h"
        expire_after = "2d"
        on_expire = "pause"
        [approvals.release_approval.by_release_type]
        major = { expire_after = "1h" }
        [approvals.error]
        on_expire = "reject"
        """
    )
    assert problems_of(path) == [
        "enigma.toml:6: approvals.release_approval.by_release_type.major: "
        "remind_after must be shorter than expire_after",
        "enigma.toml:7: approvals.error: "
        "expire_after and on_expire go together: give both or neither",
    ]


def test_unknown_roles_steps_and_error_classes_are_refused(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        [approvals.plan_approval]
        roles = ["approver", "boss"]
        [steps.fetch_ticket]
        tries = 2
        [steps.finalize]
        retry_on = ["transient", "timeout"]
        """
    )
    problems = problems_of(path)
    assert problems[0].startswith("enigma.toml:2: approvals.plan_approval.roles[1]: Input ")
    assert problems[1] == (
        "enigma.toml:3: steps.fetch_ticket: "
        "unknown key 'fetch_ticket'; did you mean 'fetch_tickets'?"
    )
    assert problems[2].startswith("enigma.toml:6: steps.finalize.retry_on[1]: Input should be")


def test_notification_channels_use_the_notify_models(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        [[notifications]]
        type = "slack"
        webhook_url_env = "SLACK_URL"

        [[notifications]]
        type = "webhook"
        url = "ftp://example.com"

        [[notifications]]
        type = "pigeon"
        """
    )
    problems = problems_of(path)
    assert problems[0].startswith("enigma.toml:7: notifications[1].url: String should match")
    assert problems[1].startswith("enigma.toml:9: notifications[2]: Input tag 'pigeon'")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        (2.5, 2.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("4h", 14_400.0),
        ("2d", 172_800.0),
        ("1h30m", 5_400.0),
        (" 1w ", 604_800.0),
        ("500ms", 0.5),
    ],
)
def test_durations_parse(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5", "5 minutes", "1x", True, -1, None])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_durations_in_the_file(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        [steps.default]
        timeout = "45m"
        [steps.wait_for_checks]
        timeout = 7200
        [run]
        deadline = "2d"
        [defaults.checks]
        timeout = "15m"
        none_grace = "90s"
        """
    )
    policy = load(path).policy
    assert policy.step_limits("fetch_tickets").timeout == 2700
    assert policy.step_limits("wait_for_checks").timeout == 7200
    assert policy.run.deadline == 172_800
    checks = policy.for_repository("any").checks
    assert (checks.timeout, checks.none_grace) == (900, 90)
    bad = write_policy('[run]\ndeadline = "soon"\n')
    assert problems_of(bad)[0].startswith("enigma.toml:2: run.deadline: 'soon' is not a duration")


def test_strings_are_not_coerced_to_numbers(write_policy: WritePolicy) -> None:
    path = write_policy('[approvals.plan_approval]\napprovers = "2"\nfour_eyes = "yes"\n')
    problems = problems_of(path)
    assert problems[0].startswith("enigma.toml:2: approvals.plan_approval.approvers: ")
    assert problems[1].startswith("enigma.toml:3: approvals.plan_approval.four_eyes: ")


def test_empty_file_is_the_defaults(write_policy: WritePolicy) -> None:
    loaded = load(write_policy("# nothing yet\n"))
    assert loaded.policy == Policy()
    assert loaded.hash == load_policy(env={}, cwd=Path("/nonexistent")).hash


def test_file_is_found_by_env_then_working_directory(tmp_path: Path) -> None:
    (tmp_path / "enigma.toml").write_text('[defaults]\nmerge_method = "squash"\n')
    other = tmp_path / "elsewhere.toml"
    other.write_text('[defaults]\nmerge_method = "rebase"\n')
    found = load_policy(cwd=tmp_path, env={})
    assert found.source == tmp_path / "enigma.toml"
    assert found.policy.for_repository("x").merge_method == "squash"
    by_env = load_policy(cwd=tmp_path, env={"ENIGMA_POLICY": "elsewhere.toml"})
    assert by_env.source == other
    assert by_env.policy.for_repository("x").merge_method == "rebase"


def test_missing_env_file_is_an_error_not_a_silent_default(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(cwd=tmp_path, env={"ENIGMA_POLICY": "missing.toml"})
    assert "cannot read the policy file: No such file or directory" in str(caught.value)
    assert str(tmp_path / "missing.toml") in str(caught.value)


def test_tracker_and_notes_templates_are_checked(write_policy: WritePolicy) -> None:
    path = write_policy(
        """\
        [tracker]
        comment = "Shipped in {release}"
        version_name = "payments"

        [notes]
        title = "{project} notes"
        """
    )
    assert problems_of(path) == [
        "enigma.toml:2: tracker.comment: unknown placeholder {release}; "
        "this template may use {links}, {version}",
        "enigma.toml:3: tracker.version_name: the template must contain {version}",
        "enigma.toml:6: notes.title: the template must contain {version}",
    ]
    sections = write_policy(
        """        [notes]
        sections = [
          { title = "Features", types = ["Story", "Epic"] },
          { title = "Big things", types = ["Epic"] },
        ]
        """
    )
    assert problems_of(sections) == [
        "enigma.toml:1: notes: issue type 'Epic' is in two sections: 'Features' and 'Big things'"
    ]

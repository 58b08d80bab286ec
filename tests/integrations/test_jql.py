"""JQL built by the integrations: every value quoted and escaped, hostile values stay values."""

from __future__ import annotations

import pytest

from enigma.integrations.jql import build_jql, quote
from enigma.sandbox.jql import parse_jql

HOSTILE = '2.0" OR project != "ENG'


def test_plain_query_quotes_every_value() -> None:
    jql = build_jql("ENG", "2.4.0", "Sprint 42", ["In Review", "Done"])
    assert jql == (
        'project = "ENG" AND fixVersion = "2.4.0" AND sprint = "Sprint 42" '
        'AND status IN ("In Review", "Done") ORDER BY key ASC'
    )


def test_optional_clauses_are_left_out() -> None:
    assert build_jql("ENG", "2.4.0") == 'project = "ENG" AND fixVersion = "2.4.0" ORDER BY key ASC'


def test_hostile_fix_version_is_escaped() -> None:
    jql = build_jql("ENG", HOSTILE)
    assert jql == 'project = "ENG" AND fixVersion = "2.0\\" OR project != \\"ENG" ORDER BY key ASC'


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("a\\b", '"a\\\\b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("two\nlines", '"two\\nlines"'),
        ("tab\there", '"tab\\there"'),
        ("bell\x07", '"bell\\u0007"'),
        ('\\"', '"\\\\\\""'),
        ("Sprint 42 (ops)", '"Sprint 42 (ops)"'),
    ],
)
def test_quote_escapes(value: str, quoted: str) -> None:
    assert quote(value) == quoted


@pytest.mark.parametrize(
    "value", [HOSTILE, 'x\\" OR key = "ENG-1', "a\\", '"', "new\nline", "ENG) OR (1 = 1"]
)
def test_a_jql_parser_reads_each_value_back_as_one_literal(value: str) -> None:
    """Round trip through the sandbox's JQL grammar: the value matches itself and nothing else."""
    query = parse_jql(build_jql("ENG", value))
    assert query.matches({"key": "ENG-1", "project": "ENG", "fix_versions": [value]})
    assert not query.matches({"key": "ENG-1", "project": "ENG", "fix_versions": ["2.0"]})
    assert not query.matches({"key": "OPS-1", "project": "OPS", "fix_versions": ["2.0"]})


def test_hostile_sprint_and_status_stay_literals() -> None:
    query = parse_jql(build_jql("ENG", "2.4.0", HOSTILE, [HOSTILE]))
    issue = {"project": "ENG", "fix_versions": ["2.4.0"], "sprint": HOSTILE, "status": HOSTILE}
    assert query.matches(issue)
    assert not query.matches(issue | {"sprint": "Sprint 42"})

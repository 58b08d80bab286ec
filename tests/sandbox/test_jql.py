"""The sandbox's JQL subset: what it matches, how it orders, and how it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from enigma.sandbox.jql import (
    AllOf,
    AnyOf,
    Clause,
    JqlError,
    Negation,
    Op,
    OrderKey,
    parse_jql,
)

ISSUES: list[dict[str, Any]] = [
    {
        "key": "ENG-101",
        "project": "ENG",
        "project_name": "Engineering",
        "status": "In Review",
        "status_id": "4",
        "type": "Story",
        "fix_versions": ["2.4.0"],
        "sprint": "Sprint 42",
        "sprint_ids": ["42"],
        "labels": ["payments"],
        "summary": "Customers can request refunds from the order page",
    },
    {
        "key": "ENG-102",
        "project": "ENG",
        "status": "Done",
        "type": "Bug",
        "fix_versions": ["2.4.0", "2.3.1"],
        "sprint": ["Sprint 41", "Sprint 42"],
        "labels": ["payments", "hotfix"],
        "summary": "Currency rounding drops the last cent",
        "description": "Seen on split payments.",
    },
    {
        "key": "ENG-9",
        "project": "ENG",
        "status": "To Do",
        "type": "Task",
        "fix_versions": [],
        "labels": [],
        "summary": "Update the runbook",
        "comments": ["Please mention the pager rota"],
    },
    {
        "key": "OPS-7",
        "status": "In Progress",
        "type": "Task",
        "fix_versions": ["2.10.0"],
        "sprint": "Sprint 43",
        "labels": ["ops"],
        "summary": "Rotate the refund service keys",
    },
]


def keys(jql: str) -> list[str]:
    """Keys of the issues ``jql`` selects, in its order."""
    return [issue["key"] for issue in parse_jql(jql).select(ISSUES)]


# --- matching ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        ('fixVersion = "2.4.0"', ["ENG-101", "ENG-102"]),
        ("fixVersion = 2.4.0", ["ENG-101", "ENG-102"]),
        ("fixversion = '2.3.1'", ["ENG-102"]),
        ('sprint = "Sprint 42"', ["ENG-101", "ENG-102"]),
        ("sprint = 42", ["ENG-101"]),
        ('status = "in review"', ["ENG-101"]),
        ("status = 4", ["ENG-101"]),
        ("STATUS = DONE", ["ENG-102"]),
        ("issuetype = bug", ["ENG-102"]),
        ("type = Task", ["ENG-9", "OPS-7"]),
        ("project = eng", ["ENG-101", "ENG-102", "ENG-9"]),
        ('project = "Engineering"', ["ENG-101"]),
        ("project = OPS", ["OPS-7"]),
        ("key = eng-9", ["ENG-9"]),
        ("issuekey IN (ENG-101, OPS-7)", ["ENG-101", "OPS-7"]),
        ("labels = hotfix", ["ENG-102"]),
        ("labels IN (ops, hotfix)", ["ENG-102", "OPS-7"]),
        ("status != Done", ["ENG-101", "ENG-9", "OPS-7"]),
        ('status NOT IN ("Done", "To Do")', ["ENG-101", "OPS-7"]),
        ("labels != payments", ["OPS-7"]),
        ("fixVersion NOT IN (2.4.0)", ["OPS-7"]),
        ("fixVersion IS EMPTY", ["ENG-9"]),
        ("fixVersion = EMPTY", ["ENG-9"]),
        ("sprint is null", ["ENG-9"]),
        ("labels IS NOT EMPTY", ["ENG-101", "ENG-102", "OPS-7"]),
        ("fixVersion IN (EMPTY, 2.10.0)", ["ENG-9", "OPS-7"]),
        ("summary ~ refunds", ["ENG-101"]),
        ("summary ~ refund", ["OPS-7"]),
        ("summary ~ 'refund*'", ["ENG-101", "OPS-7"]),
        ('summary ~ "the order"', ["ENG-101"]),
        ('summary ~ "\\"order page\\""', ["ENG-101"]),
        ('summary ~ "\\"page order\\""', []),
        ("summary !~ refund", ["ENG-101", "ENG-102", "ENG-9"]),
        ("text ~ split", ["ENG-102"]),
        ("text ~ pager", ["ENG-9"]),
        ("comment ~ rota", ["ENG-9"]),
        ("description ~ payments", ["ENG-102"]),
        ("description IS EMPTY", ["ENG-101", "ENG-9", "OPS-7"]),
        ("", ["ENG-101", "ENG-102", "ENG-9", "OPS-7"]),
        ("   ", ["ENG-101", "ENG-102", "ENG-9", "OPS-7"]),
    ],
)
def test_clause_matching(jql: str, expected: list[str]) -> None:
    assert keys(jql) == expected


def test_and_binds_tighter_than_or() -> None:
    jql = "status = Done OR status = 'To Do' AND project = OPS"

    assert keys(jql) == ["ENG-102"]
    assert parse_jql(jql).where == AnyOf(
        (
            Clause("status", Op.EQ, ("Done",)),
            AllOf((Clause("status", Op.EQ, ("To Do",)), Clause("project", Op.EQ, ("OPS",)))),
        )
    )


def test_parentheses_override_precedence() -> None:
    assert keys("(status = Done OR status = 'To Do') AND project = OPS") == []
    assert keys("(status = Done OR status = 'To Do') AND project = ENG") == ["ENG-102", "ENG-9"]


def test_not_binds_tighter_than_and() -> None:
    jql = "NOT status = Done AND project = ENG"

    assert keys(jql) == ["ENG-101", "ENG-9"]
    assert isinstance(parse_jql(jql).where, AllOf)
    assert keys("NOT (status = Done AND project = ENG)") == ["ENG-101", "ENG-9", "OPS-7"]
    assert keys("not not status = done") == ["ENG-102"]


def test_symbolic_connectives() -> None:
    assert keys("status = Done || key = OPS-7 && labels = ops") == ["ENG-102", "OPS-7"]


def test_keywords_are_case_insensitive() -> None:
    query = parse_jql("Status not in (Done) aNd fixVersion Is Not Empty order BY Key desc")

    assert query.order_by == (OrderKey("key", descending=True),)
    assert [i["key"] for i in query.select(ISSUES)] == ["OPS-7", "ENG-101"]


def test_negated_clause_shape() -> None:
    assert parse_jql("NOT labels = ops").where == Negation(Clause("labels", Op.EQ, ("ops",)))


# --- hostile values and escapes -----------------------------------------------------------


def test_injected_quote_stays_one_literal() -> None:
    query = parse_jql('fixVersion = "2.0\\" OR project != \\"ENG"')

    assert query.where == Clause("fixversion", Op.EQ, ('2.0" OR project != "ENG',))
    assert query.select(ISSUES) == []


def test_hostile_value_matches_an_issue_that_really_has_it() -> None:
    odd = {"key": "ENG-1", "fix_versions": ['2.0" OR project != "ENG']}

    assert parse_jql('fixVersion = "2.0\\" OR project != \\"ENG"').matches(odd)


@pytest.mark.parametrize(
    ("jql", "value"),
    [
        (r'summary ~ "a\"b"', 'a"b'),
        (r"summary ~ 'it\'s'", "it's"),
        (r'summary ~ "back\\slash"', "back\\slash"),
        (r'summary ~ "tab\there"', "tab\there"),
        (r'summary ~ "line\nbreak"', "line\nbreak"),
        (r'summary ~ "\u0041BC"', "ABC"),
        (r'summary ~ "sp\ ace"', "sp ace"),
        ('summary ~ "it\'s"', "it's"),
        ("summary ~ 'say \"hi\"'", 'say "hi"'),
        ('summary ~ "ENG AND OR ORDER BY"', "ENG AND OR ORDER BY"),
    ],
)
def test_quoted_string_escapes(jql: str, value: str) -> None:
    assert parse_jql(jql).where == Clause("summary", Op.LIKE, (value,))


def test_keywords_inside_quotes_are_values() -> None:
    assert parse_jql('labels = "and"').where == Clause("labels", Op.EQ, ("and",))
    assert parse_jql("labels = android").where == Clause("labels", Op.EQ, ("android",))
    assert parse_jql("labels = ordering").where == Clause("labels", Op.EQ, ("ordering",))


# --- ordering -----------------------------------------------------------------------------


def test_order_by_key_is_natural() -> None:
    assert keys("project = ENG ORDER BY key") == ["ENG-9", "ENG-101", "ENG-102"]
    assert keys("project = ENG ORDER BY key DESC") == ["ENG-102", "ENG-101", "ENG-9"]


def test_order_by_several_keys() -> None:
    query = parse_jql("ORDER BY type ASC, key DESC")

    assert query.where is None
    assert query.order_by == (OrderKey("issuetype"), OrderKey("key", descending=True))
    assert keys("ORDER BY type ASC, key DESC") == ["ENG-102", "ENG-101", "OPS-7", "ENG-9"]


def test_order_by_version_is_natural() -> None:
    assert keys("fixVersion IS NOT EMPTY ORDER BY fixVersion DESC, key") == [
        "OPS-7",
        "ENG-101",
        "ENG-102",
    ]


def test_order_by_only_sort_fields() -> None:
    assert parse_jql("order by created desc, rank").order_by == (
        OrderKey("created", descending=True),
        OrderKey("rank"),
    )


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        (
            "status = ",
            "Error in the JQL Query: Expecting either a value, list or function before the end "
            "of the query.",
        ),
        (
            "status = AND",
            "Error in the JQL Query: Expecting either a value, list or function but got 'AND'. "
            "You must surround 'AND' in quotation marks to use it as a value. "
            "(line 1, character 10)",
        ),
        (
            "status Done",
            "Error in the JQL Query: Expecting operator but got 'Done'. The valid operators are "
            "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. "
            "(line 1, character 8)",
        ),
        ("status", "Error in the JQL Query: Expecting operator before the end of the query."),
        (
            "status = Done project = ENG",
            "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'project'. "
            "(line 1, character 15)",
        ),
        ("(status = Done", "Error in the JQL Query: Expecting ')' before the end of the query."),
        (
            "status in (Done,",
            "Error in the JQL Query: Expecting either a value, list or function before the end "
            "of the query.",
        ),
        (
            "status = Done ORDER key",
            "Error in the JQL Query: Expecting 'BY' but got 'key'. (line 1, character 21)",
        ),
        (
            'status = "Done',
            'Error in the JQL Query: The quoted string "Done has not been completed. '
            "(line 1, character 10)",
        ),
        (
            "summary ~ 50%",
            "Error in the JQL Query: The character '%' is a reserved JQL character. You must "
            "enclose it in a string or use the escape '\\u0025' instead. (line 1, character 13)",
        ),
        (
            r'summary ~ "a\qb"',
            "Error in the JQL Query: The escape sequence '\\q' in the quoted string \"a\\qb\" is "
            "illegal. (line 1, character 11)",
        ),
        ("owner = me", "Field 'owner' does not exist or you do not have permission to view it."),
        (
            "ORDER BY nonsense",
            "Field 'nonsense' does not exist or you do not have permission to view it.",
        ),
        ("status ~ Done", "The operator '~' is not supported by the 'status' field."),
        ("summary = refund", "The operator '=' is not supported by the 'summary' field."),
        ("fixVersion > 2.0", "The operator '>' is not supported by the 'fixVersion' field."),
        ("created = 2026-01-01", "The operator '=' is not supported by the 'created' field."),
        (
            "status = (Done, 'To Do')",
            "The operator '=' does not support a list of values for field 'status'.",
        ),
        ("status IS Done", "The operator 'is' only supports EMPTY or NULL for field 'status'."),
        (
            'summary ~ "  "',
            "The field 'summary' does not support searching for an empty string.",
        ),
        ("sprint in openSprints()", "Unable to find JQL function 'openSprints()'."),
    ],
)
def test_errors_in_jiras_words(jql: str, message: str) -> None:
    with pytest.raises(JqlError) as caught:
        parse_jql(jql)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    "jql",
    [
        "AND",
        "status = Done AND",
        "status = Done OR OR key = ENG-1",
        "= Done",
        "()",
        "status = Done)",
        "ORDER BY",
        "ORDER BY key,",
        "status in ()",
        "status = Done ORDER BY key sideways",
        "project = ENG; DROP TABLE issues",
        'project = ENG" OR "1" = "1',
    ],
)
def test_malformed_queries_are_refused(jql: str) -> None:
    with pytest.raises(JqlError, match=r"^(Error in the JQL Query|Field|The operator)"):
        parse_jql(jql)


def test_error_is_a_value_error() -> None:
    assert issubclass(JqlError, ValueError)

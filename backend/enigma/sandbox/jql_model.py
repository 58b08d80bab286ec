"""The meaning of a JQL query in the sandbox: fields, operators, conditions, ordering.

`jql.parse_jql` turns text into these objects; here they decide which issues match and in
what order. Issues are flat records (:class:`JqlIssue`), not Jira's JSON. Values compare
case-insensitively, as Jira does for keys, statuses, types and versions; ``!=`` and
``NOT IN`` never match an empty field, as in Jira; ``~`` matches words (``term*`` a prefix,
a quoted phrase as a phrase).

Which operators each field accepts is decided here too (:func:`check_clause`), so the
parser only has to know the grammar.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict, TypeVar

__all__ = [
    "ERROR_PREFIX",
    "AllOf",
    "AnyOf",
    "Clause",
    "Condition",
    "JqlError",
    "JqlIssue",
    "Negation",
    "Op",
    "OrderKey",
    "Query",
    "check_clause",
    "lookup_field",
]

ERROR_PREFIX = "Error in the JQL Query:"


class JqlError(ValueError):
    """A query the subset cannot run; ``str(error)`` is a message in Jira's words."""


class JqlIssue(TypedDict, total=False):
    """The flat issue record :meth:`Query.matches` reads; every key is optional.

    A list or a single string is accepted wherever a field can hold several values.
    """

    key: str
    id: str
    project: str
    project_name: str
    status: str
    status_id: str
    type: str
    type_id: str
    fix_versions: list[str]
    fix_version_ids: list[str]
    sprint: str | list[str]
    sprint_ids: list[str]
    labels: list[str]
    assignee: str
    summary: str
    description: str
    comments: list[str]
    created: str
    updated: str
    priority: str
    rank: str


class Op(StrEnum):
    """A JQL operator, spelled as Jira prints it in error messages."""

    EQ = "="
    NE = "!="
    LIKE = "~"
    NOT_LIKE = "!~"
    IN = "in"
    NOT_IN = "not in"
    IS = "is"
    IS_NOT = "is not"
    LT = "<"
    GT = ">"
    LE = "<="
    GE = ">="


_Reader = Callable[[Mapping[str, Any]], list[str]]


def _strings(issue: Mapping[str, Any], *names: str) -> list[str]:
    """Collect the string values of ``names`` in ``issue`` (scalars and lists alike)."""
    found: list[str] = []
    for name in names:
        value = issue.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            found.append(str(value))
        elif isinstance(value, list | tuple):
            found.extend(str(item) for item in value if item is not None)
    return [item for item in found if item != ""]


def _reader(*names: str) -> _Reader:
    """A reader returning the values stored under ``names``."""
    return lambda issue: _strings(issue, *names)


def _read_project(issue: Mapping[str, Any]) -> list[str]:
    """The project's key and name, or the key prefix when the record names no project."""
    found = _strings(issue, "project", "project_name")
    key = issue.get("key")
    if not found and isinstance(key, str) and "-" in key:
        found.append(key.rsplit("-", 1)[0])
    return found


@dataclass(frozen=True)
class _Field:
    """How one JQL field reads an issue and which operators it takes."""

    name: str
    read: _Reader
    text: bool = False
    searchable: bool = True


_FIELDS: dict[str, _Field] = {
    "project": _Field("project", _read_project),
    "fixversion": _Field("fixVersion", _reader("fix_versions", "fix_version_ids")),
    "sprint": _Field("sprint", _reader("sprint", "sprint_ids")),
    "status": _Field("status", _reader("status", "status_id")),
    "issuetype": _Field("issuetype", _reader("type", "type_id")),
    "key": _Field("key", _reader("key")),
    "id": _Field("id", _reader("id")),
    "labels": _Field("labels", _reader("labels")),
    "assignee": _Field("assignee", _reader("assignee")),
    "summary": _Field("summary", _reader("summary"), text=True),
    "description": _Field("description", _reader("description"), text=True),
    "comment": _Field("comment", _reader("comments"), text=True),
    "text": _Field("text", _reader("summary", "description", "comments"), text=True),
    "created": _Field("created", _reader("created"), searchable=False),
    "updated": _Field("updated", _reader("updated"), searchable=False),
    "priority": _Field("priority", _reader("priority"), searchable=False),
    "rank": _Field("rank", _reader("rank"), searchable=False),
}
_ALIASES = {"type": "issuetype", "issuekey": "key", "issue": "key", "fixversions": "fixversion"}
_VALUE_OPS = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS, Op.IS_NOT})
_TEXT_OPS = frozenset({Op.LIKE, Op.NOT_LIKE, Op.IS, Op.IS_NOT})
_LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
_EMPTY_OPS = frozenset({Op.IS, Op.IS_NOT})


def lookup_field(name: str) -> str:
    """The key in ``_FIELDS`` of the field called ``name`` (any case, aliases allowed)."""
    folded = name.casefold()
    key = _ALIASES.get(folded, folded)
    if key not in _FIELDS:
        raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
    return key


# --- conditions --------------------------------------------------------------------------


def _words(texts: Iterable[str]) -> list[str]:
    """The lower-cased words of ``texts``, in order."""
    return [word for text in texts for word in re.findall(r"\w+", text.casefold())]


def _text_matches(pattern: str, texts: list[str]) -> bool:
    """Jira-ish ``~``: every term is a word of the text (``term*`` a prefix); quotes = phrase."""
    words = _words(texts)
    stripped = pattern.strip()
    if len(stripped) > 1 and stripped[0] == stripped[-1] == '"':
        phrase = " ".join(_words([stripped]))
        return bool(phrase) and f" {phrase} " in f" {' '.join(words)} "
    terms = re.findall(r"\w+\*?", pattern.casefold())
    return bool(terms) and all(_term_matches(term, words) for term in terms)


def _term_matches(term: str, words: list[str]) -> bool:
    """Whether one search term (maybe ending in ``*``) matches one of ``words``."""
    if term.endswith("*"):
        return any(word.startswith(term[:-1]) for word in words)
    return term in words


@dataclass(frozen=True)
class Clause:
    """``field operator values``; a value of ``None`` stands for ``EMPTY``.

    ``field`` is the lower-case canonical name (``fixversion``, ``issuetype``, ...).
    """

    field: str
    op: Op
    values: tuple[str | None, ...]

    def matches(self, issue: Mapping[str, Any]) -> bool:
        """Whether ``issue`` satisfies this clause."""
        have = _FIELDS[self.field].read(issue)
        if self.op in (Op.LIKE, Op.NOT_LIKE):
            found = _text_matches(self.values[0] or "", have)
            return found if self.op is Op.LIKE else bool(have) and not found
        folded = {item.casefold() for item in have}
        hits = any(_equals(value, folded) for value in self.values)
        if self.op in (Op.EQ, Op.IN, Op.IS):
            return hits
        # Like Jira, "!=" and "NOT IN" never match an issue whose field is empty.
        return bool(folded) and not hits


def _equals(value: str | None, have: set[str]) -> bool:
    """Whether one clause value matches a field's case-folded values."""
    return not have if value is None else value.casefold() in have


@dataclass(frozen=True)
class AllOf:
    """Conditions joined by ``AND``."""

    parts: tuple[Condition, ...]

    def matches(self, issue: Mapping[str, Any]) -> bool:
        """Whether ``issue`` satisfies every part."""
        return all(part.matches(issue) for part in self.parts)


@dataclass(frozen=True)
class AnyOf:
    """Conditions joined by ``OR``."""

    parts: tuple[Condition, ...]

    def matches(self, issue: Mapping[str, Any]) -> bool:
        """Whether ``issue`` satisfies at least one part."""
        return any(part.matches(issue) for part in self.parts)


@dataclass(frozen=True)
class Negation:
    """``NOT condition``."""

    part: Condition

    def matches(self, issue: Mapping[str, Any]) -> bool:
        """Whether ``issue`` fails the negated condition."""
        return not self.part.matches(issue)


Condition = Clause | AllOf | AnyOf | Negation
_Issue = TypeVar("_Issue", bound=Mapping[str, Any])


@dataclass(frozen=True)
class OrderKey:
    """One ``ORDER BY`` item."""

    field: str
    descending: bool = False


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key that orders ``ENG-9`` before ``ENG-10`` and ``2.4.0`` before ``2.10.0``."""
    parts = re.findall(r"\d+|\D+", text.casefold())
    return tuple((1, int(part), "") if part.isdigit() else (0, 0, part) for part in parts)


@dataclass(frozen=True)
class Query:
    """A parsed query: an optional condition and the ``ORDER BY`` keys."""

    where: Condition | None
    order_by: tuple[OrderKey, ...] = ()

    def matches(self, issue: Mapping[str, Any]) -> bool:
        """Whether ``issue`` satisfies the query (an empty query matches every issue)."""
        return self.where is None or self.where.matches(issue)

    def sort(self, issues: Iterable[_Issue]) -> list[_Issue]:
        """``issues`` in ``ORDER BY`` order (stable; input order when there is none)."""
        ordered = list(issues)
        for key in reversed(self.order_by):
            read = _FIELDS[key.field].read
            ordered.sort(
                key=lambda issue: _natural(min(read(issue), default="")), reverse=key.descending
            )
        return ordered

    def select(self, issues: Iterable[_Issue]) -> list[_Issue]:
        """The matching ``issues``, sorted."""
        return self.sort(issue for issue in issues if self.matches(issue))


def check_clause(key: str, op: Op, values: list[str | None], is_list: bool) -> None:
    """Reject operator/field/operand combinations Jira rejects (`key` from lookup_field)."""
    field = _FIELDS[key]
    if not field.searchable or op not in (_TEXT_OPS if field.text else _VALUE_OPS):
        raise JqlError(f"The operator '{op}' is not supported by the '{field.name}' field.")
    if is_list and op not in _LIST_OPS:
        raise JqlError(
            f"The operator '{op}' does not support a list of values for field '{field.name}'."
        )
    if op in _EMPTY_OPS and values != [None]:
        raise JqlError(f"The operator '{op}' only supports EMPTY or NULL for field '{field.name}'.")
    if op in (Op.LIKE, Op.NOT_LIKE) and not (values[0] or "").strip():
        raise JqlError(f"The field '{field.name}' does not support searching for an empty string.")

"""A JQL subset for the sandbox Jira peer: a lark grammar, a tree of conditions, a matcher.

The peer answers ``/rest/api/2/search`` with it, so the subset is what a release needs:
``project``, ``fixVersion``, ``sprint``, ``status``, ``issuetype`` (alias ``type``), ``key``,
``labels`` and friends with ``=``, ``!=``, ``IN``, ``NOT IN``, ``IS [NOT] EMPTY``; ``summary``,
``description``, ``comment`` and ``text`` with ``~`` and ``!~``; ``AND`` over ``OR``, ``NOT``,
parentheses; ``ORDER BY field [ASC|DESC], ...``.

Why a grammar and not regular expressions: a value is one token of the language, so a hostile
value such as ``fixVersion = "2.0\\" OR project != \\"ENG"`` stays one literal (matching
nothing) instead of becoming a second clause; and every malformed query is rejected with a
message in Jira's words instead of degrading to "match everything".

Values compare case-insensitively, as Jira does for keys, statuses, types and versions.
Issues are matched as flat records (see :class:`JqlIssue`), not as Jira's JSON.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict, TypeVar

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedToken, v_args
from lark.exceptions import UnexpectedInput, VisitError

__all__ = [
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
    "parse_jql",
]

_GRAMMAR = r"""
start: [disjunction] [order_by]

?disjunction: conjunction ((_OR | _PIPES) conjunction)*
?conjunction: negation ((_AND | _AMPS) negation)*
?negation: NOT negation -> inverted
         | primary
?primary: _LPAR disjunction _RPAR
        | clause

clause: field operator operand
field: WORD | STRING

operator: EQ | NE | LIKE | NOT_LIKE | IN | NOT IN | IS | IS NOT | LT | GT | LE | GE

?operand: value
        | _LPAR value (_COMMA value)* _RPAR -> values
        | WORD _LPAR [value (_COMMA value)*] _RPAR -> function

?value: WORD -> word
      | STRING -> quoted
      | (_EMPTY | _NULL) -> empty

order_by: _ORDER _BY sort_key (_COMMA sort_key)*
sort_key: field [direction]
direction: _ASC -> asc
         | _DESC -> desc

_AND: "and"i
_AMPS: "&&"
_OR: "or"i
_PIPES: "||"
NOT: "not"i
IN: "in"i
IS: "is"i
_EMPTY: "empty"i
_NULL: "null"i
_ORDER: "order"i
_BY: "by"i
_ASC: "asc"i
_DESC: "desc"i
EQ: "="
NE: "!="
LIKE: "~"
NOT_LIKE: "!~"
LE: "<="
GE: ">="
LT: "<"
GT: ">"
_LPAR: "("
_RPAR: ")"
_COMMA: ","
WORD: /[\w.\-:]+/i
STRING: /"(?:[^"\\]|\\.)*"/s
      | /'(?:[^'\\]|\\.)*'/s

%ignore /\s+/
"""

_PREFIX = "Error in the JQL Query:"


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


def _lookup_field(name: str) -> str:
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


# --- from tokens to conditions -------------------------------------------------------------

_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", " ": " "}


def _unquote(token: Token) -> str:
    """The text of a quoted string token, with Jira's backslash escapes decoded."""
    body, out, index = token.value[1:-1], [], 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = body[index + 1]
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            index += 2
        elif escape == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[index + 2 : index + 6]):
            out.append(chr(int(body[index + 2 : index + 6], 16)))
            index += 6
        else:
            raise JqlError(
                f"{_PREFIX} The escape sequence '\\{escape}' in the quoted string "
                f"{token.value} is illegal. (line {token.line}, character {token.column})"
            )
    return "".join(out)


def _check_clause(field: _Field, op: Op, values: list[str | None], is_list: bool) -> None:
    """Reject operator/field/operand combinations Jira rejects."""
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


@v_args(inline=True)
class _Builder(Transformer[Token, Any]):
    """Turns lark's parse tree into :class:`Query` and its conditions."""

    def start(self, where: Condition | None, order: tuple[OrderKey, ...] | None) -> Query:
        return Query(where=where, order_by=order or ())

    def disjunction(self, *parts: Condition) -> AnyOf:
        return AnyOf(parts)

    def conjunction(self, *parts: Condition) -> AllOf:
        return AllOf(parts)

    def inverted(self, _not: Token, part: Condition) -> Negation:
        return Negation(part)

    def operator(self, *tokens: Token) -> Op:
        # Op's values are Jira's spellings: "=", "!=", "not in", "is not", ...
        return Op(" ".join(token.value.casefold() for token in tokens))

    def clause(self, field: str, op: Op, operand: tuple[list[str | None], bool]) -> Clause:
        values, is_list = operand
        _check_clause(_FIELDS[field], op, values, is_list)
        return Clause(field=field, op=op, values=tuple(values))

    def field(self, token: Token) -> str:
        return _lookup_field(_unquote(token) if token.type == "STRING" else token.value)

    def word(self, token: Token) -> tuple[list[str | None], bool]:
        return [token.value], False

    def quoted(self, token: Token) -> tuple[list[str | None], bool]:
        return [_unquote(token)], False

    def empty(self) -> tuple[list[str | None], bool]:
        return [None], False

    def values(self, *items: tuple[list[str | None], bool]) -> tuple[list[str | None], bool]:
        return [value for item in items for value in item[0]], True

    def function(self, name: Token, *args: Any) -> tuple[list[str | None], bool]:
        raise JqlError(f"Unable to find JQL function '{name.value}()'.")

    def order_by(self, *keys: OrderKey) -> tuple[OrderKey, ...]:
        return keys

    def sort_key(self, field: str, descending: bool | None) -> OrderKey:
        return OrderKey(field=field, descending=bool(descending))

    def asc(self) -> bool:
        return False

    def desc(self) -> bool:
        return True


# --- errors ----------------------------------------------------------------------------

_OPERATOR_TERMINALS = frozenset({"EQ", "NE", "LIKE", "NOT_LIKE", "IN", "IS", "LT"})
_KEYWORDS = frozenset(
    {"_AND", "_OR", "NOT", "IN", "IS", "_EMPTY", "_NULL", "_ORDER", "_BY", "_ASC", "_DESC"}
)
_OPERATORS_SENTENCE = (
    "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', "
    "'IS' and 'IS NOT'."
)


def _expected(expected: Sequence[str] | frozenset[str] | set[str]) -> str:
    """Jira's wording for what the parser wanted next."""
    names = set(expected)
    if names & _OPERATOR_TERMINALS:
        return "operator"
    if "_EMPTY" in names:
        return "either a value, list or function"
    if "_ASC" in names:
        return "either 'ASC', 'DESC', ',' or the end of the query"
    if "_AND" in names:
        return "either 'OR', 'AND' or ')'" if "_RPAR" in names else "either 'OR' or 'AND'"
    if "_COMMA" in names and "_RPAR" in names:
        return "either ',' or ')'"
    if "_BY" in names:
        return "'BY'"
    if "_RPAR" in names:
        return "')'"
    return "a field name"


def _token_error(error: UnexpectedToken) -> JqlError:
    """A Jira-worded error for a token the grammar did not expect."""
    wanted = _expected(error.accepts or error.expected)
    if error.token.type == "$END":
        return JqlError(f"{_PREFIX} Expecting {wanted} before the end of the query.")
    got = str(error.token.value)
    hint = ""
    if wanted == "operator":
        hint = f" {_OPERATORS_SENTENCE}"
    elif error.token.type in _KEYWORDS and "WORD" in error.expected:
        hint = f" You must surround '{got}' in quotation marks to use it as a value."
    where = f"(line {error.line}, character {error.column})"
    return JqlError(f"{_PREFIX} Expecting {wanted} but got '{got}'.{hint} {where}")


def _character_error(error: UnexpectedCharacters, text: str) -> JqlError:
    """A Jira-worded error for a character that starts no token."""
    position = error.pos_in_stream or 0
    char = text[position]
    where = f"(line {error.line}, character {error.column})"
    if char in "\"'":
        rest = text[position:]
        return JqlError(f"{_PREFIX} The quoted string {rest} has not been completed. {where}")
    return JqlError(
        f"{_PREFIX} The character '{char}' is a reserved JQL character. You must enclose it in "
        f"a string or use the escape '\\u{ord(char):04x}' instead. {where}"
    )


@functools.cache
def _parser() -> Lark:
    """The LALR parser (built once; a basic lexer so keywords are never values)."""
    return Lark(_GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=True)


def parse_jql(text: str) -> Query:
    """Parse ``text`` into a :class:`Query`, or raise :class:`JqlError` in Jira's words."""
    try:
        tree = _parser().parse(text)
        query = _Builder().transform(tree)
    except UnexpectedToken as error:
        raise _token_error(error) from None
    except UnexpectedCharacters as error:
        raise _character_error(error, text) from None
    except UnexpectedInput as error:
        raise JqlError(f"{_PREFIX} {error}") from None
    except VisitError as error:
        if isinstance(error.orig_exc, JqlError):
            raise error.orig_exc from None
        raise
    if not isinstance(query, Query):
        raise JqlError(f"{_PREFIX} the query could not be read.")
    return query

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

This module is the language (grammar, tokens, Jira-worded errors); what a parsed query means
and which issues it matches is in :mod:`enigma.sandbox.jql_model`, whose names are importable
from here as before.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedToken, v_args
from lark.exceptions import UnexpectedInput, VisitError

from enigma.sandbox.jql_model import (
    ERROR_PREFIX,
    AllOf,
    AnyOf,
    Clause,
    Condition,
    JqlError,
    JqlIssue,
    Negation,
    Op,
    OrderKey,
    Query,
    check_clause,
    lookup_field,
)

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
                f"{ERROR_PREFIX} The escape sequence '\\{escape}' in the quoted string "
                f"{token.value} is illegal. (line {token.line}, character {token.column})"
            )
    return "".join(out)


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
        check_clause(field, op, values, is_list)
        return Clause(field=field, op=op, values=tuple(values))

    def field(self, token: Token) -> str:
        return lookup_field(_unquote(token) if token.type == "STRING" else token.value)

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
        return JqlError(f"{ERROR_PREFIX} Expecting {wanted} before the end of the query.")
    got = str(error.token.value)
    hint = ""
    if wanted == "operator":
        hint = f" {_OPERATORS_SENTENCE}"
    elif error.token.type in _KEYWORDS and "WORD" in error.expected:
        hint = f" You must surround '{got}' in quotation marks to use it as a value."
    where = f"(line {error.line}, character {error.column})"
    return JqlError(f"{ERROR_PREFIX} Expecting {wanted} but got '{got}'.{hint} {where}")


def _character_error(error: UnexpectedCharacters, text: str) -> JqlError:
    """A Jira-worded error for a character that starts no token."""
    position = error.pos_in_stream or 0
    char = text[position]
    where = f"(line {error.line}, character {error.column})"
    if char in "\"'":
        rest = text[position:]
        return JqlError(f"{ERROR_PREFIX} The quoted string {rest} has not been completed. {where}")
    return JqlError(
        f"{ERROR_PREFIX} The character '{char}' is a reserved JQL character. You must enclose it "
        f"in a string or use the escape '\\u{ord(char):04x}' instead. {where}"
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
        raise JqlError(f"{ERROR_PREFIX} {error}") from None
    except VisitError as error:
        if isinstance(error.orig_exc, JqlError):
            raise error.orig_exc from None
        raise
    if not isinstance(query, Query):
        raise JqlError(f"{ERROR_PREFIX} the query could not be read.")
    return query

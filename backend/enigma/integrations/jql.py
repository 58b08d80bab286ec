"""Build the JQL the release searches with, with every value quoted and escaped.

JQL is a query language, so a value pasted into it raw is an injection: a fix version named
`2.0" OR project != "ENG` would widen the search to every other project. Every value here
goes through `quote()`, which wraps it in double quotes and escapes what could end or bend
the string (backslash, double quote, line breaks, other control characters), so whatever the
value holds it stays one string literal.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["build_jql", "keys_jql", "quote"]

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(value: str) -> str:
    """`value` as one JQL string literal."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def build_jql(
    project: str,
    fix_version: str,
    sprint: str | None = None,
    statuses: Sequence[str] | None = None,
) -> str:
    """Tickets of `project` in `fix_version` (and `sprint`, and one of `statuses`), by key."""
    clauses = [f"project = {quote(project)}", f"fixVersion = {quote(fix_version)}"]
    if sprint is not None:
        clauses.append(f"sprint = {quote(sprint)}")
    if statuses:
        clauses.append(f"status IN ({', '.join(quote(s) for s in statuses)})")
    return " AND ".join(clauses) + " ORDER BY key ASC"


def keys_jql(keys: Sequence[str]) -> str:
    """The tickets with these keys (each key quoted like any other value)."""
    return f"key IN ({', '.join(quote(k) for k in keys)}) ORDER BY key ASC"

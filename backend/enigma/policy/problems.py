"""What is wrong with a policy file: each problem with its key path, reason and line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PolicyError", "Problem", "format_path"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_path(parts: Sequence[str | int]) -> str:
    """Key path as users write it: `repositories.web-app.checks.required[1]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _BARE_KEY.match(part) else '"' + part.replace('"', '\\"') + '"'
            out += f".{key}" if out else key
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong: the key path (`a.b[1]`, "" for the whole file), why, and where."""

    path: str
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        """`<file>:<line>: <key.path>: <reason>`, leaving out what is not known."""
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyError(Exception):
    """The policy file cannot be used; `.problems` says every reason found."""

    def __init__(self, problems: list[Problem], source: str = "enigma.toml"):
        self.problems = problems
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"{self.source}: {count} problem{'s' if count != 1 else ''} in the release policy"
        return "\n".join([head, *(f"  {p.render(self.source)}" for p in self.problems)])

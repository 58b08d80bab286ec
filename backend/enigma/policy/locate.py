"""Best-effort: the line of a key path in TOML text, so a problem can say where to look.

tomllib keeps no positions, so this scans the text itself: table headers, array-of-table
headers, keys (dotted or quoted), inline tables and arrays, one element at a time. It never
fails: on text it does not understand it stops, and the caller falls back to the nearest
enclosing key it did find (tomllib reports real syntax errors itself, with their line).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence

__all__ = ["line_of", "locate"]

Path = tuple[str | int, ...]
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#]*")


class _Stop(Exception):
    pass


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.lines: dict[Path, int] = {}
        self.arrays: dict[Path, int] = {}

    @property
    def line(self) -> int:
        return self.text.count("\n", 0, self.pos) + 1

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def end_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def mark(self, path: Path) -> None:
        self.lines.setdefault(path, self.line)

    def skip_blank(self, newlines: bool) -> None:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif char in " \t\r" or (newlines and char == "\n"):
                self.pos += 1
            else:
                return

    def string(self) -> str:
        quote = self.peek()
        if self.peek(3) == quote * 3:
            end = self.text.find(quote * 3, self.pos + 3)
            if end < 0:
                raise _Stop
            value = self.text[self.pos + 3 : end]
            self.pos = end + 3
            while self.peek() == quote:  # a quote may close the string right before the delimiter
                self.pos += 1
            return value
        start = self.pos = self.pos + 1
        while self.pos < len(self.text) and self.text[self.pos] not in (quote, "\n"):
            self.pos += 2 if quote == '"' and self.text[self.pos] == "\\" else 1
        if self.peek() != quote:
            raise _Stop
        self.pos += 1
        return self.text[start : self.pos - 1]

    def key(self) -> Path:
        parts: list[str | int] = []
        while True:
            self.skip_blank(newlines=False)
            if self.peek() in ('"', "'"):
                parts.append(self.string())
            else:
                match = _BARE.match(self.text, self.pos)
                if not match:
                    raise _Stop
                parts.append(match.group())
                self.pos = match.end()
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return tuple(parts)
            self.pos += 1

    def resolve(self, parts: Path) -> Path:
        """A header's path, with the current index of each array of tables it lies in."""
        out: Path = ()
        for part in parts[:-1]:
            out += (part,)
            if out in self.arrays:
                out += (self.arrays[out],)
        return out + parts[-1:]

    def value(self, path: Path) -> None:
        self.skip_blank(newlines=False)
        self.mark(path)
        char = self.peek()
        if char in ('"', "'"):
            self.string()
        elif char == "[":
            self.pos += 1
            index = 0
            while True:
                self.skip_blank(newlines=True)
                if self.peek() == "]":
                    self.pos += 1
                    return
                self.value((*path, index))
                self.skip_blank(newlines=True)
                if self.peek() == ",":
                    self.pos += 1
                index += 1
        elif char == "{":
            self.pos += 1
            while True:
                self.skip_blank(newlines=False)
                if self.peek() == "}":
                    self.pos += 1
                    return
                key = self.key()
                if self.peek() != "=":
                    raise _Stop
                self.pos += 1
                self.mark(path + key)
                self.value(path + key)
                self.skip_blank(newlines=False)
                if self.peek() == ",":
                    self.pos += 1
        else:
            match = _SCALAR.match(self.text, self.pos)
            if not match or not match.group().strip():
                raise _Stop
            self.pos = match.end()

    def run(self) -> None:
        table: Path = ()
        while True:
            self.skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.peek(2) == "[[":
                self.pos += 2
                parts = self.resolve(self.key())
                self.arrays[parts] = self.arrays.get(parts, -1) + 1
                table = (*parts, self.arrays[parts])
                self.mark(parts)
                self.mark(table)
                self.end_line()
            elif self.peek() == "[":
                self.pos += 1
                table = self.resolve(self.key())
                self.mark(table)
                self.end_line()
            else:
                key = table + self.key()
                if self.peek() != "=":
                    raise _Stop
                self.pos += 1
                self.mark(key)
                self.value(key)


def locate(text: str) -> dict[Path, int]:
    """Every key path found in `text` → the line (1-based) where it starts."""
    scanner = _Scanner(text)
    with contextlib.suppress(_Stop, IndexError):
        scanner.run()
    return scanner.lines


def line_of(lines: dict[Path, int], path: Sequence[str | int]) -> int | None:
    """The line of `path`, or of the nearest enclosing key that was found."""
    parts = tuple(path)
    while parts:
        if parts in lines:
            return lines[parts]
        parts = parts[:-1]
    return None

"""Find, read and validate `enigma.toml`; every problem names its key path, reason and line.

Where the policy comes from, first match wins: the path given, `ENIGMA_POLICY` (a path; it must
exist), `enigma.toml` in the working directory, else the built-in defaults (today's behaviour).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from enigma.policy.describe import policy_hash
from enigma.policy.locate import line_of, locate
from enigma.policy.order import reference_problems
from enigma.policy.parts import APPROVAL_KINDS
from enigma.policy.problems import PolicyError, Problem, format_path
from enigma.policy.schema import Policy

__all__ = [
    "ENV_VAR",
    "FILE_NAME",
    "LoadedPolicy",
    "example_text",
    "find_policy_file",
    "load_policy",
    "parse_policy",
    "validate",
]

ENV_VAR = "ENIGMA_POLICY"
FILE_NAME = "enigma.toml"
_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column \d+\)$|\s*\(at end of document\)$")


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy, where it came from (None: built in) and its hash."""

    policy: Policy
    source: Path | None
    hash: str

    @property
    def source_label(self) -> str:
        """The file, or "built-in defaults"."""
        return str(self.source) if self.source is not None else "built-in defaults"


def example_text() -> str:
    """The commented example policy shipped in the package."""
    return resources.files("enigma.policy").joinpath("example.toml").read_text(encoding="utf-8")


def find_policy_file(
    *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Path | None:
    """The file `load_policy()` would read, or None for the built-in defaults."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    if env.get(ENV_VAR):
        return cwd / Path(env[ENV_VAR]).expanduser()
    candidate = cwd / FILE_NAME
    return candidate if candidate.is_file() else None


def load_policy(
    path: Path | None = None,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    known_repositories: Iterable[str] = (),
) -> LoadedPolicy:
    """Find, read and validate the policy; PolicyError lists every problem found.

    `known_repositories` are names an `after` may use besides the file's own repository
    tables (see `reference_problems`).
    """
    cwd = Path.cwd() if cwd is None else cwd
    if path is None:
        path = find_policy_file(cwd=cwd, env=env)
        if path is None:
            policy = Policy()
            return LoadedPolicy(policy, None, policy_hash(policy))
    path = cwd / path
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        problem = Problem("", f"cannot read the policy file: {reason}")
        raise PolicyError([problem], str(path)) from None
    except UnicodeDecodeError as exc:
        raise PolicyError([Problem("", f"not UTF-8 text: {exc.reason}")], str(path)) from None
    policy = parse_policy(text, source=str(path), known_repositories=known_repositories)
    return LoadedPolicy(policy, path, policy_hash(policy))


def parse_policy(
    text: str, *, source: str = FILE_NAME, known_repositories: Iterable[str] = ()
) -> Policy:
    """Validate policy text; PolicyError lists every problem with its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_WHERE.search(message)
        if found and found.group(1):
            line: int | None = int(found.group(1))
        else:  # "at end of document"
            line = text.count("\n") + (0 if text.endswith("\n") else 1) if found else None
        reason = f"not valid TOML: {message[: found.start()] if found else message}"
        raise PolicyError([Problem("", reason, line)], source) from None
    lines = locate(text)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(err, data, lines) for err in exc.errors(include_url=False)]
        raise PolicyError(_by_line(problems), source) from None
    problems = [
        Problem(p.path, p.message, line_of(lines, _split(p.path)))
        for p in validate(policy, known_repositories=known_repositories)
    ]
    if problems:
        raise PolicyError(_by_line(problems), source)
    return policy


def _by_line(problems: list[Problem]) -> list[Problem]:
    """In file order, as a compiler lists them (stable: same line keeps pydantic's order)."""
    return sorted(problems, key=lambda p: p.line or 0)


def validate(policy: Policy, *, known_repositories: Iterable[str] = ()) -> list[Problem]:
    """What the tables allow one by one but not together (no lines: there is no text here).

    Repository tables merged over the defaults, approval settings merged per release type,
    and the `after` references (see `reference_problems` for what counts as known).
    """
    problems: list[Problem] = []
    for name in policy.repositories:
        try:
            policy.for_repository(name)
        except ValidationError as exc:
            problems += _merge_problems(("repositories", name), exc)
    for kind in APPROVAL_KINDS:
        table = getattr(policy.approvals, kind)
        for release_type in (None, *table.by_release_type):
            try:
                policy.approval_rule(kind, release_type)
            except ValidationError as exc:
                where = ("approvals", kind, "by_release_type", release_type)
                problems += _merge_problems(where if release_type else where[:2], exc)
    return problems + reference_problems(policy, known_repositories)


def _merge_problems(where: tuple[str, ...], exc: ValidationError) -> list[Problem]:
    return [
        Problem(format_path(where), str(e["msg"]).removeprefix("Value error, "))
        for e in exc.errors(include_url=False)
    ]


def _split(path: str) -> tuple[str | int, ...]:
    """Inverse of format_path, good enough for finding a line."""
    parts: list[str | int] = []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|\[(\d+)\]|([^.\["]+)', path):
        quoted, index, bare = match.groups()
        parts.append(int(index) if index is not None else (quoted if quoted is not None else bare))
    return tuple(parts)


def _clean(loc: Sequence[str | int], data: Any) -> list[str | int]:
    """The error location as keys of the file: drop what pydantic adds (union tags, `[key]`)."""
    node, out = data, []
    for i, part in enumerate(loc):
        if part == "[key]" or (isinstance(node, dict) and node.get("type") == part):
            continue
        in_table = isinstance(node, dict) and part in node
        in_array = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_table or in_array:
            node = node[part]
        elif i < len(loc) - 1:
            continue
        out.append(part)
    return out


def _problem(err: ErrorDetails, data: Any, lines: dict[tuple[str | int, ...], int]) -> Problem:
    parts = _clean(err["loc"], data)
    line = line_of(lines, parts)
    if err["type"] == "extra_forbidden":
        return Problem(format_path(parts), _unknown_key(parts), line)
    if err["type"] == "missing":
        return Problem(format_path(parts), "this key is required here", line)
    return Problem(format_path(parts), str(err["msg"]).removeprefix("Value error, "), line)


def _unknown_key(parts: list[str | int]) -> str:
    key = str(parts[-1])
    allowed = _allowed_keys(parts[:-1])
    if not allowed:
        return f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    return f"unknown key {key!r}; this table takes: {', '.join(allowed)}"


def _unwrap(kind: Any) -> Any:
    while True:
        origin = get_origin(kind)
        args = [a for a in get_args(kind) if a is not type(None)]
        if origin is Union or origin is types.UnionType:
            if len(args) != 1:
                return kind
            kind = args[0]
        elif hasattr(kind, "__metadata__"):
            kind = get_args(kind)[0]
        else:
            return kind


def _allowed_keys(parts: Sequence[str | int]) -> list[str]:
    """The keys the table at `parts` takes, by walking the schema (empty when unsure)."""
    kind: Any = Policy
    for part in parts:
        kind = _unwrap(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field = kind.model_fields.get(str(part))
            if field is None:
                return []
            kind = field.annotation
        elif get_origin(kind) in (dict, list):
            kind = get_args(kind)[-1]
        else:
            return []
    kind = _unwrap(kind)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return list(kind.model_fields)
    return []

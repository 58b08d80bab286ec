"""Small text rules of the policy: templates, git branch names, repository names, plurals."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

__all__ = [
    "REPOSITORY_NAME",
    "branch_name_problem",
    "check_repository_name",
    "check_template",
    "fill",
    "plural",
]

REPOSITORY_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_REPOSITORY = re.compile(REPOSITORY_NAME)
# What `git check-ref-format --branch` refuses, minus the rules that need the object database.
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def check_repository_name(name: str) -> str:
    """The name itself, or ValueError if it cannot be a repository name."""
    if not _REPOSITORY.match(name):
        raise ValueError(
            f"{name!r} is not a repository name (letters, digits, '.', '_', '-'; "
            "starting with a letter or digit; at most 100 characters)"
        )
    return name


def check_template(template: str, allowed: Iterable[str], required: Iterable[str] = ()) -> str:
    """The template itself, or ValueError naming a placeholder it may not use or lacks."""
    try:
        fields = [(f, s, c) for _, f, s, c in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write {{{{ for a literal {{") from None
    names: list[str] = []
    for field, spec, conversion in fields:
        # only bare names: `{version.__class__}` or `{version[0]}` would reach into objects
        if spec or conversion or not field.isidentifier():
            raise ValueError(f"placeholder {{{field}}} must be a plain name like {{version}}")
        names.append(field)
    allowed_set = set(allowed)
    unknown = [n for n in names if n not in allowed_set]
    if unknown:
        can = ", ".join(f"{{{a}}}" for a in sorted(allowed_set)) or "none"
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; this template may use {can}")
    missing = [r for r in required if r not in names]
    if missing:
        raise ValueError(f"the template must contain {{{missing[0]}}}")
    return template


def fill(template: str, **values: str) -> str:
    """The template with its placeholders replaced (templates are checked when loaded)."""
    return template.format(**values)


def branch_name_problem(name: str) -> str | None:
    """Why `name` cannot be a git branch name, or None when it can."""
    if not name:
        return "a branch name cannot be empty"
    if name.startswith("-"):
        return f"branch name {name!r} starts with '-'"
    bad = _BAD_REF_CHARS.search(name)
    if bad:
        return f"branch name {name!r} contains {bad.group()!r}"
    if ".." in name or "@{" in name or "//" in name:
        return f"branch name {name!r} contains '..', '//' or '@{{'"
    if name.endswith(("/", ".", ".lock")) or name.startswith("/"):
        return f"branch name {name!r} starts or ends with '/', or ends with '.' or '.lock'"
    if any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        return f"a part of branch name {name!r} starts with '.' or ends with '.lock'"
    return None


def plural(word: str) -> str:
    """English plural of an issue type: Story → Stories, Bug → Bugs, New Feature → New Features."""
    lower = word.lower()
    if lower.endswith(("s", "sh", "ch", "x", "z")):
        return word + "es"
    if len(lower) > 1 and lower.endswith("y") and lower[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s" if word else word

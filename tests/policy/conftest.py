"""Policy files written to tmp_path, loaded the way Enigma loads them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest

from enigma.policy import LoadedPolicy, PolicyError, load_policy

WritePolicy = Callable[[str], Path]


@pytest.fixture
def write_policy(tmp_path: Path) -> WritePolicy:
    """Write `enigma.toml` (dedented) into tmp_path and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "enigma.toml"
        path.write_text(dedent(text))
        return path

    return write


def load(path: Path, known: tuple[str, ...] = ()) -> LoadedPolicy:
    """Load a policy file exactly as the service does, with no environment."""
    return load_policy(path, env={}, known_repositories=known)


def problems_of(path: Path, known: tuple[str, ...] = ()) -> list[str]:
    """Each problem rendered as `file:line: key.path: reason`, the way the CLI prints it."""
    with pytest.raises(PolicyError) as caught:
        load(path, known)
    return [p.render(path.name) for p in caught.value.problems]

"""Owner-only files: the data directory holds the run store, tokens and git mirrors.

`enigma` sets the process umask to 077 at start (cli.py), so whatever it creates there (SQLite
files and their -wal/-shm, git mirrors, the sandbox's files) is its user's alone. These
helpers say so explicitly too, for a data directory made by an older version (0755 / 0644)
and for code that runs Enigma in-process with another umask (tests, benchmarks).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["PRIVATE_UMASK", "private_dir", "private_file", "write_private"]

PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if missing; mode 0700 either way."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if missing; mode 0600 either way (its SQLite -wal/-shm too).

    SQLite gives the -wal and -shm files it creates the database file's mode, so a database
    file made 0600 before SQLite opens it keeps its journal private as well.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            each.chmod(0o600)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, which is never readable by others, not even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)  # it may have existed with a wider mode

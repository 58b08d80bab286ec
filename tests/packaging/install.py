"""Build Enigma's wheel and install it, with its dependencies, into a fresh virtualenv.

The wheel is built from a copy of the sources (pyproject.toml, README.md, backend/): setuptools
reuses an existing `build/` folder, so building in the checkout could ship a file deleted since
the last build. The dependency wheels are collected once into a wheelhouse under
`~/.cache/enigma-test-wheels/<key>`, keyed by requirements.lock, the runtime dependency list and
the Python version; later installs use it with `--no-index`, which keeps a run of this test
well under two minutes and independent of the package index.

The virtualenv is made without pip (ensurepip alone takes half a minute) and filled by this
interpreter's pip through `pip --python`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

__all__ = ["REPO_ROOT", "build_wheel", "clean_env", "install", "make_venv", "wheelhouse"]

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = REPO_ROOT / "requirements.lock"
CACHE = Path.home() / ".cache" / "enigma-test-wheels"


def _pip(*args: str, timeout: float = 600) -> None:
    """This interpreter's pip, without PYTHONPATH: `pip --python` runs pip inside the target
    environment, where a path to the checkout would make packages look installed already."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        check=True,
        timeout=timeout,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def build_wheel(out: Path) -> Path:
    """Enigma's wheel, built offline from a clean copy of the sources."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO_ROOT / "backend", src / "backend", ignore=ignore)
    dist = out / "dist"
    _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src))
    (wheel,) = dist.glob("enigma-*.whl")
    return wheel


def _key() -> str:
    """What decides the wheelhouse's contents: the lock, our runtime deps, the Python."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    digest = hashlib.sha256(LOCK.read_bytes())
    digest.update("\n".join(sorted(project["dependencies"])).encode())
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()[:16]


def wheelhouse(wheel: Path) -> Path:
    """The dependency wheels of `wheel`, from the cache or collected now (constrained by the lock).

    Collected into a temporary folder and renamed into place, so a session interrupted half way
    or a second session building at the same time never leaves a partial wheelhouse behind.
    """
    house = CACHE / _key()
    if house.is_dir():
        return house
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix="partial-", dir=CACHE))
    try:
        _pip("wheel", "-q", "-c", str(LOCK), "-w", str(partial), str(wheel), timeout=900)
        for own in partial.glob("enigma-*.whl"):
            own.unlink()
        with contextlib.suppress(OSError):  # another session got there first: theirs will do
            partial.rename(house)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return house


def make_venv(where: Path) -> Path:
    """A fresh virtualenv without pip; its python."""
    python = shutil.which("python3.11") or sys.executable
    subprocess.run([python, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    return where / "bin" / "python"


def install(python: Path, wheel: Path, house: Path) -> None:
    """Install `wheel` and its dependencies into `python`'s environment, from `house` only."""
    _pip(
        "--python",
        str(python),
        "install",
        "-q",
        "--no-compile",  # each module is compiled once, by the first command that imports it
        "--no-index",
        "--find-links",
        str(house),
        "-c",
        str(LOCK),
        str(wheel),
    )


def clean_env(home: Path, venv: Path) -> dict[str, str]:
    """The environment of a user who just installed Enigma: no ENIGMA_*, no checkout on the
    path, HOME (and so the platformdirs data directory) in `home`."""
    dropped = ("ENIGMA_", "XDG_", "PYTHON", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["HOME"] = str(home)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    return env

"""Files that ship inside the package, found through `importlib.resources`.

Enigma used to find its sandbox seed and web pages by walking up from `__file__` to the
checkout, so it ran only from a checkout: installed from a wheel, `data/sandbox/seed.toml` was
nowhere. Everything read at run time now lives under `backend/enigma/` and is declared as
package data in pyproject.toml, and this module is the one place that turns a package-relative
name into a path.

Callers get a real `Path`, not an `importlib.resources` Traversable: StaticFiles serves a
directory and the sandbox hands files to git, and both need the file system. Enigma does not
support being imported from a zip archive, so a resource that is not on disk is an error.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["SANDBOX_SEED", "WEB_DIR", "shipped_path"]


def shipped_path(*parts: str) -> Path:
    """A file or folder shipped in the `enigma` package, e.g. `shipped_path("web")`."""
    ref = resources.files("enigma").joinpath(*parts)
    if not isinstance(ref, Path):
        raise RuntimeError(f"enigma/{'/'.join(parts)} is not on the file system: install unzipped")
    return ref


SANDBOX_SEED = shipped_path("sandbox", "seed.toml")
"""The sandbox's seed: what the local Jira, GitHub and Confluence start with."""

WEB_DIR = shipped_path("web")
"""The web pages `/ui` serves: plain ES modules and CSS, no build step."""

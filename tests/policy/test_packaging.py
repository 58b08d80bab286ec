"""The example policy ships inside the wheel, where `importlib.resources` finds it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import enigma
from enigma.policy import example_text

ROOT = Path(enigma.__file__).resolve().parents[2]


def test_wheel_contains_the_example_policy(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "backend",
        source / "backend",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    out = tmp_path / "dist"
    build = "import sys; from setuptools import build_meta; build_meta.build_wheel(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", build, str(out)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = out.glob("enigma-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("enigma/policy/example.toml").decode() == example_text()
        assert "enigma/cli_policy.py" in archive.namelist()

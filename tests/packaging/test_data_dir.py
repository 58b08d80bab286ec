"""Where a checkout keeps its data, and that ENIGMA_DATA_DIR always wins.

The installed case (platformdirs' user data directory) is proven by `test_wheel.py`, which
installs the wheel for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from enigma.settings import Settings, default_data_dir, in_checkout
from enigma.shipped import SANDBOX_SEED, WEB_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_keeps_its_data_in_data_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's behaviour, unchanged: git-ignored `data/run` beside the sources."""
    monkeypatch.delenv("ENIGMA_DATA_DIR", raising=False)
    assert in_checkout()
    assert default_data_dir() == REPO_ROOT / "data" / "run"
    assert Settings().data_dir == REPO_ROOT / "data" / "run"


def test_enigma_data_dir_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Installed or not, the variable decides."""
    monkeypatch.setenv("ENIGMA_DATA_DIR", str(tmp_path / "elsewhere"))
    assert Settings().data_dir == tmp_path / "elsewhere"


def test_shipped_files_are_package_files() -> None:
    """The seed and the web page live inside the package, where the wheel carries them."""
    package = REPO_ROOT / "backend" / "enigma"
    assert package / "sandbox" / "seed.toml" == SANDBOX_SEED
    assert SANDBOX_SEED.is_file()
    assert (WEB_DIR / "index.html").is_file()
    assert not (REPO_ROOT / "data" / "sandbox" / "seed.toml").exists()  # one copy only

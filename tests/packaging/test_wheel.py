"""Enigma installed from its wheel, with no checkout anywhere in sight, releases and serves.

A user who runs `pip install enigma-*.whl` and then `enigma demo` in their home directory has
no `data/sandbox/seed.toml`, no `backend/enigma/web` and no `data/run/`: everything the
package reads must ship inside it, and its data must go to the user's data directory. These
tests build the wheel, install it into a fresh virtualenv and run the console script from an
empty directory, HOME pointing at a temporary folder, no ENIGMA_* variable but two that make
the sandbox's CI checks quick.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from enigma.sandbox.store import Store
from tests.conftest import RELEASE_2_4_0_EFFECTS
from tests.packaging.install import (
    REPO_ROOT,
    build_wheel,
    clean_env,
    install,
    make_venv,
    wheelhouse,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

QUICK_CHECKS = {"ENIGMA_SANDBOX_CHECK_DELAY_SECONDS": "0.3", "ENIGMA_CHECK_POLL_SECONDS": "0.1"}


@dataclass(frozen=True)
class Installed:
    """A virtualenv with the wheel installed, and a user's home and working directory."""

    venv: Path
    home: Path
    cwd: Path

    @property
    def enigma(self) -> str:
        """The installed console script."""
        return str(self.venv / "bin" / "enigma")

    @property
    def data_dir(self) -> Path:
        """Where platformdirs puts Enigma's data on Linux, under our HOME."""
        return self.home / ".local" / "share" / "enigma"

    def env(self) -> dict[str, str]:
        """The user's environment (see `clean_env`) with quick sandbox checks."""
        return clean_env(self.home, self.venv) | QUICK_CHECKS


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build, install, and give the user an empty home and working directory."""
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root / "build")
    install(make_venv(root / "venv"), wheel, wheelhouse(wheel))
    (root / "home").mkdir()
    (root / "cwd").mkdir()
    return Installed(root / "venv", root / "home", root / "cwd")


def _python(installed: Installed, code: str) -> str:
    done = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", code],
        cwd=installed.cwd,
        env=installed.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def test_the_installed_package_is_not_the_checkout(installed: Installed) -> None:
    """Guard for the tests below: the venv imports its own copy, which knows it is installed."""
    where = _python(
        installed,
        "import enigma.settings as s; print(s.PACKAGE_DIR, s.in_checkout(), s.default_data_dir())",
    )
    package_dir, in_checkout, data_dir = where.split()
    assert Path(package_dir).is_relative_to(installed.venv)
    assert in_checkout == "False"
    assert Path(data_dir) == installed.data_dir


def test_demo_releases_into_the_user_data_directory(installed: Installed) -> None:
    """`enigma demo` releases 2.4.0 of the shipped sandbox seed; data goes to platformdirs."""
    done = subprocess.run(
        [installed.enigma, "demo", "--json"],
        cwd=installed.cwd,
        env=installed.env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["status"] == "succeeded"
    assert sorted(summary["pull_requests"]) == ["notifications", "payments-api", "web-app"]

    store = Store(installed.data_dir / "sandbox" / "sandbox.sqlite3")
    try:
        kinds = Counter(effect["kind"] for effect in store.effects())
    finally:
        store.close()
    assert kinds == RELEASE_2_4_0_EFFECTS
    assert _run_status(installed.data_dir / "runs.sqlite3", summary["run_id"]) == "succeeded"
    assert list(installed.cwd.iterdir()) == []
    checkout_runs = REPO_ROOT / "data" / "run" / "runs.sqlite3"
    if checkout_runs.exists():
        assert _run_status(checkout_runs, summary["run_id"]) is None


def _run_status(db: Path, run_id: str) -> str | None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else str(row[0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serving(installed: Installed, port: int) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [installed.enigma, "serve", "--port", str(port)],
        cwd=installed.cwd,
        env=installed.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its sandbox is in its group: stopped with it
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_healthy(process: subprocess.Popen[str], url: str) -> httpx.Response:
    """Poll until the service answers /healthz or the process ends (no deadline of our own:
    pytest-timeout bounds the test)."""
    while process.poll() is None:
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{url}/healthz", timeout=2)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.25)
    output = process.stdout.read() if process.stdout else ""
    raise AssertionError(f"enigma serve exited with {process.returncode}:\n{output[-3000:]}")


def test_serve_answers_healthy_with_its_pages(installed: Installed) -> None:
    """`enigma serve` starts, answers /healthz, and serves the shipped web page and docs."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with _serving(installed, port) as process:
        health = _wait_healthy(process, url)
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        page = httpx.get(f"{url}/ui/", timeout=10)
        assert page.status_code == 200
        assert "<script" in page.text
        docs_css = httpx.get(f"{url}/docs-assets/swagger-ui.css", timeout=10)
        assert docs_css.status_code == 200
    assert (installed.data_dir / "api_tokens.json").is_file()
    assert list(installed.cwd.iterdir()) == []

"""Fixtures for browser tests: a real `enigma serve` on a free port and Debian's Chromium.

The server is a subprocess with its own data directory (it starts its own sandbox), so the
page is tested exactly as a release manager reaches it. Chromium is the system package
(`apt-get install -y chromium`), launched headless through Playwright; no browser is
downloaded.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TOKENS = {
    "t-alice": {"user": "alice", "roles": ["release_manager", "approver"]},
    "t-val": {"user": "val", "roles": ["viewer"]},
}


@dataclass(frozen=True)
class Server:
    """A running `enigma serve`: its base URL and a client per token."""

    url: str
    log: Path

    def client(self, token: str) -> httpx.Client:
        """An API client authenticated with `token`."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`enigma serve` with fast sandbox checks; stopped with SIGTERM at teardown."""
    data = tmp_path_factory.mktemp("enigma-web")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")}
    env |= {
        "ENIGMA_DATA_DIR": str(data),
        "ENIGMA_API_TOKENS": json.dumps(TOKENS),
        "ENIGMA_SANDBOX_CHECK_DELAY_SECONDS": "0.3",
        "ENIGMA_CHECK_POLL_SECONDS": "0.1",
    }
    port = _free_port()
    log = data / "serve.log"
    enigma = Path(sys.executable).with_name("enigma")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(enigma), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"enigma serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"enigma serve not ready after 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield Server(url=url, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh laptop-sized page (own storage); console errors fail the test."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """tests/artifacts/ (git-ignored): screenshots for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS

"""Fixtures for browser tests: a real `enigma serve` on a free port and Debian's Chromium.

The server is a subprocess with its own data directory (it starts its own sandbox), so the
page is tested exactly as a release manager reaches it. Chromium is the system package
(`apt-get install -y chromium`), launched headless through Playwright; no browser is
downloaded. axe-core (the accessibility checker) comes from npm into tests/e2e/node_modules
(`make install` runs `npm ci --prefix tests/e2e`) and is put into the page by Playwright,
never served by Enigma.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
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
BACKEND = Path(__file__).resolve().parents[2] / "backend"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1440, "height": 900}
TOKENS = {
    "t-alice": {"user": "alice", "roles": ["release_manager", "approver"]},
    "t-val": {"user": "val", "roles": ["viewer"]},
}


@dataclass(frozen=True)
class Server:
    """A running `enigma serve`: its base URL, data directory and a client per token."""

    url: str
    log: Path
    data: Path

    def client(self, token: str) -> httpx.Client:
        """An API client authenticated with `token`."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def start_run(self, token: str, body: dict[str, Any]) -> str:
        """Start a run through the API as `token` (201 expected); its id."""
        with self.client(token) as client:
            started = client.post("/api/runs", json=body)
        assert started.status_code == 201, started.text
        return str(started.json()["id"])

    def fault(self, **rule: Any) -> None:
        """Replace the sandbox's injected faults with `rule` (none when empty)."""
        admin = json.loads((self.data / "sandbox" / "endpoint.json").read_text())["admin"]
        httpx.delete(f"{admin}/_sandbox/faults", timeout=5).raise_for_status()
        if rule:
            httpx.post(f"{admin}/_sandbox/faults", json=rule, timeout=5).raise_for_status()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(data: Path, tokens: Mapping[str, Any] = TOKENS, **settings: str) -> Iterator[Server]:
    """`enigma serve` on a free port with this checkout's code; SIGTERM when done."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")}
    # The code under test is this checkout's, whichever checkout the venv was installed from.
    env["PYTHONPATH"] = os.pathsep.join([str(BACKEND), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env |= {
        "ENIGMA_DATA_DIR": str(data),
        "ENIGMA_API_TOKENS": json.dumps(tokens),
        "ENIGMA_SANDBOX_CHECK_DELAY_SECONDS": "0.3",
        "ENIGMA_CHECK_POLL_SECONDS": "0.1",
    }
    env |= {f"ENIGMA_{k.upper()}": v for k, v in settings.items()}
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
        yield Server(url=url, log=log, data=data)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`enigma serve` with fast sandbox checks, one per test module."""
    with serve(tmp_path_factory.mktemp("enigma-web")) as running:
        yield running


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
    context = browser.new_context(viewport=LAPTOP)
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


def axe_violations(page: Any, *, least: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of at least `least` impact on the page as it is now.

    axe runs through Playwright's evaluate (the DevTools protocol), which the page's
    Content-Security-Policy does not govern: the policy users get stays as strict as it is.
    """
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make install` (npm ci --prefix tests/e2e)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;void 0")
    found = page.evaluate(
        """async () => (await window.axe.run(document, {resultTypes: ['violations']}))
            .violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                where: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}))"""
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {v['where']}"
        for v in found
        if v["impact"] in least
    ]


def overflow(page: Any) -> int:
    """How many pixels the page is wider than the window (0 when nothing scrolls sideways)."""
    extra: int = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return extra


def shoot(page: Any, artifacts: Path, name: str) -> None:
    """Full-page screenshots at 1440 px and at 390 px (a phone), from the top of the page."""
    before = page.viewport_size
    for label, size in (("1440", LAPTOP), ("390", PHONE)):
        page.set_viewport_size(size)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(artifacts / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(before)

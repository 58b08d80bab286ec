"""Real processes for the API suites: a sandbox and an `enigma serve`, each its own process.

The sandbox runs apart from the service so that killing the service (SIGKILL) leaves the
sandbox and its side-effect log alone; the service finds it through
`<data_dir>/sandbox/endpoint.json`, the way a second Enigma process on the same data
directory would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse

BIN = Path(sys.executable).parent
FAST = {
    "ENIGMA_SANDBOX_CHECK_DELAY_SECONDS": "0.2",
    "ENIGMA_CHECK_POLL_SECONDS": "0.1",
    "ENIGMA_HTTP_BACKOFF_SECONDS": "0.05",
    "ENIGMA_HTTP_TIMEOUT_SECONDS": "10",
}
FINISHED = {"succeeded", "failed", "cancelled"}


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(data_dir: Path) -> dict[str, str]:
    """This process's environment without ENIGMA_*, plus the fast test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")}
    return env | FAST | {"ENIGMA_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


@dataclass
class SandboxProcess:
    """`enigma sandbox --json` in its own process."""

    data_dir: Path
    proc: subprocess.Popen[str] | None = None
    urls: dict[str, str] = field(default_factory=dict)
    port: int = 0
    seed: Path | None = None

    def start(self) -> SandboxProcess:
        """Start (on the same port as before, if it ran) and read the peers' URLs."""
        argv = [str(BIN / "enigma"), "sandbox", "--json", "--data-dir", str(self.data_dir)]
        argv += ["--port", str(self.port)] + (["--seed", str(self.seed)] if self.seed else [])
        with (self.data_dir / "sandbox.log").open("a") as log:
            self.proc = subprocess.Popen(
                argv,
                env=base_env(self.data_dir),
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(
                f"sandbox did not start: {(self.data_dir / 'sandbox.log').read_text()}"
            )
        self.urls = json.loads(line)
        self.port = int(self.admin.rsplit(":", 1)[1])
        return self

    def kill(self) -> None:
        """SIGKILL: the peers vanish mid-request; their data stays on disk."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    @property
    def admin(self) -> str:
        """Root URL of the sandbox (admin API under /_sandbox)."""
        return self.urls["jira"].removesuffix("/jira")

    @property
    def token(self) -> str:
        """The token the peers accept."""
        return self.urls["token"]

    def effects(self) -> list[dict[str, Any]]:
        """The side-effect log."""
        return list(httpx.get(f"{self.admin}/_sandbox/effects", timeout=10).json()["effects"])

    def add_faults(self, *rules: dict[str, Any]) -> None:
        """Inject faults (FaultRule bodies)."""
        httpx.post(f"{self.admin}/_sandbox/faults", json=list(rules), timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        httpx.delete(f"{self.admin}/_sandbox/faults", timeout=10).raise_for_status()

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Service:
    """`enigma serve` on a fixed free port, restartable over the same data directory."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log_file: Path | None = None

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go (every start appends)."""
        return self.log_file or self.data_dir.parent / "serve.log"

    def start(self, timeout: float = 60.0) -> Service:
        """Start the server and wait until /readyz says ready."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(BIN / "enigma"), "serve", "--port", str(self.port)],
                env=base_env(self.data_dir) | self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"enigma serve exited:\n{self.log_text()[-4000:]}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout, "enigma serve to be ready", every=0.1)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (graceful shutdown) and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise

    def log_text(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, token: str | None) -> httpx.Client:
        """An HTTP client with the bearer token (None: no Authorization header)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


class Api:
    """A release manager's view of the API: thin helpers over httpx, asserting status codes."""

    def __init__(self, client: httpx.Client):
        self.http = client

    def start(
        self, expect: int = 201, headers: dict[str, str] | None = None, **body: Any
    ) -> dict[str, Any]:
        """POST /api/runs."""
        answer = self.http.post("/api/runs", json=body, headers=headers or {})
        assert answer.status_code == expect, answer.text
        return dict(answer.json())

    def run(self, run_id: str) -> dict[str, Any]:
        """GET /api/runs/{id}."""
        answer = self.http.get(f"/api/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def act(self, run_id: str, action: str, expect: int = 202, **body: Any) -> dict[str, Any]:
        """POST /api/runs/{id}/{action}."""
        answer = self.http.post(f"/api/runs/{run_id}/{action}", json=body)
        assert answer.status_code == expect, f"{action}: {answer.status_code} {answer.text}"
        return dict(answer.json())

    def events(self, run_id: str, after: int = 0) -> list[dict[str, Any]]:
        """The run's event log as JSON."""
        answer = self.http.get(
            f"/api/runs/{run_id}/events", params={"format": "json", "after": after}
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["events"])

    def wait_status(
        self, run_id: str, statuses: set[str] | str, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Poll until the run has one of `statuses`; fail fast on an unexpected end."""
        wanted = {statuses} if isinstance(statuses, str) else statuses

        def check() -> dict[str, Any] | None:
            run = self.run(run_id)
            if run["status"] in wanted:
                return run
            if run["status"] in FINISHED:
                raise AssertionError(
                    f"run ended {run['status']} ({run.get('error')}), wanted {wanted}"
                )
            return None

        return dict(wait_until(check, timeout, f"run {run_id} to be {sorted(wanted)}", every=0.1))

    def wait_decision(self, run_id: str, kind: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the run waits for a decision of `kind`; return that pending decision."""

        def check() -> dict[str, Any] | None:
            run = self.run(run_id)
            if run["status"] in FINISHED:
                raise AssertionError(
                    f"run ended {run['status']} ({run.get('error')}) before {kind}"
                )
            if run["status"] == "waiting_for_approval":
                for pending in run["pending"]:
                    if pending["kind"] == kind:
                        return dict(pending)
            return None

        return dict(wait_until(check, timeout, f"run {run_id} to wait for {kind}", every=0.1))


def sse_events(
    client: httpx.Client,
    path: str,
    last_event_id: int | None,
    stop: Callable[[dict[str, Any]], bool],
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """Read an SSE stream until `stop(event)` is true; every event with its SSE id and type."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    out: list[dict[str, Any]] = []
    with connect_sse(client, "GET", path, headers=headers, timeout=timeout) as source:
        for sse in source.iter_sse():
            if sse.event in ("ping", "") and not sse.data:
                continue
            body = json.loads(sse.data) if sse.data else {}
            item = {"sse_id": sse.id, "sse_event": sse.event, **body}
            out.append(item)
            if stop(item):
                break
    return out


class SseRecorder:
    """Read an SSE stream in a thread until an event satisfies `until` (or `close()`)."""

    def __init__(self, client: httpx.Client, path: str, until: Callable[[dict[str, Any]], bool]):
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._client = client
        self._path = path
        self._until = until
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with connect_sse(self._client, "GET", self._path, timeout=120) as source:
                for sse in source.iter_sse():
                    item = {"sse_id": sse.id, "sse_event": sse.event, **json.loads(sse.data)}
                    self.events.append(item)
                    if self._until(item):
                        return
        except BaseException as exc:  # surfaced by wait()
            self.error = exc

    def wait(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Join the reader; fail if it broke or did not finish in time."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"SSE stream did not end; got {len(self.events)}"
        if self.error is not None:
            raise AssertionError(f"SSE reader failed: {self.error!r}") from self.error
        return self.events


def effect_keys(effects: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(peer, kind, key) of every side effect, in order."""
    return [(e["peer"], e["kind"], str(e["key"])) for e in effects]

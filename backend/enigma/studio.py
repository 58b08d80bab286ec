"""LangGraph Studio against the sandbox: what `enigma studio` (and `make dev`) runs.

`langgraph dev` (langgraph-cli's in-memory server) serves the graph `langgraph.json` exports,
`studio_graph.graph`. Studio sends the context as a plain dict, so that graph's clients are
built from `ENIGMA_*` settings inside the server process (`studio_graph.studio_clients`);
`server_env` puts the sandbox's address and token there (ENIGMA_SANDBOX_HOST/PORT/TOKEN, and
ENIGMA_DATA_DIR for the git mirrors).

The server runs in `<data_dir>/studio` with reload off. The in-memory server keeps its threads
in `.langgraph_api/` under its working directory, so they stay with the other run-time files
(git-ignored `data/run` by default) and each data directory, a test's say, has its own.
uvicorn's reloader would watch the whole working directory and restart the server, ending the
release it runs, whenever a watched file changed; restart `make dev` to load changed code
(threads and sandbox data are kept). `langgraph.json` names the graph by module
(`enigma.studio_graph:graph`), so any working directory works.

Nothing here needs the internet: analytics, the version check and tracing are switched off.
The Studio page itself is served by smith.langchain.com to the browser, which then talks to
the local server directly.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from enigma.bootstrap_sandbox import ensure_sandbox, stop_sandbox
from enigma.sandbox.server import SandboxServer, SandboxUrls
from enigma.settings import REPO_ROOT, Settings

__all__ = [
    "CONFIG_FILE",
    "OFFLINE_ENV",
    "Studio",
    "StudioError",
    "dev_command",
    "free_port",
    "server_env",
    "start_studio",
    "studio_url",
]

CONFIG_FILE = REPO_ROOT / "langgraph.json"
STUDIO_ORIGIN = "https://smith.langchain.com"

OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # read by the CLI before langgraph.json is loaded
    "LANGGRAPH_NO_VERSION_CHECK": "true",  # else a thread asks PyPI for newer langgraph-api
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
}
"""Environment that keeps `langgraph dev` from reaching out (langgraph.json repeats the last three
for anyone who runs `langgraph dev` by hand)."""


class StudioError(Exception):
    """`langgraph dev` could not be started; the message says what to do."""


def studio_url(api_url: str) -> str:
    """The Studio page for a local server."""
    return f"{STUDIO_ORIGIN}/studio/?baseUrl={api_url}"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def server_env(settings: Settings, urls: SandboxUrls | None) -> dict[str, str]:
    """The server process's environment: ours, offline switches, data dir and sandbox."""
    env = dict(os.environ) | OFFLINE_ENV
    env["ENIGMA_DATA_DIR"] = str(settings.data_dir.resolve())  # the server runs elsewhere
    if urls is not None:
        admin = urlsplit(urls.admin)
        env["ENIGMA_SANDBOX_HOST"] = admin.hostname or settings.sandbox_host
        env["ENIGMA_SANDBOX_PORT"] = str(admin.port)
        env["ENIGMA_SANDBOX_TOKEN"] = urls.token
    return env


def dev_command(port: int, host: str = "127.0.0.1", config: Path = CONFIG_FILE) -> list[str]:
    """`langgraph dev` on `port`, without a browser or a reloader."""
    server = ["--config", str(config), "--host", host, "--port", str(port)]
    return [sys.executable, "-m", "langgraph_cli", "dev", *server, "--no-browser", "--no-reload"]


@dataclass
class Studio:
    """A running `langgraph dev` and the sandbox it talks to (if this process started it)."""

    process: subprocess.Popen[bytes]
    api_url: str
    data_dir: Path
    sandbox_urls: SandboxUrls | None
    sandbox: SandboxServer | None = field(default=None, repr=False)

    @property
    def studio_url(self) -> str:
        """The Studio page for this server."""
        return studio_url(self.api_url)

    def wait(self, stop: threading.Event) -> int:
        """Block until `stop` is set or the server exits; then stop everything. Exit code."""
        while self.process.poll() is None and not stop.wait(0.5):
            pass
        died = self.process.poll()
        self.stop()
        return 0 if died is None else (died or 1)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `timeout`) and our sandbox."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        stop_sandbox(self.sandbox, self.data_dir)
        self.sandbox = None


def start_studio(
    settings: Settings,
    port: int = 0,
    host: str = "127.0.0.1",
    ready_timeout: float = 90.0,
    stop: threading.Event | None = None,
) -> Studio:
    """Reuse or start the sandbox (unless real services are configured), then `langgraph dev`.

    Returns once the server answers `/ok`. Raises StudioError if it cannot start.
    """
    if port and _port_taken(host, port):
        raise StudioError(f"port {port} is in use: pass another --port, or 0 for a free one")
    data_dir = settings.data_dir.resolve()
    workdir = data_dir / "studio"
    workdir.mkdir(parents=True, exist_ok=True)
    urls, sandbox = ensure_sandbox(settings) if settings.use_sandbox else (None, None)
    port = port or free_port(host)
    try:
        process = subprocess.Popen(
            dev_command(port, host),
            cwd=workdir,
            env=server_env(settings, urls),
            stdout=sys.stderr.fileno(),  # server logs are diagnostics; stdout is for our lines
            start_new_session=True,  # Ctrl-C reaches us only; we stop the server in order
        )
    except OSError as exc:
        stop_sandbox(sandbox, data_dir)
        raise StudioError(f"could not run langgraph dev: {exc}") from exc
    studio = Studio(process, f"http://{host}:{port}", data_dir, urls, sandbox)
    try:
        _wait_ready(studio, ready_timeout, stop or threading.Event())
    except BaseException:
        studio.stop()
        raise
    return studio


def _wait_ready(studio: Studio, timeout: float, stop: threading.Event) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        code = studio.process.poll()
        if code is not None:
            raise StudioError(
                f"langgraph dev exited with status {code} (its log is above); "
                "is langgraph-cli[inmem] installed? `make install` installs it"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{studio.api_url}/ok", timeout=1).is_success:
                return
        stop.wait(0.25)
    if not stop.is_set():
        raise StudioError(f"langgraph dev did not answer on {studio.api_url} in {timeout:.0f} s")

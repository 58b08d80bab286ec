"""The sandbox as the outer layer uses it: find a running one, start one, describe its endpoints.

A sandbox started here records its address in `<data_dir>/sandbox/endpoint.json`; another
Enigma process on the same data directory reuses it instead of starting a second one over the
same files. Its port is also kept in `<data_dir>/sandbox/port` after it stops, and the next
sandbox of the data directory binds that port again when it is free: links to the peers in a
run's summary keep working.

`sandbox_endpoints` is the one place that describes the sandbox to the clients, and the one
place that turns GitHub's request pacing off. Only the outer layer (bootstrap, the CLI,
Studio) imports the sandbox; tests/test_layers.py keeps it that way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from enigma.files import write_private
from enigma.integrations.endpoints import Endpoints
from enigma.sandbox.core import DEFAULT_SEED
from enigma.sandbox.server import SandboxServer, SandboxUrls
from enigma.settings import Settings

__all__ = [
    "announced_sandbox",
    "ensure_sandbox",
    "named_sandbox",
    "read_sandbox_endpoint",
    "sandbox_answers",
    "sandbox_endpoints",
    "sandbox_owner",
    "sandbox_port",
    "stop_sandbox",
    "write_endpoint",
]


def sandbox_endpoints(urls: SandboxUrls, owner: str | None = None) -> Endpoints:
    """The clients' view of a sandbox: its peers, its token, the seed's GitHub owner."""
    token = SecretStr(urls.token)
    return Endpoints(
        jira_url=urls.jira,
        jira_token=token,
        github_url=urls.github,
        github_owner=owner or sandbox_owner(),
        github_token=token,
        confluence_url=urls.confluence,
        confluence_token=token,
        # PyGithub's 1 s between writes protects GitHub, not a local peer: with it a sandbox
        # release would spend most of its time asleep (every merge, PR and status is a write)
        pace_writes=False,
    )


def sandbox_owner(seed_file: Path = DEFAULT_SEED) -> str:
    """The GitHub owner the sandbox seeds (`[github] owner`), "acme" if unreadable."""
    try:
        seed = tomllib.loads(seed_file.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return "acme"
    return str(seed.get("github", {}).get("owner") or "acme")


def stop_sandbox(server: SandboxServer | None, data_dir: Path) -> None:
    """Stop a sandbox this process started and take back its announcement."""
    if server is not None:
        (data_dir / "sandbox" / "endpoint.json").unlink(missing_ok=True)
        server.stop()


def read_sandbox_endpoint(data_dir: Path) -> SandboxUrls | None:
    """The sandbox another process started on this data directory, if it still answers."""
    urls = _endpoint_file(data_dir)
    return urls if urls is not None and sandbox_answers(urls) else None


def _endpoint_file(data_dir: Path) -> SandboxUrls | None:
    path = data_dir / "sandbox" / "endpoint.json"
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        token = (data_dir / "sandbox" / "token").read_text().strip()
        return SandboxUrls(token=token, **raw)
    except (OSError, ValueError, TypeError):
        return None


def sandbox_answers(urls: SandboxUrls, tries: int = 3, timeout: float = 5.0) -> bool:
    """Whether the sandbox at `urls` is alive. A refused connection says no at once; a slow
    answer is waited for (a sandbox on a busy machine can take seconds), so a second sandbox
    is not started beside a live one just because the machine was loaded."""
    for _ in range(tries):
        try:
            return httpx.get(f"{urls.admin}/_sandbox/faults", timeout=timeout).is_success
        except httpx.TimeoutException:
            continue
        except httpx.HTTPError:
            return False
    return False


def named_sandbox(settings: Settings) -> SandboxUrls | None:
    """The sandbox ENIGMA_SANDBOX_PORT and _TOKEN name, if set (without asking it anything)."""
    if settings.sandbox_port and settings.sandbox_token is not None:
        root = f"http://{settings.sandbox_host}:{settings.sandbox_port}"
        return SandboxUrls.at(root, settings.sandbox_token.get_secret_value())
    return None


def announced_sandbox(settings: Settings) -> SandboxUrls | None:
    """The sandbox the settings name (ENIGMA_SANDBOX_PORT and _TOKEN), else the one announced
    on this data directory, without asking it: no network, so an event loop may call this
    (the LangGraph server fails a run that blocks its loop)."""
    return named_sandbox(settings) or _endpoint_file(settings.data_dir)


def ensure_sandbox(settings: Settings) -> tuple[SandboxUrls, SandboxServer | None]:
    """Use the sandbox the settings name, a live one on this data directory, or start one."""
    named = named_sandbox(settings)
    if named is not None and sandbox_answers(named):
        return named, None
    found = read_sandbox_endpoint(settings.data_dir)
    if found is not None:
        return found, None
    token = settings.sandbox_token.get_secret_value() if settings.sandbox_token else None
    port = sandbox_port(settings.data_dir, settings.sandbox_host, settings.sandbox_port)
    with _uvicorn_logging_kept():
        server = SandboxServer(
            settings.data_dir / "sandbox",
            host=settings.sandbox_host,
            port=port,
            token=token,
            settings={"check_delay_seconds": settings.sandbox_check_delay_seconds},
        ).start()
    write_endpoint(settings.data_dir, server.urls)
    return server.urls, server


@contextlib.contextmanager
def _uvicorn_logging_kept() -> Iterator[None]:
    """Undo what a second uvicorn.Config does to the process's uvicorn loggers.

    The in-process sandbox builds its own `uvicorn.Config(log_level="warning")`, which
    re-applies uvicorn's logging config to the shared `uvicorn.*` loggers: the service
    started by `enigma serve` would lose its access log and its shutdown messages.
    """
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: logging.getLogger(n) for n in names}
    kept = {n: (g.level, list(g.handlers), g.propagate) for n, g in saved.items()}
    try:
        yield
    finally:
        for name, (level, handlers, propagate) in kept.items():
            logger = saved[name]
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate  # serve's loggers hand records to the root handler


def write_endpoint(data_dir: Path, urls: SandboxUrls) -> None:
    """Record where the sandbox answers (without its token) for other local processes.

    The port goes to `sandbox/port` as well, which outlives the sandbox (see `sandbox_port`).
    """
    path = data_dir / "sandbox" / "endpoint.json"
    body = {
        "jira": urls.jira,
        "github": urls.github,
        "confluence": urls.confluence,
        "admin": urls.admin,
    }
    write_private(path, json.dumps(body))
    write_private(data_dir / "sandbox" / "port", str(urlsplit(urls.admin).port or ""))


def sandbox_port(data_dir: Path, host: str, wanted: int) -> int:
    """The port a new sandbox binds: `wanted`, else the data directory's last one if free, else 0.

    Keeping the port keeps the peers' URLs (pull requests, release notes) the same from one
    `enigma run` to the next.
    """
    if wanted:
        return wanted
    try:
        last = int((data_dir / "sandbox" / "port").read_text().strip())
    except (OSError, ValueError):
        return 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as SandboxServer binds
        try:
            probe.bind((host, last))
        except OSError:
            return 0  # taken (by anything): a free port, and the links change
    return last

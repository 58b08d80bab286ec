"""The sandbox peers of a CLI run, in a process of their own.

`enigma run` and `enigma resume` follow a run in the foreground of a terminal, where Ctrl-C
sends SIGINT to the whole foreground process group. A sandbox in a thread of the CLI would
share that group: its git subprocesses (merges on the GitHub peer) die mid-request and the
peer prints their traceback. So the CLI starts `enigma sandbox --json` in a new session
(`start_new_session=True`, so it is in no terminal's process group and gets no terminal
signal), logs it to `<data_dir>/sandbox/sandbox.log`, and stops it with SIGTERM when the
command ends; `open_runtime` then finds it through `endpoint.json`, as it finds any sandbox
another process started. The sandbox also stops by itself when the CLI dies (SIGKILL), and
the next start binds the port it had, so the links of a summary keep their address.

`enigma serve` keeps the sandbox in a thread (`bootstrap_sandbox.ensure_sandbox`): a service is not
a terminal's foreground job whose Ctrl-C should pause a run, and its shutdown stops both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from enigma.bootstrap_sandbox import named_sandbox, read_sandbox_endpoint, sandbox_answers
from enigma.settings import Settings

__all__ = ["SandboxError", "sandbox_process"]

_START_TIMEOUT = 60.0


class SandboxError(Exception):
    """The sandbox process did not start."""


def _named_sandbox_answers(settings: Settings) -> bool:
    """ENIGMA_SANDBOX_PORT and _TOKEN name a sandbox that answers (bootstrap uses it)."""
    named = named_sandbox(settings)
    return named is not None and sandbox_answers(named)


@contextlib.asynccontextmanager
async def sandbox_process(settings: Settings) -> AsyncIterator[None]:
    """Start the sandbox process if this run needs a sandbox and none answers; stop it after."""
    if (
        not settings.use_sandbox
        or _named_sandbox_answers(settings)
        or read_sandbox_endpoint(settings.data_dir) is not None
    ):
        yield
        return
    folder = settings.data_dir / "sandbox"
    folder.mkdir(parents=True, exist_ok=True)
    proc = _spawn(settings, folder / "sandbox.log")
    try:
        await _started(proc, folder / "sandbox.log")
        yield
    finally:
        await asyncio.to_thread(_stop, proc)


def _spawn(settings: Settings, log: Path) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "enigma.cli",
        "sandbox",
        "--json",
        "--data-dir",
        str(settings.data_dir),
        "--host",
        settings.sandbox_host,
        "--port",
        str(settings.sandbox_port),
        "--stop-with-parent",
    ]
    with log.open("a") as err:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,  # no terminal signal reaches it (see the module docstring)
        )


async def _started(proc: subprocess.Popen[str], log: Path) -> None:
    """Wait for the JSON line the sandbox prints once it answers."""
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(_START_TIMEOUT):
            line = await asyncio.to_thread(proc.stdout.readline)
    except TimeoutError:
        _stop(proc)
        raise SandboxError(
            f"the sandbox did not start in {_START_TIMEOUT:g} s; see {log}"
        ) from None
    try:
        json.loads(line)
    except ValueError:
        _stop(proc)
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise SandboxError("the sandbox did not start: " + " / ".join(tail)) from None


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM (the sandbox stops its server and closes its store), SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()

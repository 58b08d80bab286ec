"""The terminal side of the CLI: consoles, who the user is, Ctrl-C, and prompts that can be left.

Ctrl-C never raises `KeyboardInterrupt` in a command that follows a run: the event loop takes
SIGINT (`loop.add_signal_handler`) and `Interrupts` counts the presses, so the follow loop
decides what a press means (pause at the next step boundary; the second: stop waiting).
Prompts read the terminal from the event loop (`loop.add_reader`) instead of `input()` in a
thread, which no signal can interrupt: a press at a prompt leaves the prompt at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shlex
import shutil
import signal
import sys
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markup import escape

__all__ = [
    "Interrupted",
    "Interrupts",
    "ask",
    "enigma_command",
    "local_user",
    "make_console",
]


def make_console(stderr: bool = False) -> Console:
    """A console that wraps only in a terminal; a pipe gets whole lines (ids and URLs intact)."""
    stream: TextIO = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False, soft_wrap=True)
    # no terminal: no width to fit (tables are as wide as their content), no hard wrap
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=100_000)


def local_user() -> str:
    """Who answers here: ENIGMA_USER, else the login name (recorded on every command)."""
    named = os.environ.get("ENIGMA_USER", "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container with an unnamed uid)
        return f"uid-{os.getuid()}"


def enigma_command() -> str:
    """How to call this `enigma` so that the command works as printed, from this directory.

    `enigma` when it is the one on PATH; else the script's path, relative when it is under the
    current directory (`.venv/bin/enigma` in a checkout), absolute otherwise.
    """
    script = Path(sys.argv[0])
    if script.name != "enigma" or not script.exists():
        script = Path(sys.executable).with_name("enigma")
        if not script.exists():
            return f"{shlex.quote(sys.executable)} -m enigma.cli"
    on_path = shutil.which("enigma")
    if on_path is not None and os.path.samefile(on_path, script):
        return "enigma"
    absolute = script.absolute()
    with contextlib.suppress(ValueError):
        relative = absolute.relative_to(Path.cwd())
        return shlex.quote(str(relative) if relative.parent != Path() else f"./{relative}")
    return shlex.quote(str(absolute))


class Interrupted(Exception):
    """Ctrl-C was pressed at a prompt."""


class Interrupts:
    """Ctrl-C presses, counted by the event loop (see the module docstring)."""

    def __init__(self) -> None:
        self.count = 0
        self.pressed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> Interrupts:
        """Take SIGINT in the running loop, for as long as the loop runs."""
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            self._loop.add_signal_handler(signal.SIGINT, self._press)
        return self

    def _press(self) -> None:
        self.count += 1
        self.pressed.set()

    async def wait(self, timeout: float) -> None:
        """Sleep up to `timeout`, or less when Ctrl-C is pressed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.pressed.wait()
        self.pressed.clear()


async def _read_line(interrupts: Interrupts) -> str | None:
    """One line from the terminal (None: end of input), or Interrupted on Ctrl-C."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    got: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            got.put_nowait(os.read(fd, 4096))
        except OSError:  # the terminal went away: as end of input
            got.put_nowait(b"")

    before = interrupts.count
    interrupts.pressed.clear()
    loop.add_reader(fd, readable)
    line = b""
    try:
        while not line.endswith(b"\n"):
            chunk_task = asyncio.ensure_future(got.get())
            press_task = asyncio.ensure_future(interrupts.pressed.wait())
            await asyncio.wait({chunk_task, press_task}, return_when=asyncio.FIRST_COMPLETED)
            press_task.cancel()
            if interrupts.count > before:
                chunk_task.cancel()
                raise Interrupted
            chunk = chunk_task.result()
            if not chunk:  # Ctrl-D (on an empty line: end of input)
                return line.decode(errors="replace") if line else None
            line += chunk
    finally:
        loop.remove_reader(fd)
    return line.decode(errors="replace").rstrip("\r\n")


async def ask(
    console: Console,
    question: str,
    interrupts: Interrupts,
    choices: list[str] | None = None,
    default: str | None = None,
) -> str | None:
    """Ask until the answer is one of `choices` (a unique prefix will do); None at end of input.

    Raises Interrupted when Ctrl-C is pressed while it waits.
    """
    shown = f" [bold magenta]\\[{'/'.join(choices)}][/]" if choices else ""
    shown += f" [dim]({escape(default)})[/]" if default else ""
    while True:
        console.print(f"{question}{shown}: ", end="")
        answer = await _read_line(interrupts)
        if answer is None:
            return None
        answer = answer.strip() or (default or "")
        if not choices:
            return answer
        found = [c for c in choices if c == answer] or [c for c in choices if c.startswith(answer)]
        if answer and len(found) == 1:
            return found[0]
        console.print(f"[red]Please answer one of {', '.join(choices)}.[/]")

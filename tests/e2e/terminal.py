"""A command in a pseudo-terminal of its own, as a release manager runs it under tmux.

`pty.fork` gives the child a new session with the pty as its controlling terminal, so a
Ctrl-C written to the master (`\\x03`) is turned into SIGINT for the child's foreground
process group by the terminal itself, exactly as a keyboard's. A thread drains the master so
the child never blocks on a full terminal; `expect` reads the output with colours removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import signal
import struct
import termios
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["Terminal"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class Terminal:
    """One command in a pty (see the module docstring); `close` kills what is left."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        columns: int = 120,
        log: Path | None = None,
    ):
        self.argv = list(argv)
        self._raw = bytearray()
        self._lock = threading.Lock()
        self.position = 0
        self.returncode: int | None = None
        self._log = log.open("ab") if log is not None else None
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once (nothing else is safe after a fork)
            os.execve(self.argv[0], self.argv, dict(env))  # noqa: S606 (argv, no shell)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            with self._lock:
                self._raw += chunk
            if self._log is not None:
                self._log.write(chunk)
                self._log.flush()

    @property
    def text(self) -> str:
        """Everything the command printed so far, without colours and with \\n line ends."""
        with self._lock:
            raw = bytes(self._raw)
        return _ANSI.sub("", raw.decode(errors="replace")).replace("\r\n", "\n")

    def expect(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Wait for `pattern` (a regular expression) after what the last expect matched."""
        found = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = found.search(self.text, self.position)
            if match is not None:
                self.position = match.end()
                return match
            if time.monotonic() > deadline or not self.alive():
                match = found.search(self.text, self.position)  # what came before the end
                if match is not None:
                    self.position = match.end()
                    return match
                tail = self.text[-3000:]
                state = "running" if self.alive() else f"exited {self.returncode}"
                raise AssertionError(f"{pattern!r} not seen ({state}); the terminal shows:\n{tail}")
            time.sleep(0.05)

    def send(self, text: str) -> None:
        """Type `text` (a line needs its "\\r", as Enter sends)."""
        os.write(self.fd, text.encode())

    def ctrl_c(self) -> None:
        """Press Ctrl-C: the terminal sends SIGINT to its foreground process group."""
        self.send("\x03")

    def alive(self) -> bool:
        """Whether the command still runs."""
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
                self._reader.join(timeout=5)
        return self.returncode is None

    def wait(self, timeout: float = 60) -> int:
        """The exit code, once the command has ended."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout}s:\n{self.text[-3000:]}")
            time.sleep(0.05)
        assert self.returncode is not None
        return self.returncode

    def close(self) -> None:
        """Kill the command if it still runs, and close the terminal."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait(10)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if self._log is not None:
            self._log.close()

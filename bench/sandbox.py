"""`python -m bench.sandbox`: the sandbox on a bench seed, in a process of its own.

Like `enigma sandbox --json`, but with a seed file of the bench's (`enigma/sandbox/seeds.py`) and CI
delay from the command line. It records its address in `<data-dir>/sandbox/endpoint.json`,
so an `enigma serve` on the same data directory uses it instead of starting its own, and it
survives that service being killed. Prints one JSON line (the URLs and token, plus `admin`),
then serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = ["SandboxProcess"]


@dataclass
class SandboxProcess:
    """Start and stop `python -m bench.sandbox`; read its effect log and set its faults."""

    data_dir: Path
    seed: Path
    check_delay: float = 0.0
    fault_seed: int = 7
    proc: subprocess.Popen[str] | None = None
    urls: dict[str, str] = field(default_factory=dict)
    _admin: httpx.Client | None = None

    def start(self) -> SandboxProcess:
        """Start and read the JSON line with the URLs."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "sandbox.log").open("a")
        # this checkout's bench and backend, then the caller's PYTHONPATH (a worktree's enigma)
        root = Path(__file__).resolve().parents[1]
        path = [str(root), str(root / "backend"), os.environ.get("PYTHONPATH", "")]
        env = os.environ | {"PYTHONPATH": os.pathsep.join(p for p in path if p)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.sandbox",
                "--data-dir",
                str(self.data_dir),
                "--seed",
                str(self.seed),
                "--check-delay",
                str(self.check_delay),
                "--fault-seed",
                str(self.fault_seed),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(
                f"sandbox did not start:\n{(self.data_dir / 'sandbox.log').read_text()[-3000:]}"
            )
        self.urls = json.loads(line)
        return self

    @property
    def admin(self) -> str:
        """Root URL (admin API under /_sandbox)."""
        return self.urls["admin"]

    def effects(self) -> list[dict[str, Any]]:
        """The side-effect log."""
        return list(httpx.get(f"{self.admin}/_sandbox/effects", timeout=30).json()["effects"])

    def requests(self) -> int:
        """Peer requests the sandbox received so far (admin calls not counted)."""
        if self._admin is None:  # one connection: the script reads this between every call
            self._admin = httpx.Client(base_url=self.admin, timeout=10)
        return int(self._admin.get("/_sandbox/requests").json()["total"])

    def add_faults(self, rules: list[dict[str, Any]]) -> None:
        """Inject fault rules."""
        httpx.post(f"{self.admin}/_sandbox/faults", json=rules, timeout=10).raise_for_status()

    def faults_injected(self) -> int:
        """How many requests a failing fault rule hit so far."""
        return int(httpx.get(f"{self.admin}/_sandbox/faults", timeout=10).json()["injected"])

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        httpx.delete(f"{self.admin}/_sandbox/faults", timeout=10).raise_for_status()

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self._admin is not None:
            self._admin.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Serve the sandbox until SIGTERM."""
    from enigma.bootstrap import write_endpoint
    from enigma.sandbox.server import SandboxServer

    parser = argparse.ArgumentParser(prog="python -m bench.sandbox")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--seed", type=Path, required=True)
    parser.add_argument("--check-delay", type=float, default=0.0)
    parser.add_argument("--fault-seed", type=int, default=7)
    args = parser.parse_args()
    server = SandboxServer(
        args.data_dir / "sandbox",
        seed_file=args.seed,
        fault_seed=args.fault_seed,
        settings={"check_delay_seconds": args.check_delay},
    ).start()
    write_endpoint(args.data_dir, server.urls)
    print(json.dumps(server.urls.as_dict() | {"admin": server.urls.admin}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    (args.data_dir / "sandbox" / "endpoint.json").unlink(missing_ok=True)
    server.stop()


if __name__ == "__main__":
    main()

"""What every benchmark shares: result rows, the table, the machine, processes and memory."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "BENCH_TOKEN",
    "REPO_ROOT",
    "ApiServer",
    "Row",
    "free_port",
    "log",
    "machine",
    "median",
    "percentile",
    "print_table",
    "rss_bytes",
    "wait_until",
    "write_results",
]

BENCH_TOKEN = "bench-token-not-a-secret"
REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results"


@dataclass
class Row:
    """One line of the table: a figure, its baseline beside it, and the target."""

    name: str
    value: float
    unit: str
    baseline: float | None
    ratio: float | None
    target: str
    met: bool

    def as_json(self) -> dict[str, Any]:
        """The row as `latest.json` records it."""
        body = asdict(self)
        for key in ("value", "baseline", "ratio"):
            if isinstance(body[key], float):
                body[key] = round(body[key], 4)
        return body


def log(text: str) -> None:
    """Progress on stderr, so stdout carries only the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def machine() -> str:
    """CPU model, cores, memory, Python and the load when the bench started."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_kib / 2**20:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, load {load:.2f} at start"
    )


def median(values: list[float]) -> float:
    """The median (NaN for no values)."""
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(rows: list[Row], date: str, where: str) -> None:
    """The one table `make bench` prints."""
    head = ("benchmark", "value", "unit", "baseline", "ratio", "target", "met")
    lines = [
        (
            r.name,
            _fmt(r.value),
            r.unit,
            _fmt(r.baseline),
            _fmt(r.ratio),
            r.target,
            "yes" if r.met else "NO",
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    print(f"Enigma benchmarks, {date}\n{where}\n")
    for i, line in enumerate([head, *lines]):
        print(
            "  ".join(
                str(c).ljust(w) if j in (0, 2, 5) else str(c).rjust(w)
                for j, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))


def write_results(rows: list[Row], date: str, where: str, path: Path | None = None) -> Path:
    """Write `bench/results/latest.json`."""
    path = path or RESULTS / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"date": date, "machine": where, "rows": [r.as_json() for r in rows]}
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def now_iso() -> str:
    """Today's date and time, UTC, to the minute."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.02) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class ApiServer:
    """`python -m bench.serve` in its own process: the API on no-op clients (or a bare SSE app)."""

    data_dir: Path
    bare_sse: bool = False
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        """The bench token."""
        return {"Authorization": f"Bearer {BENCH_TOKEN}"}

    def start(self, timeout: float = 60.0) -> ApiServer:
        """Start and wait for /readyz."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "bench.serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
        ]
        if self.bare_sse:
            args.append("--bare-sse")
        if os.environ.get("BENCH_PROFILE_SERVER") and not self.bare_sse:
            args += ["--profile", os.environ["BENCH_PROFILE_SERVER"]]
        logfile = (self.data_dir / "serve.log").open("ab")
        env = os.environ | {"PYTHONPATH": str(REPO_ROOT)} | self.env
        self.proc = subprocess.Popen(args, stdout=logfile, stderr=subprocess.STDOUT, env=env)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = (self.data_dir / "serve.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"bench server exited:\n{tail}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout, "the bench server", every=0.05)
        return self

    def rss(self) -> int:
        """The server's resident memory."""
        assert self.proc is not None
        return rss_bytes(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

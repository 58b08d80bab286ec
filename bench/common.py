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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

__all__ = [
    "BENCH_TOKEN",
    "REPO_ROOT",
    "ApiServer",
    "Row",
    "Target",
    "child_env",
    "free_port",
    "log",
    "machine",
    "markdown_table",
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


@dataclass(frozen=True)
class Target:
    """What a row must reach: its median `value` or `ratio` compared with `bound` by `op`."""

    on: Literal["value", "ratio"]
    op: Literal["<=", "<", ">=", ">"]
    bound: float

    def reached(self, value: float, ratio: float | None) -> bool:
        """Whether the measured figure reaches the target (NaN or no ratio never does)."""
        got = value if self.on == "value" else ratio
        if got is None or got != got:
            return False
        return {
            "<=": got <= self.bound,
            "<": got < self.bound,
            ">=": got >= self.bound,
            ">": got > self.bound,
        }[self.op]

    def text(self, unit: str) -> str:
        """The target as the table prints it."""
        return f"{self.op} {self.bound:g}" + ("x" if self.on == "ratio" else f" {unit}")


@dataclass
class Row:
    """One line of the table: repeated measurements, their baseline beside them, the target.

    `values` and `baselines` hold one figure per repetition (measured in the same run of the
    bench, alternating where it matters); `ratios` default to value / baseline per repetition,
    and a row whose ratio reads the other way ("speed-up") passes its own. The table shows
    medians and the min-max spread; `met` is computed from them and `valid` (every run of the
    measurement succeeded, every event arrived), never written by hand.
    """

    name: str
    unit: str
    values: list[float]
    baselines: list[float] | None
    target: Target
    valid: bool = True
    ratios: list[float] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.ratios is None and self.baselines:
            self.ratios = [
                v / b if b else float("nan")
                for v, b in zip(self.values, self.baselines, strict=True)
            ]

    @property
    def value(self) -> float:
        """Median of the repetitions."""
        return median(self.values)

    @property
    def baseline(self) -> float | None:
        """Median baseline."""
        return median(self.baselines) if self.baselines else None

    @property
    def ratio(self) -> float | None:
        """Median ratio of the repetitions."""
        return median(self.ratios) if self.ratios else None

    @property
    def met(self) -> bool:
        """Target reached by the medians, and the measurement valid."""
        return self.valid and self.target.reached(self.value, self.ratio)

    @classmethod
    def failed(cls, name: str) -> Row:
        """The row of a benchmark that broke."""
        return cls(name, "", [float("nan")], None, Target("value", "<=", 0), valid=False)

    def as_json(self) -> dict[str, Any]:
        """The row as `latest.json` records it."""

        def r(x: float | None) -> float | None:
            return None if x is None or x != x else round(x, 4)

        return {
            "name": self.name,
            "value": r(self.value),
            "value_min": r(min(self.values)),
            "value_max": r(max(self.values)),
            "unit": self.unit,
            "baseline": r(self.baseline),
            "ratio": r(self.ratio),
            "ratio_min": r(min(self.ratios)) if self.ratios else None,
            "ratio_max": r(max(self.ratios)) if self.ratios else None,
            "repetitions": len(self.values),
            "target": self.target.text(self.unit),
            "met": self.met,
            "note": self.note,
        }


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a bench subprocess: this checkout's `bench` and `backend` first."""
    path = f"{REPO_ROOT}:{REPO_ROOT / 'backend'}"
    return os.environ | {"PYTHONPATH": path} | (extra or {})


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


def _spread(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f" ({_fmt(low)}-{_fmt(high)})"


def print_table(rows: list[Row], date: str, where: str) -> None:
    """The one table `make bench` prints: medians, min-max spread in brackets."""
    head = ("benchmark", "value (min-max)", "unit", "baseline", "ratio (min-max)", "target", "met")
    lines = []
    for row in rows:
        body = row.as_json()
        lines.append(
            (
                row.name,
                _fmt(row.value) + _spread(body["value_min"], body["value_max"]),
                row.unit,
                _fmt(row.baseline),
                _fmt(row.ratio) + _spread(body["ratio_min"], body["ratio_max"]),
                body["target"],
                "yes" if row.met else "NO",
            )
        )
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
    for row in rows:
        if row.note:
            print(f"\n{row.name}: {row.note}")


def markdown_table(rows: list[Row]) -> str:
    """The README's table, from the same rows."""
    out = [
        "| # | benchmark | value (min-max) | baseline | ratio (min-max) | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        body = row.as_json()
        number, _, name = row.name.partition(" ")
        value = _fmt(row.value) + _spread(body["value_min"], body["value_max"])
        out.append(
            f"| {number} | {name} | {value} {row.unit} | {_fmt(row.baseline)} | {_fmt(row.ratio)}"
            f"{_spread(body['ratio_min'], body['ratio_max'])} | {body['target']} | "
            f"{'yes' if row.met else '**no**'} |"
        )
    return "\n".join(out)


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
        env = child_env(self.env)
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

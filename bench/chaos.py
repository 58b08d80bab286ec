"""`python -m bench.chaos` (`make chaos`): releases under faults while the service is killed.

N release runs go through the API of a real `enigma serve` process against the sandbox (its
own process, so it outlives the kills). The sandbox fails about 20 % of the calls made to it
(5xx, 429, dropped connections before and after the handler ran, added latency), and the
service is SIGKILLed at random moments and started again. The policy approves by itself and
skips conflicting branches; errors that outlive the automatic retries ask a human, and this
harness answers `retry`, as on-call would.

What is asserted:
- every run ends `succeeded`;
- the sandbox's side-effect log has no key twice. Each run releases a fix version of its own
  (3.1.0, 3.2.0, ... from `enigma/sandbox/seeds.py`), so no two runs may legitimately touch the same
  ticket, branch, pull request, tag, page or version: an effect key that appears twice is
  something done twice, whichever run did it;
- every run's release is complete: its release branches, pull requests and their merges,
  tags, notes page, version release, and a transition and a comment per shipped ticket are
  all in the log.

Prints runs, kills, faults, decisions answered and duplicates; exits 1 when an assertion
fails. The pytest version (tests/bench/test_chaos.py) runs 10 runs with 3 kills.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import free_port, log, wait_until
from bench.sandbox import SandboxProcess
from enigma.sandbox.seeds import REPOS, chaos_seed, chaos_version

__all__ = ["ChaosResult", "run_chaos"]

TOKEN = "chaos-admin-token"
POLICY = {
    "auto_approve": True,
    "on_conflict": "skip",
    "on_check_failure": "abort",
    "on_error": "ask",
    "auto_retries": 2,
}
# about 20 % of the calls the service makes to the sandbox fail or slow down
FAULTS = [
    {"kind": "error", "status": 503, "probability": 0.04},
    {"kind": "error", "status": 500, "probability": 0.02},
    {"kind": "rate_limit", "probability": 0.04, "retry_after": 0.0},
    {"kind": "drop", "probability": 0.04},
    {"kind": "drop_after", "probability": 0.03},
    {"kind": "latency", "probability": 0.04, "latency_ms": 300},
]
TERMINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class ChaosResult:
    """What one chaos session did and found."""

    runs: int
    kills: int = 0
    faults: int = 0
    decisions: int = 0
    statuses: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    effects: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def succeeded(self) -> int:
        """Runs that ended succeeded."""
        return sum(1 for s in self.statuses.values() if s == "succeeded")

    @property
    def ok(self) -> bool:
        """Every run succeeded, nothing done twice, nothing missing."""
        return self.succeeded == self.runs and not self.duplicates and not self.missing

    def summary(self) -> str:
        """The lines `make chaos` prints."""
        rows = [
            ("runs", f"{self.runs} ({self.succeeded} succeeded)"),
            ("kills", str(self.kills)),
            ("faults", f"{self.faults} injected failures (+ latency)"),
            ("decisions", f"{self.decisions} error decisions answered retry"),
            ("effects", str(self.effects)),
            ("duplicates", str(len(self.duplicates))),
            ("missing", str(len(self.missing))),
            ("time", f"{self.seconds:.0f}s"),
        ]
        lines = [f"{k:>10}: {v}" for k, v in rows]
        for run_id, status in sorted(self.statuses.items()):
            if status != "succeeded":
                lines.append(f"  {run_id}: {status} {self.errors.get(run_id, '')}")
        lines += [f"  duplicate {k} x{n}" for k, n in sorted(self.duplicates.items())[:20]]
        lines += [f"  missing {k}" for k in self.missing[:20]]
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)


@dataclass
class Service:
    """`enigma serve` over a data directory, killed and restarted at will."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait for /readyz (recovery done)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")} | {
            "ENIGMA_DATA_DIR": str(self.data_dir),
            "ENIGMA_API_TOKENS": json.dumps({TOKEN: {"user": "oncall", "roles": ["admin"]}}),
            "ENIGMA_REPOSITORIES": json.dumps(REPOS),
            "ENIGMA_CHECK_POLL_SECONDS": "0.1",
            "ENIGMA_HTTP_BACKOFF_SECONDS": "0.05",
            "ENIGMA_HTTP_TIMEOUT_SECONDS": "5",
            "PYTHONUNBUFFERED": "1",
        }
        with (self.data_dir / "serve.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "enigma"), "serve", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = (self.data_dir / "serve.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"enigma serve exited:\n{tail}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 90, "enigma serve to be ready", every=0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Driver:
    """The API client side: submits runs, answers error decisions, kills the service."""

    def __init__(self, service: Service, runs: int, kills: int, rng: random.Random):
        self.service = service
        self.http = httpx.Client(
            base_url=service.url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        self.runs = runs
        self.rng = rng
        # kill when this share of the runs has settled (several may fall before any settle)
        self.kill_at = sorted(rng.uniform(0.0, 0.7) for _ in range(kills))
        self.kills = 0
        self.decisions = 0
        self.ids: dict[int, str] = {}

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response | None:
        try:
            return self.http.request(method, path, **kw)
        except httpx.HTTPError:  # the service is down (being killed or restarting)
            return None

    def submit(self, index: int) -> bool:
        """POST the run of fix version `index`; the idempotency key makes a retry safe."""
        body = {
            "fix_version": chaos_version(index),
            "repositories": REPOS,
            "release_type": "minor",
            "policy": POLICY,
        }
        answer = self._call(
            "POST", "/api/runs", json=body, headers={"Idempotency-Key": f"chaos-{index}"}
        )
        if answer is None or answer.status_code not in (200, 201):
            return False
        self.ids[index] = str(answer.json()["id"])
        return True

    def runs_now(self) -> dict[str, dict[str, Any]] | None:
        """Every run by id, or None while the service is down."""
        answer = self._call("GET", "/api/runs", params={"limit": 500})
        if answer is None or answer.status_code != 200:
            return None
        return {r["id"]: r for r in answer.json()["runs"]}

    def answer(self, run: dict[str, Any]) -> None:
        """Answer what a run waits for, as on-call would: retry errors, keep going."""
        for pending in run.get("pending", []):
            action = {"error": "retry", "conflict": "skip"}.get(pending["kind"], "approve")
            reply = self._call(
                "POST",
                f"/api/runs/{run['id']}/{action}",
                json={"comment": "chaos harness", "interrupt_id": pending["interrupt_id"]},
            )
            if reply is not None and reply.status_code == 202:
                self.decisions += 1

    def maybe_kill(self, settled: int) -> None:
        """SIGKILL and restart the service when the next kill point is reached."""
        if self.kill_at and settled >= self.kill_at[0] * self.runs:
            self.kill_at.pop(0)
            time.sleep(self.rng.uniform(0.0, 1.5))
            log(f"chaos: SIGKILL with {settled} of {self.runs} runs settled")
            self.service.kill()
            self.kills += 1
            self.service.start()


def _check_effects(
    effects: list[dict[str, Any]], seed: dict[str, Any]
) -> tuple[dict[str, int], list[str]]:
    """Keys seen more than once, and what a complete release of each version lacks."""
    counts = Counter(str(e["key"]) for e in effects)
    duplicates = {k: n for k, n in counts.items() if n > 1}
    version_of = {i["key"]: i["fix_versions"][0] for i in seed["jira"]["issues"]}
    owner = seed["github"]["owner"]
    missing = []

    def need(key: str) -> None:
        if key not in counts:
            missing.append(key)

    def need_prefix(prefix: str) -> None:
        if not any(k.startswith(prefix) for k in counts):
            missing.append(prefix + "*")

    for version in sorted(set(version_of.values())):
        need(f"jira:version.release:{version}")
        need(f"confluence:page.create:REL:ENG {version} release notes")
    for repo in seed["github"]["repos"]:
        full = f"{owner}/{repo['name']}"
        groups: dict[tuple[str, tuple[str, ...]], list[tuple[str, str]]] = {}
        for branch in repo["branches"]:
            ticket = branch["name"].split("/", 1)[1].rsplit("-", 1)[0]
            groups.setdefault((version_of[ticket], tuple(branch["files"])), []).append(
                (ticket, branch["name"])
            )
        for version in sorted({v for v, _ in groups}):
            need(f"github:ref:{full}:refs/heads/release/{version}")
            need(f"github:pull:{full}:release/{version}->main")
            need(f"github:release:{full}:v{version}")
        for (version, _), members in groups.items():
            # branches writing the same file conflict: exactly one of them is merged
            merged = [
                t for t, b in members if f"github:merge:{full}:release/{version}<-{b}" in counts
            ]
            if len(merged) != 1:
                missing.append(
                    f"exactly one merge of {[b for _, b in members]} into release/{version}"
                )
            for ticket in merged:
                need(f"jira:transition:{ticket}:Done")
                need_prefix(f"jira:comment:{ticket}:")
                need_prefix(f"jira:remotelink:{ticket}:")
    merges = sum(1 for e in effects if e["kind"] == "pull.merge")
    expected = len(seed["github"]["repos"]) * len(set(version_of.values()))
    if merges != expected:
        missing.append(f"{expected} pull request merges (found {merges})")
    return duplicates, missing


def run_chaos(
    work: Path, runs: int = 100, kills: int = 5, seed: int = 1, timeout: float = 1800.0
) -> ChaosResult:
    """One chaos session in `work`; returns what happened (the caller asserts)."""
    rng = random.Random(seed)
    data_dir = work / "data"
    t0 = time.monotonic()
    seed_file = chaos_seed(work / "chaos-seed.toml", runs)
    sandbox = SandboxProcess(data_dir, seed_file, check_delay=0.2, fault_seed=seed).start()
    service = Service(data_dir)
    result = ChaosResult(runs=runs)
    try:
        log(f"chaos: sandbox up ({time.monotonic() - t0:.0f}s); starting the service")
        service.start()
        sandbox.add_faults(FAULTS)
        driver = Driver(service, runs, kills, rng)
        pending = list(range(runs))
        deadline = time.monotonic() + timeout
        statuses: dict[str, dict[str, Any]] = {}
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"chaos runs not settled after {timeout:.0f}s")
            pending = [i for i in pending if not driver.submit(i)]
            now = driver.runs_now()
            if now is None:
                time.sleep(0.2)
                continue
            statuses = {
                driver.ids[i]: now[driver.ids[i]] for i in driver.ids if driver.ids[i] in now
            }
            settled = sum(1 for r in statuses.values() if r["status"] in TERMINAL)
            for run in statuses.values():
                if run["status"] == "waiting_for_approval":
                    driver.answer(run)
            if not pending and settled == runs:
                break
            driver.maybe_kill(settled)
            time.sleep(0.25)
        while driver.kill_at:  # kill points past the last run still happen: an idle restart
            driver.maybe_kill(runs)
        result.kills, result.decisions = driver.kills, driver.decisions
        result.statuses = {r: s["status"] for r, s in statuses.items()}
        result.errors = {
            r: str(s.get("error")) for r, s in statuses.items() if s["status"] != "succeeded"
        }
        result.faults = sandbox.faults_injected()
        sandbox.clear_faults()
        effects = sandbox.effects()
        result.effects = len(effects)
        seed_data = tomllib.loads(seed_file.read_text())
        result.duplicates, result.missing = _check_effects(effects, seed_data)
    finally:
        service.stop()
        sandbox.stop()
    result.seconds = time.monotonic() - t0
    return result


def main() -> None:
    """Parse the options, run a session, print the summary."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1, help="random seed (kills and faults)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--keep", type=Path, default=None, help="keep the data here")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = run_chaos(args.keep, args.runs, args.kills, args.seed, args.timeout)
    else:
        with tempfile.TemporaryDirectory(prefix="enigma-chaos-") as tmp:
            result = run_chaos(Path(tmp), args.runs, args.kills, args.seed, args.timeout)
    print(result.summary())
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()

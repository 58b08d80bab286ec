"""Row 1: a whole release on the sandbox under real latency, Enigma vs a straight-line script.

3 repositories x 10 tickets, every peer call delayed 100 ms by the sandbox's latency fault
(applied in its middleware, git over HTTP included), CI taking `CI_SECONDS` on each new head.
Enigma: one auto-approved run through the run manager on the real clients (Jira, GitHub and
Confluence over HTTP to the sandbox in its own process), start to `succeeded`. Baseline: the
script in `release_script.py`, making the same side effects through the same clients one
call after another, on a fresh copy of the same seeded sandbox. Both poll CI every
`POLL_SECONDS`. The effect logs of the two are compared (kind and key, as a multiset): a
repetition whose logs differ makes the rows invalid. Three rows come out: the speed-up, the
peer calls each made (the sandbox's request counter), and Enigma's wall time against the
critical path of `critical_path.py`, computed from the script's per-operation call counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import Row, Target, log, median
from bench.critical_path import critical_path_seconds
from bench.release_script import straight_line_release
from bench.sandbox import SandboxProcess
from enigma.bootstrap import open_sqlite_saver
from enigma.bootstrap_sandbox import sandbox_endpoints
from enigma.context import Clients, Context
from enigma.graph import build_graph
from enigma.integrations.factory import build_clients
from enigma.runs.manager import RunManager
from enigma.runs.models import RunRequest
from enigma.runs.sqlite_store import SqliteRunStore
from enigma.sandbox.core import Sandbox
from enigma.sandbox.seeds import REPOS, release_seed
from enigma.sandbox.server import SandboxUrls, peers, seed_if_empty
from enigma.settings import Settings

__all__ = ["release_clients", "release_under_latency"]

VERSION = "2.4.0"
LATENCY_MS = 100
CI_SECONDS = 1.0
POLL_SECONDS = 0.2
POLICY = {
    "auto_approve": True,
    "on_conflict": "skip",
    "on_check_failure": "abort",
    "on_error": "abort",
    "auto_retries": 2,
}


def _template(work: Path, tickets: int) -> Path:
    """A seeded sandbox data directory to copy (seeding builds the git repositories)."""
    seed = release_seed(work / "release-seed.toml", tickets)
    data = work / "template" / "sandbox"
    sandbox = Sandbox(data, seed_file=seed, settings={})
    seed_if_empty(sandbox, peers())
    sandbox.store.close()
    return seed


def release_clients(data_dir: Path, urls: dict[str, str]) -> Clients:
    """The real clients on the sandbox at `urls` (its `--json` line), built as Enigma does."""
    settings = Settings(data_dir=data_dir, http_backoff_seconds=0.05, repositories=REPOS)
    sandbox = SandboxUrls(
        jira=urls["jira"],
        github=urls["github"],
        confluence=urls["confluence"],
        token=urls["token"],
        admin=urls["admin"],
    )
    return build_clients(settings, sandbox_endpoints(sandbox))


async def _enigma_release(data_dir: Path, urls: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Seconds from start to `succeeded`, and when each step ended (s after the start)."""
    context = Context(
        clients=release_clients(data_dir, urls),
        check_poll_seconds=POLL_SECONDS,
        check_timeout_seconds=120,
        retry_backoff_seconds=0.05,
    )
    async with open_sqlite_saver(data_dir / "checkpoints.sqlite3") as saver:
        store = SqliteRunStore(data_dir / "runs.sqlite3")
        manager = RunManager(build_graph(saver), store, context, checkpointer=saver)
        request = RunRequest.model_validate(
            {"fix_version": VERSION, "repositories": REPOS, "release_type": "minor"}
            | {"policy": POLICY}
        )
        t0, wall = time.perf_counter(), time.time()
        run, _ = await manager.start(request, "bench")
        run = await manager.wait_for(run.id, {"succeeded", "failed", "cancelled"}, timeout=600)
        elapsed = time.perf_counter() - t0
        steps: dict[str, float] = {}
        for event in await store.events(run.id, limit=100_000):
            if event.type == "step.finished" and event.step:
                steps[event.step] = max(steps.get(event.step, 0.0), event.at - wall)
        await manager.shutdown()
        await store.close()
    assert run.status == "succeeded", f"the sandbox release ended {run.status}: {run.error}"
    return elapsed, dict(steps)


def _effects(sandbox: SandboxProcess) -> Counter[tuple[str, str]]:
    """The effect log as (kind, key), comparable across two sandboxes.

    Keys hold the sandbox's own address (links to pull requests), which differs between the
    two; a comment's key ends in a digest of its text, which quotes the merge commits' shas,
    and those differ by their commit times. Both are cut off; the rest must match.
    """
    out: Counter[tuple[str, str]] = Counter()
    for effect in sandbox.effects():
        key = str(effect["key"]).replace(sandbox.admin, "")
        if effect["kind"] == "comment":
            key = key.rsplit(":", 1)[0]
        out[(str(effect["kind"]), key)] += 1
    return out


@contextlib.contextmanager
def _sandbox(root: Path, name: str, seed: Path) -> Iterator[SandboxProcess]:
    """A fresh copy of the seeded sandbox, started, every peer call delayed."""
    data = root / name
    shutil.copytree(root / "template", data)
    with SandboxProcess(data, seed, check_delay=CI_SECONDS) as sandbox:
        sandbox.add_faults([{"kind": "latency", "latency_ms": LATENCY_MS}])
        yield sandbox


async def _repetition(root: Path, seed: Path, i: int) -> dict[str, Any]:
    with _sandbox(root, f"enigma-{i}", seed) as sandbox:
        enigma_s, steps = await _enigma_release(sandbox.data_dir, sandbox.urls)
        enigma_calls, enigma_effects = sandbox.requests(), _effects(sandbox)
    with _sandbox(root, f"script-{i}", seed) as sandbox:
        clients = release_clients(sandbox.data_dir, sandbox.urls)
        script = await asyncio.to_thread(
            straight_line_release, clients, REPOS, VERSION, POLL_SECONDS, sandbox.requests
        )
        script_calls, script_effects = sandbox.requests(), _effects(sandbox)
    floor = critical_path_seconds(script.calls, LATENCY_MS / 1000, CI_SECONDS)
    same = enigma_effects == script_effects
    log(
        f"release {i + 1}: Enigma {enigma_s:.2f}s, {enigma_calls} calls; script "
        f"{script.seconds:.2f}s, {script_calls} calls; critical path {floor:.2f}s; "
        f"{sum(enigma_effects.values())} effects, same in both: {same}"
        + (
            ""
            if same
            else f" (Enigma only: {enigma_effects - script_effects}, script only: "
            f"{script_effects - enigma_effects})"
        )
    )
    return {
        "enigma": enigma_s,
        "script": script.seconds,
        "enigma_calls": enigma_calls,
        "script_calls": script_calls,
        "floor": floor,
        "same": same and bool(enigma_effects),
        "steps": steps,
    }


async def release_under_latency(work: Path, tickets: int = 10, repetitions: int = 3) -> list[Row]:
    """Rows 1a-1c: speed-up, peer calls and distance to the critical path."""
    with tempfile.TemporaryDirectory(prefix="bench-release-", dir=work) as tmp:
        root = Path(tmp)
        seed = _template(root, tickets)
        reps = [await _repetition(root, seed, i) for i in range(repetitions)]
    valid = all(r["same"] for r in reps)
    steps: dict[str, list[float]] = defaultdict(list)
    for rep in reps:
        for step, seconds in rep["steps"].items():
            steps[step].append(seconds)
    timeline = sorted((median(v), k) for k, v in steps.items())
    where = (
        f"critical path {median([r['floor'] for r in reps]):.1f} s by the model; Enigma's "
        "timeline, when each step last ended (median s after the start): "
        + ", ".join(f"{k} {v:.1f}" for v, k in timeline)
    )
    log(where)
    size = f"{len(REPOS)} repos x {tickets} tickets, {LATENCY_MS} ms a call"
    enigma = [r["enigma"] for r in reps]
    return [
        Row(
            f"1a release under latency ({size}): Enigma vs straight-line script, speed-up",
            "s",
            enigma,
            [r["script"] for r in reps],
            Target("ratio", ">=", 3.0),
            valid,
            ratios=[r["script"] / r["enigma"] for r in reps],
        ),
        Row(
            "1b release under latency: peer calls, Enigma / script",
            "calls",
            [float(r["enigma_calls"]) for r in reps],
            [float(r["script_calls"]) for r in reps],
            Target("ratio", "<=", 1.2),
            valid,
        ),
        Row(
            f"1c release under latency: Enigma wall time / critical path (CI {CI_SECONDS:g} s)",
            "s",
            enigma,
            [r["floor"] for r in reps],
            Target("ratio", "<=", 1.3),
            valid,
            note=where,
        ),
    ]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for row in asyncio.run(release_under_latency(Path(tmp), repetitions=1)):
            print(row.as_json())

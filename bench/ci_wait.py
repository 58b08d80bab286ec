"""Row 11 (issue 12): a dry run while fifty releases wait for CI, against the same dry run alone.

Waiting for CI must hold no thread and no slot a dry run needs. One manager, one sandbox (in
a process of its own, CI that stays pending for an hour): the dry run of a fresh version is timed
alone, then fifty releases (each its own version, one repository) are started and driven
until every one polls its pull request's checks, and the same kind of dry run is timed again
while they wait. Repeated three times each side, alternating; the fifty are cancelled at the
end (and a cancelled wait must end at once). The ratio is beside-the-fifty over alone.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bench.common import Row, Target, log, median
from bench.release import release_clients
from bench.sandbox import SandboxProcess
from enigma.bootstrap import open_sqlite_saver
from enigma.context import Context
from enigma.graph import build_graph
from enigma.runs.manager import Limits, RunManager
from enigma.runs.models import RunRequest
from enigma.runs.sqlite_store import SqliteRunStore
from enigma.sandbox.seeds import chaos_seed, chaos_version

__all__ = ["dry_run_beside_ci_waits"]

AUTO = {"auto_approve": True, "on_conflict": "skip", "on_check_failure": "abort"}


def _request(index: int, dry_run: bool) -> RunRequest:
    return RunRequest.model_validate(
        {
            "fix_version": chaos_version(index),
            "repositories": ["web-app"],
            "dry_run": dry_run,
            "policy": AUTO,
        }
    )


async def _dry_run(manager: RunManager, index: int) -> float:
    """Seconds from start to the dry run's plan."""
    began = time.perf_counter()
    run, _ = await manager.start(_request(index, dry_run=True), "bench")
    done = await manager.wait_for(run.id, {"succeeded", "failed", "cancelled"}, timeout=300)
    if (done.status, done.outcome) != ("succeeded", "planned"):
        raise RuntimeError(f"dry run {run.id} ended {done.status}: {done.error}")
    return time.perf_counter() - began


async def _all_wait_for_checks(manager: RunManager, run_ids: list[str]) -> bool:
    for run_id in run_ids:
        started = await manager.store.events(run_id, types={"step.started"})
        if not any(e.step == "wait_for_checks" for e in started):
            return False
    return True


async def dry_run_beside_ci_waits(work: Path, waiting: int = 50, repetitions: int = 3) -> Row:
    """Row 11: the dry run's latency beside `waiting` CI waits over its latency alone."""
    work.mkdir(parents=True, exist_ok=True)
    versions = waiting + 2 * repetitions + 1
    seed = chaos_seed(work / "ci-wait-seed.toml", runs=versions)
    # the peers in a process of their own, as CI is somewhere else: fifty releases' polls
    # answered inside this process would be timed as Enigma's own load
    sandbox = SandboxProcess(work / "ci-wait-sandbox", seed, check_delay=3600).start()
    data = work / "ci-wait-enigma"
    data.mkdir(parents=True, exist_ok=True)
    context = Context(
        clients=release_clients(data, sandbox.urls),
        check_poll_seconds=1.0,
        retry_backoff_seconds=0.05,
    )
    alone: list[float] = []
    beside: list[float] = []
    valid = True
    try:
        async with open_sqlite_saver(data / "checkpoints.sqlite3") as saver:
            store = SqliteRunStore(data / "runs.sqlite3")
            manager = RunManager(
                build_graph(saver),
                store,
                context,
                checkpointer=saver,
                limits=Limits(max_concurrent=waiting + 10),
            )
            await manager.start_background()
            index = waiting
            await _dry_run(manager, index)  # warm-up: imports, first connections
            index += 1
            for _ in range(repetitions):
                alone.append(await _dry_run(manager, index))
                index += 1
            held = [
                (await manager.start(_request(i, False), "bench"))[0].id for i in range(waiting)
            ]
            deadline = time.monotonic() + 600
            while not await _all_wait_for_checks(manager, held):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {waiting} releases did not all reach their CI wait")
                await asyncio.sleep(0.5)
            # the last to arrive were still writing their steps' ends: let every one settle
            # into its wait (two poll periods), so the dry run is timed beside waits alone
            await asyncio.sleep(2 * context.check_poll_seconds)
            for _ in range(repetitions):
                beside.append(await _dry_run(manager, index))
                index += 1
            for run_id in held:  # still waiting: the dry runs did not need them to finish
                if (await manager.get(run_id)).status != "running":
                    valid = False
            began = time.monotonic()
            for run_id in held:
                await manager.cancel(run_id, "bench")
            log(f"ci wait: {waiting} waiting runs cancelled in {time.monotonic() - began:.1f}s")
            await manager.shutdown()
            await store.close()
    finally:
        sandbox.stop()
    log(f"ci wait: dry run alone {alone} s, beside {waiting} CI waits {beside} s")
    return Row(
        f"11 dry run while {waiting} releases wait for CI (vs the same dry run alone)",
        "s",
        beside,
        alone,
        Target("ratio", "<=", 1.5),
        valid=valid,
        note=f"median alone {median(alone):.2f} s",
    )

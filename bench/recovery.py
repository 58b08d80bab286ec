"""Restart with many runs in flight: how fast a new manager takes them all back.

Set-up: `runs` no-op releases are left mid-way, as a crash would leave them: each has its
row in the run store with status `running` and its checkpoint after `collect_repositories`
(the bare graph run with `interrupt_after`, so the next steps are pending). The store and
the saver are then closed and a new manager opened on the same files, as after a restart.

Measured (the target): from starting the new manager until every run has finished
(`run.finished` on its event stream, and `succeeded` in the store). Also logged: until every
run is executing again, and until each has finished a step after the restart. The baseline
does the same with bare LangGraph on a copy of the same files: it has no run store, so it
must read every thread's state to find the ones in flight, then resumes each with
`ainvoke(None)`, 50 at a time.
The runs are left in flight once; each repetition works on fresh copies of those files.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from langchain_core.runnables import RunnableConfig

from bench.common import Row, Target, log
from bench.engine import bare_input, open_engine
from bench.noop import release_request
from enigma.runs.models import EventRecord, RunRecord, RunRequest

__all__ = ["restart_recovery"]

SLOTS = 50
STOP_AFTER = "collect_repositories"  # the repositories are done; notes, approval, finalize to go


async def _leave_in_flight(data_dir: Path, runs: int) -> list[str]:
    ids = [f"run-inflight-{i:05d}" for i in range(runs)]
    async with open_engine(data_dir) as engine:
        slots = asyncio.Semaphore(SLOTS)

        async def one(run_id: str) -> None:
            request = RunRequest.model_validate(release_request(auto_approve=True))
            now = time.time()
            await engine.manager.store.create(
                RunRecord(
                    id=run_id,
                    status="queued",
                    fix_version=request.fix_version,
                    release_type=request.release_type,
                    repositories=request.repositories,
                    actor="bench",
                    created_at=now,
                    updated_at=now,
                    request=request.model_dump(),
                ),
                None,
            )
            await engine.manager.store.set_status(run_id, "running")
            config: RunnableConfig = {"configurable": {"thread_id": run_id}}
            async with slots:
                await engine.graph.ainvoke(
                    bare_input(run_id) | {"fix_version": request.fix_version},
                    config,
                    context=engine.manager.context,
                    durability="exit",
                    interrupt_after=[STOP_AFTER],
                )

        await asyncio.gather(*(one(r) for r in ids))
    return ids


async def _enigma(data_dir: Path, ids: list[str]) -> tuple[float, float, float]:
    async with open_engine(data_dir) as engine:
        manager = engine.manager
        stepped: set[str] = set()
        finished: set[str] = set()
        times: dict[str, float] = {}
        async with manager.subscribe(maxsize=1_000_000) as queue:
            t0 = time.perf_counter()
            await manager.start_background()
            if all(manager.is_executing(r) for r in ids):
                times["executing"] = time.perf_counter() - t0
            while len(finished) < len(ids):
                event = await asyncio.wait_for(queue.get(), timeout=120)
                if event is None:
                    raise RuntimeError("the recovery benchmark fell behind the event stream")
                if not isinstance(event, EventRecord):
                    continue
                if event.type == "step.finished":
                    stepped.add(event.run_id)
                    if len(stepped) == len(ids) and "stepped" not in times:
                        times["stepped"] = time.perf_counter() - t0
                elif event.type == "run.finished":
                    finished.add(event.run_id)
            times["finished"] = time.perf_counter() - t0
        bad = [r for r in ids if (await manager.get(r)).status != "succeeded"]
        assert not bad, f"{len(bad)} recovered runs did not succeed, e.g. {bad[0]}"
    return (
        times.get("executing", float("nan")),
        times.get("stepped", times["finished"]),
        times["finished"],
    )


async def _bare(data_dir: Path, ids: list[str]) -> tuple[float, float]:
    async with open_engine(data_dir) as engine:
        graph, context = engine.graph, engine.manager.context
        slots = asyncio.Semaphore(SLOTS)

        async def resume(run_id: str) -> None:
            async with slots:
                out = await graph.ainvoke(
                    None,
                    {"configurable": {"thread_id": run_id}},
                    context=context,
                    durability="sync",
                )
                assert out.get("outcome") == "succeeded", out.get("outcome")

        t0 = time.perf_counter()
        in_flight = []
        for run_id in ids:  # find what is in flight: every thread's state
            snapshot = await graph.aget_state({"configurable": {"thread_id": run_id}})
            if snapshot.next:
                in_flight.append(run_id)
        tasks = [asyncio.get_running_loop().create_task(resume(r)) for r in in_flight]
        scheduled = time.perf_counter() - t0
        await asyncio.gather(*tasks)
        assert len(tasks) == len(ids)
        return scheduled, time.perf_counter() - t0


async def restart_recovery(work: Path | None = None, runs: int = 1000, repetitions: int = 3) -> Row:
    """Row 7: a new manager takes back `runs` in-flight runs and finishes them all."""
    enigma: list[float] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-recovery-", dir=work) as tmp:
        template = Path(tmp) / "template"
        t0 = time.perf_counter()
        ids = await _leave_in_flight(template, runs)
        log(f"recovery: {runs} runs left in flight in {time.perf_counter() - t0:.1f}s")
        for rep in range(repetitions):
            enigma_dir, bare_dir = Path(tmp) / f"enigma-{rep}", Path(tmp) / f"bare-{rep}"
            shutil.copytree(template, enigma_dir)
            shutil.copytree(template, bare_dir)
            executing, stepped, finished = await _enigma(enigma_dir, ids)
            bare_scheduled, bare_finished = await _bare(bare_dir, ids)
            shutil.rmtree(enigma_dir)
            shutil.rmtree(bare_dir)
            enigma.append(finished)
            bare.append(bare_finished)
            log(
                f"recovery {rep + 1}: all {runs} executing again {executing:.2f}s after "
                f"recover(), each past a step {stepped:.1f}s, all finished {finished:.1f}s; "
                f"bare LangGraph found and scheduled them in {bare_scheduled:.2f}s, "
                f"finished {bare_finished:.1f}s"
            )
    return Row(
        f"7 restart: {runs:,} in-flight runs all finished after a restart "
        "(baseline bare LangGraph resuming the same threads)",
        "s",
        enigma,
        bare,
        Target("ratio", "<=", 1.2),
    )

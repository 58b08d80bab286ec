"""Engine overhead: the release graph on no-op clients, through the run manager and bare.

Both sides use one compiled graph, one SQLite checkpointer opened the way the service opens
it (`open_sqlite_saver`) and `durability="sync"`; the bare side calls `ainvoke` itself, the
Enigma side goes through `RunManager.start` with an auto-approve policy and waits for the
run's `run.finished` event, so it pays for the run store, the event log, the task stream and
the status bookkeeping. Runs alternate between the two sides so that drift in the machine's
load hits both alike.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from bench.common import Row, log, median
from bench.noop import noop_context, release_request
from enigma.bootstrap import open_sqlite_saver
from enigma.graph import build_graph
from enigma.runs.manager import Limits, RunManager
from enigma.runs.models import EventRecord, RunRequest
from enigma.runs.sqlite_store import SqliteRunStore

__all__ = ["Engine", "bare_input", "engine_overhead", "open_engine", "run_to_end"]


@dataclass
class Engine:
    """One graph, its saver and a run manager over a fresh data directory."""

    graph: CompiledStateGraph[Any, Any, Any, Any]
    manager: RunManager
    data_dir: Path


def bare_input(thread: str, auto_approve: bool = True) -> dict[str, Any]:
    """The graph input the manager would build for a no-op release request."""
    request = RunRequest.model_validate(release_request(auto_approve))
    return {
        "workflow_id": thread,
        "started_by": "bench",
        "fix_version": request.fix_version,
        "repositories": request.repositories,
        "release_type": request.release_type,
        "sprint_name": None,
        "dry_run": False,
        "policy": request.policy.model_dump(),
    }


@contextlib.asynccontextmanager
async def open_engine(
    data_dir: Path | None = None, max_concurrent: int = 50
) -> AsyncIterator[Engine]:
    """Saver, graph and manager as `open_runtime` wires them, on no-op clients."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        async with open_sqlite_saver(data_dir / "checkpoints.sqlite3") as saver:
            graph = build_graph(saver)
            store = SqliteRunStore(data_dir / "runs.sqlite3")
            manager = RunManager(
                graph,
                store,
                noop_context(),
                checkpointer=saver,
                limits=Limits(max_concurrent=max_concurrent),
            )
            try:
                yield Engine(graph, manager, data_dir)
            finally:
                await manager.shutdown()
                await store.close()


async def bare_run(engine: Engine, thread: str, auto_approve: bool = True) -> dict[str, Any]:
    """One run of the bare graph (to the end, or to the first interrupt)."""
    config: RunnableConfig = {"configurable": {"thread_id": thread}, "recursion_limit": 500}
    out = await engine.graph.ainvoke(
        bare_input(thread, auto_approve), config, context=engine.manager.context, durability="sync"
    )
    return dict(out)


async def managed_run(engine: Engine, auto_approve: bool = True) -> str:
    """One no-op release through the run manager, to its end; returns the final status."""
    request = RunRequest.model_validate(release_request(auto_approve))
    return await run_to_end(engine.manager, request)


async def run_to_end(manager: RunManager, request: RunRequest) -> str:
    """Start a run and wait for its `run.finished` event, as a client of the stream would."""
    async with manager.subscribe() as queue:
        run, _ = await manager.start(request, "bench")
        while True:
            event = await queue.get()
            if (
                isinstance(event, EventRecord)
                and event.run_id == run.id
                and event.type == "run.finished"
            ):
                break
    return (await manager.get(run.id)).status


async def engine_overhead(runs: int = 40, warmup: int = 4) -> Row:
    """Row 1: ms per run through the manager vs bare `ainvoke`, same graph and saver."""
    async with open_engine() as engine:
        for i in range(warmup):
            await bare_run(engine, f"warm-{i}")
            await managed_run(engine)
        bare: list[float] = []
        managed: list[float] = []
        for i in range(runs):
            t0 = time.perf_counter()
            out = await bare_run(engine, f"bare-{i}")
            bare.append(time.perf_counter() - t0)
            assert out.get("outcome") == "succeeded", out.get("outcome")
            t0 = time.perf_counter()
            status = await managed_run(engine)
            managed.append(time.perf_counter() - t0)
            assert status == "succeeded", status
    b, m = median(bare) * 1000, median(managed) * 1000
    log(f"engine: bare ainvoke {b:.1f} ms/run, run manager {m:.1f} ms/run ({runs} runs each)")
    return Row(
        "engine overhead: run manager vs bare ainvoke",
        m,
        "ms/run",
        b,
        m / b,
        "<= 1.25x",
        m / b <= 1.25,
    )

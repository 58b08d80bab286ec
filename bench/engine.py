"""Engine overhead: the release graph on no-op clients, through the run manager and bare.

Both sides use one compiled graph, one SQLite checkpointer opened the way the service opens
it (`open_sqlite_saver`) and `durability="sync"`; the bare side calls `ainvoke` itself, the
Enigma side goes through `RunManager.start` with an auto-approve policy and waits for the
run's `run.finished` event, so it pays for the run store, the event log, the task stream and
the status bookkeeping. Runs alternate between the two sides so that drift in the machine's
load hits both alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from bench.common import Row, Target, log, median
from bench.noop import noop_context, release_request
from enigma.bootstrap import open_sqlite_saver
from enigma.graph import build_graph
from enigma.runs.manager import Limits, RunManager
from enigma.runs.models import EventRecord, RunRequest
from enigma.runs.sqlite_store import SqliteRunStore

RUN_TIMEOUT = 120.0
"""A run on no-op clients takes milliseconds: one that says nothing for this long is stuck."""

__all__ = [
    "Engine",
    "bare_input",
    "engine_overhead",
    "graph_cost",
    "open_engine",
    "run_to_end",
]


@dataclass
class Engine:
    """One graph, its saver and a run manager over a fresh data directory."""

    graph: CompiledStateGraph[Any, Any, Any, Any]
    manager: RunManager
    data_dir: Path
    saver: Any


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
                yield Engine(graph, manager, data_dir, saver)
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
    """Start a run and wait for its `run.finished` event (or its failure), as a client of the
    stream would."""
    async with manager.subscribe() as queue:
        run, _ = await manager.start(request, "bench")
        while True:
            event = await asyncio.wait_for(queue.get(), timeout=RUN_TIMEOUT)
            if not isinstance(event, EventRecord) or event.run_id != run.id:
                continue
            if event.type == "run.finished":
                break
            if event.type == "run.status" and event.data.get("to") == "failed":
                break  # resumable, so not finished: the caller sees the status
    return (await manager.get(run.id)).status


async def engine_overhead(runs: int = 15, repetitions: int = 3, warmup: int = 4) -> Row:
    """Row 4: ms per run through the manager vs bare `ainvoke`, same graph and saver."""
    bare: list[float] = []
    managed: list[float] = []
    async with open_engine() as engine:
        for i in range(warmup):
            await bare_run(engine, f"warm-{i}")
            await managed_run(engine)
        for rep in range(repetitions):
            b: list[float] = []
            m: list[float] = []
            for i in range(runs):
                t0 = time.perf_counter()
                out = await bare_run(engine, f"bare-{rep}-{i}")
                b.append(time.perf_counter() - t0)
                assert out.get("outcome") == "succeeded", out.get("outcome")
                t0 = time.perf_counter()
                status = await managed_run(engine)
                m.append(time.perf_counter() - t0)
                assert status == "succeeded", status
            bare.append(median(b) * 1000)
            managed.append(median(m) * 1000)
    log(f"engine: bare ainvoke {bare} ms/run, run manager {managed} ms/run ({runs} runs a rep)")
    return Row(
        "4 engine overhead: run manager vs bare ainvoke, same graph and saver",
        "ms/run",
        managed,
        bare,
        Target("ratio", "<=", 1.10),
    )


async def graph_cost(runs: int = 30, repetitions: int = 3, warmup: int = 4) -> Row:
    """Row 2: the release graph on no-op clients under bare `ainvoke`, vs a 6-node graph.

    Both on one SQLite saver opened as the service opens it, `durability="sync"`; runs
    alternate between the two graphs. The 6-node graph is the peer benchmark's (`peer.py`):
    six linear steps over a small state, what any durable 6-step workflow costs here.
    """
    from bench.peer import build_peer_graph, peer_input

    release: list[float] = []
    trivial: list[float] = []
    async with open_engine() as engine:
        six = build_peer_graph(engine.saver)
        for i in range(warmup):
            await bare_run(engine, f"warm-{i}")
            await six.ainvoke(peer_input(f"warm6-{i}"), _config(f"warm6-{i}"), durability="sync")
        for rep in range(repetitions):
            r: list[float] = []
            t: list[float] = []
            for i in range(runs):
                t0 = time.perf_counter()
                out = await bare_run(engine, f"g-{rep}-{i}")
                r.append(time.perf_counter() - t0)
                assert out.get("outcome") == "succeeded", out.get("outcome")
                name = f"six-{rep}-{i}"
                t0 = time.perf_counter()
                await six.ainvoke(peer_input(name), _config(name), durability="sync")
                t.append(time.perf_counter() - t0)
            release.append(median(r) * 1000)
            trivial.append(median(t) * 1000)
        steps = [c async for c in engine.saver.alist(_config("g-0-0"))]
        six_steps = [c async for c in engine.saver.alist(_config("six-0-0"))]
    per = median(release) / max(1, len(steps))
    note = (
        f"a release run writes {len(steps)} checkpoints (the 6-node graph {len(six_steps)}): "
        f"{per:.1f} ms per checkpointed step, against "
        f"{median(trivial) / max(1, len(six_steps)):.1f} ms for the 6-node graph's"
    )
    log(f"graph cost: release graph {release} ms/run, 6-node graph {trivial} ms/run; {note}")
    return Row(
        "2 graph's own cost: release graph on no-op clients, bare ainvoke (vs a 6-node graph)",
        "ms/run",
        release,
        trivial,
        Target("value", "<=", 40),
        note=note,
    )


def _config(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread}}

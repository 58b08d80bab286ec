"""The peer engine: one 6-step durable workflow in DBOS Transact and in Enigma.

The same state (ten fields, 50 ticket records) and the same step functions run as a DBOS
workflow of six `@DBOS.step`s on SQLite, and as a six-node LangGraph graph driven by Enigma's
run manager on its SQLite checkpointer (`durability="sync"`: every step on disk before the
next, as DBOS records every step). The bare graph on the same saver is logged beside them.
Runs alternate between the engines. DBOS's SQLite is given Enigma's durability (WAL,
`synchronous=NORMAL`: no fsync per commit) so that both pay the same for a write; its own
default (rollback journal, an fsync per commit) is measured and logged too.
`python -m bench.peer` runs it in a process of its own (DBOS keeps process-wide state and
threads) and prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from bench.common import REPO_ROOT, Row, Target, child_env, log

__all__ = ["STEPS", "build_peer_graph", "peer_engine", "peer_input"]


class PeerState(TypedDict, total=False):
    """Ten fields, as a small release carries them."""

    workflow_id: str
    fix_version: str
    repositories: list[str]
    tickets: list[dict[str, Any]]
    plan: dict[str, Any]
    branches: dict[str, str]
    merges: dict[str, str]
    notes: str
    outcome: str
    steps_completed: list[str]


def fetch_tickets(state: dict[str, Any]) -> dict[str, Any]:
    """50 ticket records."""
    repos = state["repositories"]
    tickets = [
        {
            "key": f"ENG-{100 + i}",
            "summary": f"change {i}",
            "type": "Story",
            "status": "In Review",
            "fix_versions": [state["fix_version"]],
            "labels": [repos[i % len(repos)]],
            "url": f"https://jira.invalid/browse/ENG-{100 + i}",
        }
        for i in range(50)
    ]
    return {"tickets": tickets, "steps_completed": ["fetch_tickets"]}


def plan_release(state: dict[str, Any]) -> dict[str, Any]:
    """Tickets by repository."""
    plan: dict[str, list[str]] = {r: [] for r in state["repositories"]}
    for ticket in state["tickets"]:
        plan[ticket["labels"][0]].append(ticket["key"])
    return {"plan": plan, "steps_completed": [*state["steps_completed"], "plan_release"]}


def create_branches(state: dict[str, Any]) -> dict[str, Any]:
    """One release branch per repository."""
    branches = {r: f"release/{state['fix_version']}" for r in state["plan"]}
    return {"branches": branches, "steps_completed": [*state["steps_completed"], "create_branches"]}


def merge_branches(state: dict[str, Any]) -> dict[str, Any]:
    """Every ticket merged."""
    merges = {key: "merged" for keys in state["plan"].values() for key in keys}
    return {"merges": merges, "steps_completed": [*state["steps_completed"], "merge_branches"]}


def publish_notes(state: dict[str, Any]) -> dict[str, Any]:
    """The notes page body."""
    notes = "".join(f"<li>{t['key']} {t['summary']}</li>" for t in state["tickets"])
    return {
        "notes": f"<ul>{notes}</ul>",
        "steps_completed": [*state["steps_completed"], "publish_notes"],
    }


def finalize(state: dict[str, Any]) -> dict[str, Any]:
    """Done."""
    return {"outcome": "succeeded", "steps_completed": [*state["steps_completed"], "finalize"]}


STEPS = [fetch_tickets, plan_release, create_branches, merge_branches, publish_notes, finalize]


def build_peer_graph(checkpointer: Any) -> Any:
    """The six steps as a linear LangGraph graph."""
    g = StateGraph(PeerState)
    previous = START
    for step in STEPS:
        g.add_node(step.__name__, step)  # type: ignore[type-var]
        g.add_edge(previous, step.__name__)
        previous = step.__name__
    g.add_edge(previous, END)
    return g.compile(checkpointer=checkpointer, name="peer")


def peer_input(thread: str) -> dict[str, Any]:
    """The 6-step graph's input for one run."""
    return {
        "workflow_id": thread,
        "fix_version": "2.4.0",
        "repositories": ["a", "b", "c"],
        "steps_completed": [],
    }


def _dbos(path: Path, like_enigma: bool) -> Any:
    from dbos import DBOS
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if like_enigma:  # the durability Enigma's checkpointer has: WAL, no fsync per commit

        @event.listens_for(Engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    DBOS(
        config={
            "name": "enigma-bench",
            "system_database_url": f"sqlite:///{path}",
            "log_level": "WARNING",
        }
    )
    wrapped = [DBOS.step(name=s.__name__)(s) for s in STEPS]

    @DBOS.workflow()
    def release_workflow(inputs: dict[str, Any]) -> dict[str, Any]:
        state = dict(inputs, steps_completed=[])
        for step in wrapped:
            state.update(step(state))
        return state

    DBOS.launch()
    return release_workflow


async def _measure(runs: int, reps: int, tmp: Path, like_enigma: bool) -> dict[str, list[float]]:
    from bench.engine import run_to_end
    from bench.noop import noop_context
    from enigma.bootstrap import open_sqlite_saver
    from enigma.runs.manager import RunManager
    from enigma.runs.models import RunRequest
    from enigma.runs.sqlite_store import SqliteRunStore

    workflow = _dbos(tmp / "dbos.sqlite3", like_enigma)
    request = RunRequest.model_validate({"fix_version": "2.4.0", "repositories": ["a", "b", "c"]})
    # one run at a time, so every Enigma run may release the same version
    times: dict[str, list[float]] = {"dbos": [], "enigma": [], "bare": []}
    async with open_sqlite_saver(tmp / "checkpoints.sqlite3") as saver:
        graph = build_peer_graph(saver)
        store = SqliteRunStore(tmp / "runs.sqlite3")
        manager = RunManager(graph, store, noop_context(), checkpointer=saver)
        for i in range(runs * reps + 3):
            t0 = time.perf_counter()
            out = workflow(
                {
                    "workflow_id": f"dbos-{i}",
                    "fix_version": "2.4.0",
                    "repositories": ["a", "b", "c"],
                }
            )
            times["dbos"].append(time.perf_counter() - t0)
            assert out["outcome"] == "succeeded"
            t0 = time.perf_counter()
            status = await run_to_end(manager, request)
            times["enigma"].append(time.perf_counter() - t0)
            assert status == "succeeded", status
            t0 = time.perf_counter()
            config = {"configurable": {"thread_id": f"bare-{i}"}}
            out = await graph.ainvoke(peer_input(f"bare-{i}"), config, durability="sync")
            times["bare"].append(time.perf_counter() - t0)
        await manager.shutdown()
        await store.close()
    from dbos import DBOS

    DBOS.destroy()
    return {
        k: [statistics.median(v[3 + r * runs : 3 + (r + 1) * runs]) * 1000 for r in range(reps)]
        for k, v in times.items()
    }


def peer_engine(work: Path | None = None, runs: int = 15, repetitions: int = 3) -> Row:
    """Row 9: Enigma vs DBOS Transact per run of the same 6-step workflow (own process)."""
    ms = _run_peer(runs, repetitions, like_enigma=True)
    log(
        f"peer engine: DBOS {ms['dbos']} ms/run on SQLite like Enigma's (WAL, "
        f"synchronous=NORMAL); Enigma run manager {ms['enigma']} ms/run, bare LangGraph "
        f"{ms['bare']} ms/run ({runs} runs a repetition)"
    )
    return Row(
        "9 peer engine: 6-step durable workflow, Enigma vs DBOS 3.4 at equal durability "
        "(speed-up, higher = better for Enigma)",
        "ms/run",
        ms["enigma"],
        ms["dbos"],
        Target("ratio", ">=", 1.0),
        ratios=[d / e for d, e in zip(ms["dbos"], ms["enigma"], strict=True)],
    )


def _run_peer(runs: int, reps: int, like_enigma: bool) -> dict[str, list[float]]:
    args = [sys.executable, "-m", "bench.peer", "--runs", str(runs), "--reps", str(reps)]
    if not like_enigma:
        args.append("--dbos-defaults")
    out = subprocess.run(
        args,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        cwd=REPO_ROOT,
        env=child_env(),
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.peer failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Measure in this process; print one JSON line: per engine, each repetition's median ms."""
    parser = argparse.ArgumentParser(prog="python -m bench.peer")
    parser.add_argument("--runs", type=int, default=15, help="runs per repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--dbos-defaults",
        action="store_true",
        help="DBOS's own SQLite settings instead of Enigma's (WAL, NORMAL)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        result = asyncio.run(_measure(args.runs, args.reps, Path(tmp), not args.dbos_defaults))
        print(json.dumps(result))


if __name__ == "__main__":
    main()

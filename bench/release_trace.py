"""`python -m bench.release_trace`: one sandbox release under added latency, call by call.

Issue 18's first row is a release under real latency: every peer call costs `latency_ms` more,
so a release's wall time is set by how many calls it makes one after another. This runs the
bench's release (3 repositories x 10 tickets, auto-approved, CI answering at once) against a
sandbox in its own process with a latency fault on every route, then reads the sandbox's
request log and prints: wall time, calls in all, calls per step, the reads made more than
once, and the longest run of calls that never overlapped (the chain latency cannot hide).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from bench.common import log
from bench.release import POLICY, VERSION, _template, release_clients
from bench.sandbox import SandboxProcess
from enigma.bootstrap import open_sqlite_saver
from enigma.context import Context
from enigma.graph import build_graph
from enigma.runs.manager import RunManager
from enigma.runs.models import RunRequest
from enigma.runs.sqlite_store import SqliteRunStore
from enigma.sandbox.seeds import REPOS

__all__ = ["summarise", "trace_release"]

Span = tuple[str, str | None, float, float]
"""(step, repo, started, finished) in Unix seconds."""


async def _release(data_dir: Path, urls: dict[str, str]) -> tuple[float, list[Span], str]:
    """One auto-approved release through the run manager: (wall time, step spans, status)."""
    context = Context(
        clients=release_clients(data_dir, urls),
        check_poll_seconds=0.02,
        check_timeout_seconds=60,
        retry_backoff_seconds=0.05,
    )
    async with open_sqlite_saver(data_dir / "checkpoints.sqlite3") as saver:
        store = SqliteRunStore(data_dir / "runs.sqlite3")
        manager = RunManager(build_graph(saver), store, context, checkpointer=saver)
        request = RunRequest.model_validate(
            {"fix_version": VERSION, "repositories": REPOS, "release_type": "minor"}
            | {"policy": POLICY}
        )
        t0 = time.perf_counter()
        run, _ = await manager.start(request, "bench")
        run = await manager.wait_for(run.id, {"succeeded", "failed", "cancelled"}, timeout=900)
        elapsed = time.perf_counter() - t0
        opened: dict[tuple[str, str | None], float] = {}
        spans: list[Span] = []
        for event in await store.events(run.id, limit=100_000):
            if not event.step:
                continue
            key = (event.step, event.repo)
            if event.type == "step.started":
                opened[key] = event.at
            elif event.type in ("step.finished", "step.failed") and key in opened:
                spans.append((event.step, event.repo, opened.pop(key), event.at))
        await manager.shutdown()
        await store.close()
    return elapsed, spans, run.status


def _step_of(request: dict[str, Any], spans: list[Span]) -> str:
    """The step a request was made for: the span it started in (by repository when several)."""
    inside = [s for s in spans if s[2] <= request["start"] <= s[3]]
    if not inside:
        return "(between steps)"
    named = [s for s in inside if s[1] and f"/{s[1]}" in request["path"]]
    step, repo, _, _ = (named or inside)[0]
    return f"{step}[{repo}]" if repo and named else step


def _chain(requests: list[dict[str, Any]]) -> int:
    """Calls that overlapped no other call: the part of the release latency cannot hide."""
    alone = 0
    for i, r in enumerate(requests):
        overlaps = any(
            o["start"] < r["end"] and r["start"] < o["end"]
            for j, o in enumerate(requests)
            if j != i and abs(j - i) < 50
        )
        alone += not overlaps
    return alone


def summarise(requests: list[dict[str, Any]], spans: list[Span]) -> dict[str, Any]:
    """Calls per step, repeated reads and calls made alone, from the sandbox's request log."""
    finished = [r for r in requests if r["end"] is not None]
    per_step: Counter[str] = Counter(_step_of(r, spans) for r in finished)
    reads: Counter[str] = Counter(
        f"{r['path']}?{r['query']}" if r["query"] else r["path"]
        for r in finished
        if r["method"] == "GET"
    )
    peers: Counter[str] = Counter(r["path"].split("/")[1] for r in finished)
    return {
        "requests": len(finished),
        "by_peer": dict(peers),
        "by_method": dict(Counter(r["method"] for r in finished)),
        "by_step": dict(sorted(per_step.items(), key=lambda kv: -kv[1])),
        "repeated_reads": {k: n for k, n in reads.most_common() if n > 1},
        "alone": _chain(finished),
    }


def trace_release(latency_ms: int = 100, tickets: int = 10) -> dict[str, Any]:
    """Run the release under `latency_ms` on every peer call; the trace and its summary."""
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as tmp:
        root = Path(tmp)
        seed = _template(root, tickets)
        data = root / "enigma"
        shutil.copytree(root / "template", data)
        with SandboxProcess(data, seed, check_delay=0.0) as sandbox:
            if latency_ms:
                sandbox.add_faults([{"kind": "latency", "route": ".*", "latency_ms": latency_ms}])
            elapsed, spans, status = asyncio.run(_release(data, sandbox.urls))
            answer = httpx.get(f"{sandbox.admin}/_sandbox/requests", timeout=30).json()
            effects = sandbox.effects()
    requests = list(answer["requests"])
    steps: dict[str, float] = defaultdict(float)
    for step, _, started, ended in spans:
        steps[step] += ended - started
    return {
        "latency_ms": latency_ms,
        "status": status,
        "wall_seconds": round(elapsed, 3),
        "effects": len(effects),
        "step_seconds": {k: round(v, 3) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])},
        **summarise(requests, spans),
        "trace": requests,
        "spans": spans,
    }


def main() -> None:
    """Print the summary as JSON; `--dump` writes the whole trace too."""
    parser = argparse.ArgumentParser(prog="python -m bench.release_trace")
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--tickets", type=int, default=10)
    parser.add_argument("--dump", type=Path, help="write the trace (every request) here")
    args = parser.parse_args()
    result = trace_release(args.latency_ms, args.tickets)
    if args.dump:
        args.dump.write_text(json.dumps(result, indent=1))
    log(f"release under {args.latency_ms} ms: {result['wall_seconds']} s")
    print(json.dumps({k: v for k, v in result.items() if k not in ("trace", "spans")}, indent=1))


if __name__ == "__main__":
    main()

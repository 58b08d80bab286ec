"""`python -m bench` (`make bench`): every benchmark, one table, `bench/results/latest.json`.

The rows of issue 18 (and row 11, of issue 12). Each is a figure of Enigma's and a baseline
measured beside it in the same run of the bench (a straight-line script on the same clients,
bare LangGraph on the same graph and saver, a bare SSE server, DBOS, one worker, the same dry
run alone), repeated three times: the table shows
the median and the min-max spread, and `met` is computed from them against the row's target.
Progress goes to stderr; stdout carries the table alone. `--quick` shrinks every size (for
trying the harness; its numbers are not the figures), `--only` picks rows by number. The
sizes aim at ten minutes for the whole bench on a quiet two-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.api import start_to_decision, throughput
from bench.ci_wait import dry_run_beside_ci_waits
from bench.cluster import worker_scaling
from bench.common import Row, log, machine, markdown_table, now_iso, print_table, write_results
from bench.engine import engine_overhead, graph_cost
from bench.fanout import fan_out
from bench.held import held_runs
from bench.peer import peer_engine
from bench.recovery import restart_recovery
from bench.release import release_under_latency

Bench = Callable[[Path, bool], Awaitable[Row | list[Row]]]


async def _row1(work: Path, quick: bool) -> list[Row]:
    return await release_under_latency(work, tickets=3 if quick else 10)


async def _row2(work: Path, quick: bool) -> Row:
    return await graph_cost(runs=5 if quick else 30)


async def _row3(work: Path, quick: bool) -> Row:
    return await throughput(work, runs=15 if quick else 40)


async def _row4(work: Path, quick: bool) -> Row:
    return await engine_overhead(runs=4 if quick else 15)


async def _row5(work: Path, quick: bool) -> Row:
    return await start_to_decision(work, samples=5 if quick else 15)


async def _row6(work: Path, quick: bool) -> Row:
    return await fan_out(work, clients=50 if quick else 1000)


async def _row7(work: Path, quick: bool) -> Row:
    return await restart_recovery(work, runs=50 if quick else 1000)


async def _row8(work: Path, quick: bool) -> list[Row]:
    return await held_runs(
        work,
        runs=200 if quick else 2000,
        stored=1000 if quick else 10_000,
        requests=50 if quick else 200,
    )


async def _row9(work: Path, quick: bool) -> Row:
    return await asyncio.to_thread(peer_engine, work, 4 if quick else 15)


async def _row10(work: Path, quick: bool) -> list[Row]:
    return await worker_scaling(work, runs=10 if quick else 30)


async def _row11(work: Path, quick: bool) -> Row:
    return await dry_run_beside_ci_waits(work, waiting=10 if quick else 50)


ROWS: dict[int, Bench] = {
    1: _row1,
    2: _row2,
    3: _row3,
    4: _row4,
    5: _row5,
    6: _row6,
    7: _row7,
    8: _row8,
    9: _row9,
    10: _row10,
    11: _row11,
}


async def run(only: list[int], quick: bool, work: Path) -> list[Row]:
    """Run the chosen benchmarks in order; a failing one becomes a row that says so."""
    rows = []
    for number in only:
        started = time.monotonic()
        log(f"row {number} ...")
        try:
            row: Row | list[Row] = await ROWS[number](work, quick)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            log(f"row {number} failed: {type(exc).__name__}: {exc}")
            row = Row.failed(f"{number} FAILED: {type(exc).__name__}: {str(exc)[:80]}")
        log(f"row {number} done in {time.monotonic() - started:.0f}s")
        rows.extend(row if isinstance(row, list) else [row])
    return rows


def _raise_open_files(wanted: int = 8192) -> None:
    """1,000 SSE subscribers and the server under them need a socket each (and a file each
    for SQLite and logs): raise the soft limit toward the hard one; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main() -> None:
    """Parse the options, run, print the table and write the results."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the harness")
    parser.add_argument("--only", default="", help="comma-separated row numbers (default: all)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results file (default: "
        "bench/results/latest.json; --quick or --only write bench/results/partial.json)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the README table")
    args = parser.parse_args()
    only = [int(x) for x in args.only.split(",") if x.strip()] or sorted(ROWS)
    _raise_open_files()
    where, date = machine(), now_iso()
    with tempfile.TemporaryDirectory(prefix="enigma-bench-") as tmp:
        rows = asyncio.run(run(only, args.quick, Path(tmp)))
    out = args.out
    if out is None and (args.quick or args.only):
        out = Path(__file__).resolve().parent / "results" / "partial.json"
    path = write_results(rows, date, where, out)
    print_table(rows, date, where)
    if args.markdown:
        print("\n" + markdown_table(rows))
    log(f"results written to {path}")
    sys.exit(0 if all(r.value == r.value for r in rows) else 1)  # NaN: a benchmark broke


if __name__ == "__main__":
    main()

"""`python -m bench` (`make bench`): every benchmark, one table, `bench/results/latest.json`.

Each row is a figure of Enigma's and a baseline measured beside it in the same run of the
bench (bare LangGraph on the same graph and saver, a bare SSE server, raw git, DBOS), with the
target from issue 8. Progress goes to stderr; stdout carries the table alone. `--quick`
shrinks every size (for trying the harness; its numbers are not the figures), `--only`
picks rows by number. The whole bench takes about five minutes on a quiet two-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.api import fan_out, held_runs, start_to_decision, throughput
from bench.cluster import worker_scaling
from bench.common import Row, log, machine, now_iso, print_table, write_results
from bench.engine import engine_overhead
from bench.peer import peer_engine
from bench.recovery import restart_recovery
from bench.release import sandbox_release

Bench = Callable[[Path, bool], Awaitable[Row | list[Row]]]


async def _row1(work: Path, quick: bool) -> Row:
    return await engine_overhead(runs=8 if quick else 40)


async def _row2(work: Path, quick: bool) -> Row:
    return await start_to_decision(work, samples=8 if quick else 40)


async def _row3(work: Path, quick: bool) -> Row:
    return await throughput(work, runs=30 if quick else 200)


async def _row4(work: Path, quick: bool) -> Row:
    return await held_runs(work, runs=50 if quick else 1000)


async def _row5(work: Path, quick: bool) -> Row:
    return await fan_out(work, clients=20 if quick else 200, rounds=1 if quick else 3)


async def _row6(work: Path, quick: bool) -> Row:
    return await restart_recovery(work, runs=50 if quick else 1000)


async def _row7(work: Path, quick: bool) -> Row:
    return await sandbox_release(work, tickets=3 if quick else 10)


async def _row8(work: Path, quick: bool) -> Row:
    return await asyncio.to_thread(peer_engine, work, 8 if quick else 40)


async def _row9(work: Path, quick: bool) -> list[Row]:
    return await worker_scaling(work, runs=15 if quick else 60)


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
            row = Row(
                f"row {number} FAILED: {type(exc).__name__}",
                float("nan"),
                "",
                None,
                None,
                "-",
                False,
            )
        log(f"row {number} done in {time.monotonic() - started:.0f}s")
        rows.extend(row if isinstance(row, list) else [row])
    return rows


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
        "bench/results/latest.json; --quick writes bench/results/quick.json)",
    )
    args = parser.parse_args()
    only = [int(x) for x in args.only.split(",") if x.strip()] or sorted(ROWS)
    where, date = machine(), now_iso()
    with tempfile.TemporaryDirectory(prefix="enigma-bench-") as tmp:
        rows = asyncio.run(run(only, args.quick, Path(tmp)))
    out = args.out
    if out is None and (args.quick or args.only):
        out = Path(__file__).resolve().parent / "results" / "partial.json"
    path = write_results(rows, date, where, out)
    print_table(rows, date, where)
    log(f"results written to {path}")
    sys.exit(0 if all(r.value == r.value for r in rows) else 1)  # NaN: a benchmark broke


if __name__ == "__main__":
    main()

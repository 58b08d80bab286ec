"""`python -m bench.memory`: the held-runs baseline in a fresh process of its own.

The bare graph takes `--runs` no-op releases to their first interrupt on a saver opened as
the service opens it, 50 at a time; it prints one JSON line with the growth of this
process's resident memory per run. A process of its own, because memory once taken by
Python is not given back, so no other benchmark can share it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
from pathlib import Path

from bench.common import rss_bytes
from bench.engine import bare_run, open_engine


async def measure(runs: int, data_dir: Path) -> dict[str, float]:
    """RSS growth per run held at its first interrupt."""
    data_dir.mkdir(parents=True, exist_ok=True)
    async with open_engine(data_dir) as engine:
        slots = asyncio.Semaphore(50)

        async def one(name: str) -> None:
            async with slots:
                out = await bare_run(engine, name, auto_approve=False)
                assert "__interrupt__" in out

        await asyncio.gather(*(one(f"warm-{i}") for i in range(20)))
        await asyncio.sleep(0.5)
        gc.collect()
        before = rss_bytes(os.getpid())
        await asyncio.gather(*(one(f"held-{i}") for i in range(runs)))
        await asyncio.sleep(0.5)
        gc.collect()
        after = rss_bytes(os.getpid())
    return {
        "runs": runs,
        "before": before,
        "after": after,
        "bytes_per_run": (after - before) / runs,
    }


def main() -> None:
    """Parse the options, measure, print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.runs, args.data_dir))))


if __name__ == "__main__":
    main()

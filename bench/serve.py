"""`python -m bench.serve`: the servers the API benchmarks talk to, each in its own process.

Default: Enigma's own app (`create_app`, SQLite, the real run manager) on the no-op clients,
with one admin token, `BENCH_TOKEN`. `--bare-sse`: the baseline of the fan-out benchmark, a
bare sse-starlette app that replays an event schedule to every subscriber with one
`json.dumps` per event, the least an SSE fan-out can do.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from bench.common import BENCH_TOKEN
from bench.noop import REPOS, noop_context

__all__ = ["bare_sse_app", "enigma_app"]


def enigma_app(data_dir: Path) -> FastAPI:
    """Enigma's API over SQLite in `data_dir`, with no-op clients."""
    from enigma.api.app import create_app
    from enigma.settings import ApiUser, Settings

    settings = Settings(
        data_dir=data_dir,
        repositories=list(REPOS),
        api_tokens={BENCH_TOKEN: ApiUser(user="bench", roles=["admin"])},
    )
    return create_app(settings, context=noop_context())


def bare_sse_app() -> FastAPI:
    """Subscribers on GET /stream; POST /emit replays `[{"delay": s, "data": {...}}]` to all."""
    app = FastAPI()
    subscribers: set[asyncio.Queue[str]] = set()

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/subscribers")
    async def count() -> dict[str, int]:
        return {"subscribers": len(subscribers)}

    @app.get("/stream")
    async def stream(request: Request) -> EventSourceResponse:
        queue: asyncio.Queue[str] = asyncio.Queue()
        subscribers.add(queue)

        async def events() -> Any:
            try:
                while True:
                    yield ServerSentEvent(data=await queue.get(), event="e")
            finally:
                subscribers.discard(queue)

        return EventSourceResponse(events(), ping=15)

    @app.post("/emit")
    async def emit(schedule: list[dict[str, Any]]) -> dict[str, int]:
        for item in schedule:
            if item.get("delay"):
                await asyncio.sleep(float(item["delay"]))
            body = json.dumps({**item["data"], "at": time.time()})
            for queue in list(subscribers):
                queue.put_nowait(body)
        return {"emitted": len(schedule)}

    return app


def main() -> None:
    """Parse the options and serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bare-sse", action="store_true")
    parser.add_argument("--profile", type=Path, help="write cProfile stats here at exit")
    args = parser.parse_args()
    app = bare_sse_app() if args.bare_sse else enigma_app(args.data_dir)
    profile = cProfile.Profile() if args.profile else None
    if profile is not None:
        # uvicorn re-raises the SIGTERM it caught once it has shut down: exit through finally
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        profile.enable()
    try:
        uvicorn.run(
            app, host="127.0.0.1", port=args.port, log_level="warning", timeout_graceful_shutdown=5
        )
    finally:
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)


if __name__ == "__main__":
    main()

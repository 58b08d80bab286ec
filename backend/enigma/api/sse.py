"""Server-sent event streams of the event log, per run and for all runs.

Each event carries its log id as the SSE id. A client that reconnects with `Last-Event-ID`
(browsers do so by themselves) first gets every event after that id from the store, then the
live tail. The subscription is opened before the backlog is read and events are de-duplicated
by id, so nothing falls in the gap between the two. A subscriber that falls behind is dropped
by the manager with a `None` marker and simply re-reads from the store: the log, not the
in-memory fan-out, is the source of truth.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

from enigma.runs.manager import RunManager
from enigma.runs.models import EventRecord

__all__ = ["event_stream", "parse_last_event_id"]


def parse_last_event_id(header: str | None, query: str | None) -> int:
    """The id to resume after (header wins); 0 for a fresh stream."""
    for raw in (header, query):
        if raw is not None and raw.strip().isdigit():
            return int(raw.strip())
    return 0


def _sse(event: EventRecord) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(event.model_dump(), default=str), event=event.type, id=str(event.id)
    )


async def _events(manager: RunManager, run_id: str | None, after: int) -> AsyncIterator[ServerSentEvent]:
    last = after
    async with manager.subscribe() as queue:
        while True:
            backlog = manager.store.events(run_id, after=last, limit=500)
            for event in backlog:
                last = event.id
                yield _sse(event)
            if len(backlog) < 500:
                break
        while True:
            item = await queue.get()
            if item is None:
                if manager.closing:
                    yield ServerSentEvent(data="{}", event="shutdown")
                    return
                for event in manager.store.events(run_id, after=last, limit=10_000):
                    last = event.id
                    yield _sse(event)
                continue
            if item.id <= last or (run_id is not None and item.run_id != run_id):
                continue
            last = item.id
            yield _sse(item)


def event_stream(manager: RunManager, run_id: str | None, after: int, ping: int = 15) -> Any:
    """An EventSourceResponse with ids, a ping every `ping` seconds and a shutdown event."""
    return EventSourceResponse(
        _events(manager, run_id, after),
        ping=ping,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

"""Server-sent event streams of the event log, per run and for all runs.

Each event carries its log id as the SSE id. A client that reconnects with `Last-Event-ID`
(browsers do so by themselves) first gets every event after that id from the store, then the
live tail. The subscription is opened before the backlog is read and events are de-duplicated
by id, so nothing falls in the gap between the two. A subscriber that falls behind is dropped
by the manager with a `None` marker and simply re-reads from the store: the log, not the
in-memory fan-out, is the source of truth.

Outages: while the run store cannot be read, the stream says so once (`service.degraded`,
no id), keeps the connection, and says `service.recovered` when it can read again; notices
the manager announces (a run waiting for a database, say) are passed on the same way.

Shutdown: sse-starlette notices the server's exit signal and sets `shutdown_event`; the
generator then sends one `shutdown` event and ends, so the server need not wait out its
graceful-shutdown timeout for streams that would otherwise never end. Clients reconnect
with their last id once the service is back.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent

from enigma.runs.hub import Item, Notice
from enigma.runs.manager import RunManager
from enigma.runs.models import EventRecord
from enigma.runs.store import StoreUnavailable

__all__ = ["MAX_EVENT_ID", "event_stream", "parse_last_event_id"]

MAX_EVENT_ID = 2**53  # ids beyond this are not ours; SQLite integers stop at 2**63
_BATCH = 500
_POLL_SECONDS = 0.5  # how often a quiet stream looks for shutdown


def parse_last_event_id(header: str | None, query: int | None) -> int:
    """The id to resume after (the header wins); 0 for a fresh stream.

    A header that is not a number is ignored (a fresh stream), as the SSE spec lets a client
    send whatever id it last saw; one past every id resumes at the live tail.
    """
    if header is not None and header.strip().isdigit():
        return min(int(header.strip()), MAX_EVENT_ID)
    return min(query or 0, MAX_EVENT_ID)


_FRAMES: OrderedDict[tuple[str, int], bytes] = OrderedDict()
_FRAMES_MAX = 4096


def _frame(event: EventRecord) -> bytes:
    """The event as SSE wire bytes, encoded once however many subscribers receive it.

    The manager hands every subscriber the same event; with 200 subscribers on one run,
    encoding per subscriber was the fan-out's largest cost after the socket writes.
    """
    key = (event.run_id, event.id)
    frame = _FRAMES.get(key)
    if frame is None:
        data = json.dumps(event.model_dump(), default=str)
        frame = ServerSentEvent(data=data, event=event.type, id=str(event.id)).encode()
        _FRAMES[key] = frame
        if len(_FRAMES) > _FRAMES_MAX:
            _FRAMES.popitem(last=False)
    return frame


def _notice(notice: Notice) -> bytes:
    """A word about the service: an SSE event without an id (it is not in the log)."""
    data = json.dumps(notice.data, default=str)
    return ServerSentEvent(data=data, event=notice.type).encode()


async def _backlog(
    manager: RunManager, run_id: str | None, after: int, stop: anyio.Event
) -> AsyncIterator[list[EventRecord] | bytes]:
    """Pages of the log after `after`; while the store is down, a `service.degraded` word."""
    degraded = False
    while not stop.is_set():
        try:
            page = await manager.store.events(run_id, after=after, limit=_BATCH)
        except StoreUnavailable as exc:
            if not degraded:
                degraded = True
                yield _notice(Notice("service.degraded", {"cause": exc.cause}))
            await asyncio.sleep(_POLL_SECONDS * 4)
            continue
        if degraded:
            degraded = False
            yield _notice(Notice("service.recovered", {}))
        if page:
            after = page[-1].id
            yield page
        if len(page) < _BATCH:
            return


async def _events(
    manager: RunManager, run_id: str | None, after: int, stop: anyio.Event
) -> AsyncIterator[ServerSentEvent | bytes]:
    # Events waiting in the queue go out together in one write: a run emits its events in
    # bursts, and one write per event per subscriber is what makes a large fan-out slow.
    last = after
    while not stop.is_set() and not manager.closing:
        # (re)subscribe first, then read the log: whatever is appended meanwhile is in both
        # and the id check drops the second copy
        async with manager.subscribe() as queue:
            async for page in _backlog(manager, run_id, last, stop):
                if isinstance(page, bytes):
                    yield page
                    continue
                last = page[-1].id
                yield b"".join(_frame(event) for event in page)
            while not stop.is_set():
                items: list[Item] = []
                if queue.empty():
                    try:  # a timer, not wait_for's task per call: stop is looked at twice a second
                        async with asyncio.timeout(_POLL_SECONDS):
                            items.append(await queue.get())
                    except TimeoutError:
                        continue
                while not queue.empty():
                    items.append(queue.get_nowait())
                frames: list[bytes] = []
                behind = False
                for item in items:
                    if item is None:  # fell behind or closing: the manager dropped this queue
                        behind = True
                        break
                    if isinstance(item, Notice):
                        if run_id is None or item.data.get("run_id") in (None, run_id):
                            frames.append(_notice(item))
                        continue
                    if item.id <= last or (run_id is not None and item.run_id != run_id):
                        continue
                    last = item.id
                    frames.append(_frame(item))
                if frames:
                    yield b"".join(frames)
                if behind:
                    break
    yield ServerSentEvent(data=json.dumps({"last_event_id": last}), event="shutdown")


def event_stream(manager: RunManager, run_id: str | None, after: int, ping: int = 15) -> Any:
    """An EventSourceResponse with ids, a ping every `ping` seconds and a shutdown event."""
    stop = anyio.Event()
    return EventSourceResponse(
        _events(manager, run_id, after, stop),
        ping=ping,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        shutdown_event=stop,
        shutdown_grace_period=2.0,
    )

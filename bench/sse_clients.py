"""Many lean SSE subscribers on raw asyncio sockets, recording each event's delivery latency.

A full HTTP client per subscriber (httpx) spends more CPU parsing 200 streams than the server
spends writing them, and on a two-core machine that would be measured as server latency. These
readers only split lines and parse the `data:` JSON; latency is the receive time minus the
event's own `at` (both `time.time()` on the same machine). Both sides of the fan-out
benchmark use them, so the comparison is fair.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

__all__ = ["FanOut"]


class FanOut:
    """`n` subscribers to one SSE path; each reads until an event of `stop_type`."""

    def __init__(
        self,
        port: int,
        path: str,
        n: int,
        headers: dict[str, str],
        last_event_id: int | None = None,
        stop_type: str = "run.finished",
    ):
        self.port = port
        self.path = path
        self.n = n
        self.headers = dict(headers)
        if last_event_id is not None:
            self.headers["Last-Event-ID"] = str(last_event_id)
        self.stop_type = stop_type
        self.latencies: list[float] = []
        self.counts: list[int] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        """Open every stream and wait until each has its response headers."""
        streams = await asyncio.gather(*(self._open() for _ in range(self.n)))
        self.counts = [0] * self.n
        self._tasks = [
            asyncio.get_running_loop().create_task(self._read(i, reader, writer, rest))
            for i, (reader, writer, rest) in enumerate(streams)
        ]

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Accept: text/event-stream",
            "Cache-Control: no-cache",
        ]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await reader.read(4096)
            if not chunk:
                raise ConnectionError("the server closed the stream before answering")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status:
            raise ConnectionError(f"stream refused: {status.decode(errors='replace')}")
        return reader, writer, head.split(b"\r\n\r\n", 1)[1]

    async def _read(
        self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rest: bytes
    ) -> None:
        buffer = rest
        try:
            while True:
                *lines, buffer = buffer.split(b"\n")
                now = time.time()
                for line in lines:
                    if not line.startswith(b"data:"):
                        continue  # chunk sizes, ids, event names, pings
                    body = json.loads(line[5:].strip())
                    self.latencies.append(now - float(body["at"]))
                    self.counts[index] += 1
                    if body.get("type") == self.stop_type:
                        return
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buffer += chunk
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def wait(self, timeout: float) -> None:
        """Until every subscriber saw the stop event (or the timeout)."""
        done, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()
        if pending:
            raise TimeoutError(f"{len(pending)} of {self.n} subscribers still reading")

    def complete(self, events: int) -> bool:
        """Whether every subscriber received exactly `events` events."""
        return all(c == events for c in self.counts)

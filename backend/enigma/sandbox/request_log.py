"""Every request the peers answered, in order, with its timing: what a release costs in calls.

The effect log says what was done; this log says what was asked, reads included, so a test or
a benchmark can count a release's calls, find the reads it repeats and the chains it makes one
after another. It lives in memory only (a restart starts it afresh) and keeps the latest
`limit` requests. Admin requests (`/_sandbox/...`) are not recorded.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RequestLog"]


@dataclass
class RequestLog:
    """The latest requests: method, path, query, status, start and end (Unix seconds)."""

    limit: int = 100_000
    _entries: deque[dict[str, Any]] = field(init=False)
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._entries = deque(maxlen=self.limit)

    def start(self, method: str, path: str, query: str) -> dict[str, Any]:
        """Record a request as it arrives; `finish` fills in its status and end."""
        with self._lock:
            self._seq += 1
            entry: dict[str, Any] = {
                "seq": self._seq,
                "method": method,
                "path": path,
                "query": query,
                "status": None,
                "start": time.time(),
                "end": None,
            }
            self._entries.append(entry)
        return entry

    @staticmethod
    def finish(entry: dict[str, Any], status: int | None) -> None:
        """The answer went out (status None: the connection was dropped)."""
        entry["status"] = status
        entry["end"] = time.time()

    def entries(self, after: int = 0) -> list[dict[str, Any]]:
        """Requests with `seq` above `after`, oldest first."""
        with self._lock:
            return [dict(e) for e in self._entries if e["seq"] > after]

    def clear(self) -> None:
        """Forget every request recorded so far (sequence numbers go on)."""
        with self._lock:
            self._entries.clear()

"""Fault injection rules: which requests they hit, how often, and what happens to them.

The rules are data (a pydantic model, posted as JSON to `/_sandbox/faults`); the injector
picks, for one request, the latency to add and at most one failing rule, deterministically
for a given seed. Applying the chosen rule to the request is the middleware's job
(`middleware.py`), because dropping a connection needs the ASGI transport.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["FaultInjector", "FaultKind", "FaultRule"]

FaultKind = Literal["latency", "error", "rate_limit", "primary_rate_limit", "drop", "drop_after"]


class FaultRule(BaseModel):
    """One injected fault: which requests it hits, how often, and what happens to them.

    kinds: `latency` (sleep, then answer normally), `error` (answer `status`, default 503,
    without running the handler), `rate_limit` (429 with Retry-After, handler not run),
    `primary_rate_limit` (GitHub's exhausted quota: 403, `X-RateLimit-Remaining: 0` and an
    `X-RateLimit-Reset` `reset_after` seconds ahead, no Retry-After; handler not run),
    `drop` (the connection is reset before the handler runs), `drop_after` (the handler runs
    and its side effects happen, then the connection is reset so the client never sees the
    answer: the case that tests idempotency). Error bodies take the shape of the peer whose
    path was hit.
    """

    kind: FaultKind
    route: str = Field(".*", description="regular expression searched in the request path")
    path_prefix: str = Field("", description="only paths under this prefix (a peer's own)")
    methods: list[str] | None = Field(None, description="HTTP methods hit; None means all")
    probability: float = Field(1.0, ge=0.0, le=1.0)
    count: int | None = Field(None, ge=1, description="hit only the next N matching calls")
    status: int = Field(503, ge=400, le=599)
    retry_after: float = Field(1.0, ge=0.0)
    reset_after: float = Field(3.0, ge=0.0, description="primary_rate_limit: seconds to reset")
    latency_ms: int = Field(0, ge=0, le=60_000)

    def hits(self, method: str, path: str) -> bool:
        """Whether the rule applies to this request (before probability and count)."""
        if self.methods is not None and method.upper() not in {m.upper() for m in self.methods}:
            return False
        if not path.startswith(self.path_prefix):
            return False
        return re.search(self.route, path) is not None


@dataclass
class FaultInjector:
    """The active fault rules; thread-safe, deterministic for a given seed."""

    seed: int | None = None
    rules: list[FaultRule] = field(default_factory=list)
    injected: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def add(self, rules: list[FaultRule]) -> None:
        """Add rules; they apply in the order given."""
        with self._lock:
            self.rules.extend(rules)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self.rules.clear()

    def pick(self, method: str, path: str) -> tuple[int, FaultRule | None]:
        """Total latency to add and the failing rule to apply (if any) for one request."""
        latency = 0
        chosen: FaultRule | None = None
        with self._lock:
            for rule in list(self.rules):
                if not rule.hits(method, path) or self._rng.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self.rules.remove(rule)
                if rule.kind == "latency":
                    latency += rule.latency_ms
                    continue
                chosen = rule
                self.injected += 1
                break
        return latency, chosen

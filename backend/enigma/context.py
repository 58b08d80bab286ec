"""The runtime context: settings and clients every node receives through `Runtime[Context]`.

Nodes never import a client. The run manager, the CLI and the tests build a `Context` with the
clients they want (real services, the sandbox, or no-op clients for benchmarks); `clients` has
no default, so a run without clients fails where it is started, not in its first step.
LangGraph Studio sends only the JSON-able fields; the graph it serves (`studio_graph`) has a
context schema of its own whose clients default to the ones that server process built.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Protocol

from pydantic import ConfigDict, SkipValidation
from pydantic.json_schema import SkipJsonSchema

from enigma.integrations.base import Clients
from enigma.integrations.patience import Patience
from enigma.integrations.scope import current_scope
from enigma.policy import Policy as ReleasePolicy
from enigma.policy import policy_hash

__all__ = ["Clients", "Clock", "Context", "SystemClock"]


class Clock(Protocol):
    """Time, injectable so tests and benchmarks need not wait."""

    def now(self) -> datetime:
        """The current UTC time."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` without holding a thread; ends early (`RunStopped`) if the run stops."""
        ...


class SystemClock:
    """The wall clock; its sleeps end when the run is stopped or paused."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` in the event loop, or until the run's scope is stopped."""
        await current_scope().sleep(seconds)


@dataclass(frozen=True, kw_only=True)
class Context:
    """What a release run is handed besides its state."""

    __pydantic_config__ = ConfigDict(arbitrary_types_allowed=True, use_attribute_docstrings=True)

    project: str = "ENG"
    """Jira project key the fix version belongs to."""
    wiki_space: str = "REL"
    """Confluence space for the release notes."""
    wiki_parent_title: str | None = "Release Notes"
    """Title of the page the notes are published under (None: at the space root)."""
    check_timeout_seconds: float | None = None
    """How long wait_for_checks waits for CI (ENIGMA_CHECK_TIMEOUT_SECONDS; None: the policy's)."""
    check_poll_seconds: float = 1.0
    """How often wait_for_checks looks at the checks."""
    retry_backoff_seconds: float | None = None
    """First pause before an automatic retry (doubles, with jitter); None: the policy's backoff."""
    clients: SkipJsonSchema[Annotated[Clients, SkipValidation]] = field(compare=False)
    """The tracker, code host, wiki and git planner the run talks through."""
    clock: SkipJsonSchema[Annotated[Clock, SkipValidation]] = field(
        default_factory=SystemClock, compare=False
    )
    """Time source."""
    executor: SkipJsonSchema[Annotated[Executor | None, SkipValidation]] = field(
        default=None, compare=False
    )
    """Threads for the blocking client calls (None: the event loop's default executor)."""
    patience: SkipJsonSchema[Annotated[Patience, SkipValidation]] = field(
        default_factory=Patience, compare=False
    )
    """How long an outage of a service is waited out before a human is asked."""
    rules: SkipJsonSchema[Annotated[ReleasePolicy, SkipValidation]] = field(
        default_factory=ReleasePolicy, compare=False
    )
    """The release policy (enigma.toml) the run runs under; the built-in one by default."""
    rules_hash: str = ""
    """The hash of `rules` as loaded (empty: computed from `rules`)."""
    four_eyes: bool = False
    """ENIGMA_FOUR_EYES: the starter may not approve (where the policy does not say)."""

    def policy_hash(self) -> str:
        """The hash of the release policy, recorded with the plan and every approval."""
        return self.rules_hash or _hash_of(self.rules)


_hashes: dict[int, tuple[ReleasePolicy, str]] = {}


def _hash_of(rules: ReleasePolicy) -> str:
    """The policy's hash, computed once per policy object (a run asks many times)."""
    cached = _hashes.get(id(rules))
    if cached is None or cached[0] is not rules:
        if len(_hashes) > 256:
            _hashes.clear()
        cached = (rules, policy_hash(rules))
        _hashes[id(rules)] = cached
    return cached[1]

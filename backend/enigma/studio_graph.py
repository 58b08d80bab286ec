"""What langgraph.json exports: the release graph as LangGraph Studio runs it.

Studio (and any `langgraph dev` or LangGraph server) sends a run only the JSON-able context
fields, and LangGraph turns that dict into the graph's context schema. So the graph served
here is built with `StudioContext`, whose `clients` default to the ones this server process
builds once, on its first run, from `ENIGMA_*` settings: the real services when all are
configured, else the sandbox that `enigma studio` started and named in ENIGMA_SANDBOX_PORT
and ENIGMA_SANDBOX_TOKEN (or one another Enigma process announced on ENIGMA_DATA_DIR).

This is the Studio server's outer layer, so the cache of its clients lives here and not in
the graph layer: a run manager, a CLI or a test always hands its own clients in.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import ConfigDict, SkipValidation, TypeAdapter
from pydantic.json_schema import SkipJsonSchema

from enigma.bootstrap_sandbox import announced_sandbox, sandbox_endpoints
from enigma.context import Clients, Context
from enigma.graph import build_graph
from enigma.integrations.errors import InvalidInput
from enigma.integrations.factory import build_clients
from enigma.settings import Settings

__all__ = ["StudioContext", "graph", "studio_clients"]

_clients: Clients | None = None
_lock = threading.Lock()


def studio_clients() -> Clients:
    """The server's clients, built on first use (InvalidInput when there is nothing to talk to)."""
    global _clients
    with _lock:
        if _clients is None:
            settings = Settings()
            endpoints = settings.endpoints()
            if endpoints is None:
                urls = announced_sandbox(settings)
                if urls is None:
                    raise InvalidInput(
                        "settings",
                        "Jira, GitHub and Confluence are not all configured and no sandbox "
                        "is announced: start Studio with `make dev` (enigma studio)",
                    )
                endpoints = sandbox_endpoints(urls, settings.github_owner)
            _clients = build_clients(settings, endpoints)
        return _clients


def _described_as_context(schema: dict[str, Any]) -> None:
    """Give Studio's context form the field descriptions of `Context`.

    pydantic reads attribute docstrings from a dataclass's own body only, so a subclass's
    schema would lose every description its base wrote.
    """
    described = TypeAdapter(Context).json_schema()["properties"]
    for name, prop in schema.get("properties", {}).items():
        if "description" in described.get(name, {}):
            prop.setdefault("description", described[name]["description"])


@dataclass(frozen=True, kw_only=True)
class StudioContext(Context):
    """A `Context` whose clients need not be sent: Studio cannot send them."""

    __pydantic_config__ = ConfigDict(
        arbitrary_types_allowed=True,
        use_attribute_docstrings=True,
        json_schema_extra=_described_as_context,
    )

    clients: SkipJsonSchema[Annotated[Clients, SkipValidation]] = field(
        default_factory=studio_clients, compare=False
    )
    """The server's clients, from ENIGMA_* settings (see `studio_clients`)."""


graph = build_graph(context_schema=StudioContext)

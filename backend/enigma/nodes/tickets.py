"""fetch_tickets: the fix version's tickets from the tracker."""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.integrations.errors import IntegrationError
from enigma.nodes.common import deps, error_record, io, say
from enigma.state import WorkflowState

__all__ = ["fetch_tickets"]


async def fetch_tickets(state: WorkflowState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Read every ticket of the fix version (and sprint); reads only, so safe to re-run."""
    context, clients = deps(runtime)
    version = state["fix_version"]
    workflow_id = state.get("workflow_id") or _thread_id(runtime)
    try:
        tickets = await io(
            context,
            clients.tracker.search_tickets,
            context.project,
            version,
            state.get("sprint_name"),
        )
    except IntegrationError as exc:
        return {
            "workflow_id": workflow_id,
            "current_step": "fetch_tickets",
            "error": error_record(
                "fetch_tickets", exc, None, state.get("retry_count", 0), ["retry", "abort"]
            ),
            "error_step": "fetch_tickets",
            "steps_failed": ["fetch_tickets"],
        }
    tickets.sort(key=lambda t: _key_order(t["key"]))
    text = f"Found {len(tickets)} tickets in {context.project} {version}"
    if state.get("sprint_name"):
        text += f" (sprint {state['sprint_name']})"
    return {
        "workflow_id": workflow_id,
        "current_step": "fetch_tickets",
        "jira_tickets": tickets,
        "error": None,
        "retry_count": 0,
        "steps_completed": ["fetch_tickets"],
        "messages": [say("fetch_tickets", text + ": " + ", ".join(t["key"] for t in tickets))],
    }


def _thread_id(runtime: Runtime[Context]) -> str:
    """The LangGraph thread's id: Studio starts runs without a workflow_id (the API passes one)."""
    info = runtime.execution_info
    return (info.thread_id if info is not None else None) or uuid.uuid4().hex


def _key_order(key: str) -> tuple[str, int]:
    project, _, number = key.partition("-")
    return project, int(number) if number.isdigit() else 0

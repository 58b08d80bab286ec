"""fetch_tickets: the fix version and its tickets from the tracker, checked before anything acts.

A release of a version the tracker does not have, or has archived, or that has no tickets,
is refused here, before any side effect, with the reason. Tickets the search returns without
the version among their fix versions (a tracker that ignores the clause) are left out and
reported rather than trusted.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.integrations.errors import IntegrationError
from enigma.nodes.common import count, deps, error_record, io, say
from enigma.nodes.fanout import settle_pair
from enigma.state import WorkflowState
from enigma.updates import TicketsUpdate

__all__ = ["fetch_tickets", "refusal"]


def refusal(step: str, reason: str) -> TicketsUpdate:
    """The update that ends a run before it acts: outcome `refused`, and why."""
    return TicketsUpdate(
        current_step=step,
        outcome="refused",
        outcome_reason=reason,
        outcome_detail={"reason": reason},
        error=None,
        notes=[say(step, f"Refused: {reason}")],
    )


async def fetch_tickets(state: WorkflowState, runtime: Runtime[Context]) -> TicketsUpdate:
    """Check the version and read its tickets (and sprint's); reads only, safe to re-run."""
    context, clients = deps(runtime)
    name = context.rules.tracker.version_name_for(state["fix_version"])
    project = context.project
    try:
        # the search does not wait for the version check (two round trips become one); its
        # answer, or its error, counts only once the version is known to be releasable
        version, found = await settle_pair(
            io(context, clients.tracker.version, project, name),
            io(context, clients.tracker.search_tickets, project, name, state.get("sprint_name")),
        )
        if isinstance(version, IntegrationError):
            raise version
        if version is None:
            reason = f"fix version {name} does not exist in {project}"
            return refusal("fetch_tickets", reason)
        if version["archived"]:
            reason = f"fix version {name} is archived in {project}"
            return refusal("fetch_tickets", reason)
        if isinstance(found, IntegrationError):
            raise found
    except IntegrationError as exc:
        return TicketsUpdate(
            current_step="fetch_tickets",
            error=error_record(
                "fetch_tickets", exc, None, state.get("retry_count", 0), ["retry", "abort"]
            ),
            error_step="fetch_tickets",
        )
    tickets = sorted(
        (t for t in found if name in t["fix_versions"]), key=lambda t: _key_order(t["key"])
    )
    stray = [
        {
            "key": t["key"],
            "reason": f"its fix versions ({', '.join(t['fix_versions'])}) lack {name}",
        }
        for t in found
        if name not in t["fix_versions"]
    ]
    sprint = f" in sprint {state['sprint_name']}" if state.get("sprint_name") else ""
    if not tickets:
        reason = f"fix version {name} has no tickets{sprint} in {project}"
        return refusal("fetch_tickets", reason) | {"excluded_tickets": stray}
    text = f"Found {count(len(tickets), 'ticket')} in {project} {name}{sprint}"
    if version["released"]:
        text += f" (the version is already released in {project}: reconciling)"
    return TicketsUpdate(
        current_step="fetch_tickets",
        jira_tickets=tickets,
        excluded_tickets=stray,
        error=None,
        retry_count=0,
        notes=[say("fetch_tickets", text + ": " + ", ".join(t["key"] for t in tickets))],
    )


def _key_order(key: str) -> tuple[str, int]:
    project, _, number = key.partition("-")
    return project, int(number) if number.isdigit() else 0

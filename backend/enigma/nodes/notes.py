"""publish_release_notes: notes grouped by issue type, each ticket linked to its PR and merge."""

from __future__ import annotations

from html import escape
from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.integrations.errors import IntegrationError
from enigma.nodes.common import deps, error_record, io, say
from enigma.state import WorkflowState

__all__ = ["notes_title", "publish_release_notes", "render_notes", "shipped_tickets"]

_TYPE_ORDER = {"Story": 0, "Bug": 1, "Task": 2}


def notes_title(project: str, version: str) -> str:
    """The notes page title; one page per version, updated by later runs."""
    return f"{project} {version} release notes"


def shipped_tickets(state: WorkflowState) -> dict[str, list[dict[str, Any]]]:
    """Ticket key → the merges that carried it (repo, branch, sha, PR) in ready repositories."""
    outcomes = state.get("repo_outcomes", {})
    shipped: dict[str, list[dict[str, Any]]] = {}
    for repo, merges in state.get("merge_status", {}).items():
        if outcomes.get(repo) != "ready":
            continue
        pr = state.get("pull_requests", {}).get(repo)
        for record in merges.values():
            if record["ticket"] and record["outcome"] in ("merged", "already"):
                shipped.setdefault(record["ticket"], []).append(
                    {
                        "repo": repo,
                        "branch": record["branch"],
                        "sha": record["sha"],
                        "pr": pr["html_url"] if pr else None,
                        "pr_number": pr["number"] if pr else None,
                    }
                )
    return shipped


def render_notes(state: WorkflowState) -> str:
    """Confluence storage-format (XHTML) body of the notes."""
    shipped = shipped_tickets(state)
    tickets = [t for t in state.get("jira_tickets", []) if t["key"] in shipped]
    groups: dict[str, list[str]] = {}
    for ticket in sorted(tickets, key=lambda t: (_TYPE_ORDER.get(t["type"], 9), t["key"])):
        links = ", ".join(
            f'<a href="{escape(m["pr"] or "")}">{escape(m["repo"])}#{m["pr_number"]}</a>'
            f" (merge <code>{escape((m['sha'] or '')[:10])}</code>)"
            for m in shipped[ticket["key"]]
        )
        groups.setdefault(ticket["type"], []).append(
            f'<li><a href="{escape(ticket["url"])}">{escape(ticket["key"])}</a> '
            f"{escape(ticket['summary'])} — {links}</li>"
        )
    # nothing run-specific in the body: the same release published twice is the same page
    parts = [f"<p>Release {escape(state['fix_version'])} ({escape(state['release_type'])}).</p>"]
    for kind, items in groups.items():
        parts.append(f"<h2>{escape(kind)}s</h2><ul>{''.join(items)}</ul>")
    if state.get("skipped"):
        left_out = "".join(
            f"<li>{escape(s['repo'])}{(' ' + escape(s['branch'])) if s['branch'] else ''}: "
            f"{escape(s['reason'])}</li>"
            for s in state["skipped"]
        )
        parts.append(f"<h2>Left out</h2><ul>{left_out}</ul>")
    return "".join(parts)


async def publish_release_notes(state: WorkflowState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Create or update the version's notes page (no update when nothing changed)."""
    context, clients = deps(runtime)
    title = notes_title(context.project, state["fix_version"])
    body = render_notes(state)
    try:
        page = await io(
            context,
            clients.wiki.ensure_page,
            context.wiki_space,
            title,
            body,
            context.wiki_parent_title,
        )
    except IntegrationError as exc:
        return {
            "current_step": "publish_release_notes",
            "error": error_record(
                "publish_release_notes",
                exc,
                None,
                state.get("retry_count", 0),
                ["retry", "skip", "abort"],
            ),
            "error_step": "publish_release_notes",
            "steps_failed": ["publish_release_notes"],
        }
    notes: dict[str, Any] = {**page, "body": body, "tickets": sorted(shipped_tickets(state))}
    return {
        "current_step": "publish_release_notes",
        "release_notes": notes,
        "approval_required": "release_approval",
        "error": None,
        "retry_count": 0,
        "steps_completed": ["publish_release_notes"],
        "messages": [say("publish_release_notes", f"Release notes published: {page['url']}")],
    }

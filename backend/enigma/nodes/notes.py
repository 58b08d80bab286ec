"""publish_release_notes: notes in the policy's sections, each ticket linked to its PR and merge.

The page depends only on the release (its tickets, merges, pull requests and what was left out
and why), never on the run or on who decided: every run of one release writes the same page,
and the wiki keeps one version of it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.integrations.errors import IntegrationError
from enigma.nodes.common import deps, error_record, io, say
from enigma.policy import NotesSettings
from enigma.state import WorkflowState
from enigma.updates import NotesUpdate

__all__ = ["publish_release_notes", "render_notes", "shipped_tickets"]


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


def render_notes(state: WorkflowState, notes: NotesSettings) -> str:
    """Confluence storage-format (XHTML) body of the notes, in the policy's sections."""
    shipped = shipped_tickets(state)
    tickets = [t for t in state.get("jira_tickets", []) if t["key"] in shipped]
    placed = sorted(((notes.section_of(t["type"] or "Other"), t) for t in tickets), key=_order)
    groups: dict[str, list[str]] = {}
    for (_, heading), ticket in placed:
        links = ", ".join(
            f'<a href="{escape(m["pr"] or "")}">{escape(m["repo"])}#{m["pr_number"]}</a>'
            f" (merge <code>{escape((m['sha'] or '')[:10])}</code>)"
            for m in shipped[ticket["key"]]
        )
        summary = escape(ticket["summary"].strip()) or "<em>(no summary)</em>"
        groups.setdefault(heading, []).append(
            f'<li><a href="{escape(ticket["url"])}">{escape(ticket["key"])}</a> '
            f"{summary} — {links}</li>"
        )
    parts = [f"<p>Release {escape(state['fix_version'])} ({escape(state['release_type'])}).</p>"]
    for heading, items in groups.items():
        parts.append(f"<h2>{escape(heading)}</h2><ul>{''.join(items)}</ul>")
    if state.get("skipped"):
        left_out = "".join(
            f"<li>{escape(s['repo'])}{(' ' + escape(s['branch'])) if s['branch'] else ''}: "
            f"{escape(s['reason'])}</li>"
            for s in sorted(state["skipped"], key=lambda s: (s["repo"], s["branch"] or ""))
        )
        parts.append(f"<h2>Left out</h2><ul>{left_out}</ul>")
    return "".join(parts)


def _order(item: tuple[tuple[int, str], Any]) -> tuple[int, str]:
    (position, _), ticket = item
    project, _, number = str(ticket["key"]).partition("-")
    return position, f"{project}-{int(number) if number.isdigit() else 0:09d}"


async def publish_release_notes(state: WorkflowState, runtime: Runtime[Context]) -> NotesUpdate:
    """Create or update the version's notes page (no update when nothing changed)."""
    context, clients = deps(runtime)
    title = context.rules.notes.title_for(context.project, state["fix_version"])
    body = render_notes(state, context.rules.notes)
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
        return NotesUpdate(
            current_step="publish_release_notes",
            error=error_record(
                "publish_release_notes",
                exc,
                None,
                state.get("retry_count", 0),
                ["retry", "skip", "abort"],
                operation=f"publish the notes page {title!r}",
            ),
            error_step="publish_release_notes",
        )
    notes: dict[str, Any] = {**page, "body": body, "tickets": sorted(shipped_tickets(state))}
    return NotesUpdate(
        current_step="publish_release_notes",
        release_notes=notes,
        error=None,
        retry_count=0,
        notes=[say("publish_release_notes", f"Release notes published: {page['url']}")],
    )

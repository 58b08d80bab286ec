"""collect_repositories, finalize and close_run: how a release ends."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.integrations.errors import IntegrationError
from enigma.nodes.common import deps, error_record, io, now_iso, say
from enigma.nodes.notes import shipped_tickets
from enigma.state import WorkflowState

__all__ = ["close_run", "collect_repositories", "finalize", "ticket_marker"]

DONE_STATUS = "Done"


def ticket_marker(run_id: str) -> str:
    """Marker that makes the release comment on a ticket idempotent per run."""
    return f"[enigma-release {run_id}]"


async def collect_repositories(state: WorkflowState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Wait for every repository's leg; summarise what each ended with."""
    outcomes = state.get("repo_outcomes", {})
    text = ", ".join(f"{repo}: {outcomes.get(repo, 'unknown')}" for repo in sorted(outcomes))
    update: dict[str, Any] = {
        "current_step": "collect_repositories",
        "steps_completed": ["collect_repositories"],
        "messages": [say("collect_repositories", f"Repositories done ({text})")],
    }
    aborted = [r for r, o in outcomes.items() if o == "aborted"]
    if aborted:
        update["outcome_reason"] = f"aborted in {', '.join(sorted(aborted))}"
    return update


async def finalize(state: WorkflowState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Merge the release PRs, tag releases, transition and comment tickets, release the version.

    Each write looks before it acts, so after a crash this node simply runs again.
    """
    context, clients = deps(runtime)
    version = state["fix_version"]
    run_id = state["workflow_id"]
    done: dict[str, Any] = {"pull_requests_merged": {}, "releases": {}, "tickets": []}
    try:
        for repo, outcome in sorted(state.get("repo_outcomes", {}).items()):
            if outcome != "ready":
                continue
            pr = state["pull_requests"][repo]
            sha = await io(
                context,
                clients.code_host.ensure_pull_request_merged,
                repo,
                pr["number"],
                f"Release {version} [enigma {run_id}]",
            )
            done["pull_requests_merged"][repo] = sha
            done["releases"][repo] = await io(
                context,
                clients.code_host.ensure_release,
                repo,
                f"v{version}",
                pr["base"],
                f"{version}",
                state.get("release_notes", {}).get("url", ""),
            )
        for key, merges in sorted(shipped_tickets(state).items()):
            await io(context, clients.tracker.ensure_status, key, DONE_STATUS)
            links = ", ".join(f"{m['pr']} (merge {(m['sha'] or '')[:10]})" for m in merges)
            await io(
                context,
                clients.tracker.ensure_comment,
                key,
                ticket_marker(run_id),
                f"Released in {version}: {links} {ticket_marker(run_id)}",
            )
            for merge in merges:
                if merge["pr"]:
                    await io(
                        context,
                        clients.tracker.ensure_remote_link,
                        key,
                        merge["pr"],
                        f"{merge['repo']} release PR",
                    )
            done["tickets"].append(key)
        await io(
            context,
            clients.tracker.ensure_version_released,
            context.project,
            version,
            now_iso(context)[:10],
        )
    except IntegrationError as exc:
        return {
            "current_step": "finalize",
            "error": error_record(
                "finalize", exc, None, state.get("retry_count", 0), ["retry", "abort"]
            ),
            "error_step": "finalize",
            "steps_failed": ["finalize"],
        }
    return {
        "current_step": "finalize",
        "finalized": done,
        "outcome": "succeeded",
        "workflow_complete": True,
        "error": None,
        "steps_completed": ["finalize"],
        "messages": [
            say(
                "finalize",
                f"Released {version}: {len(done['releases'])} repositories, "
                f"{len(done['tickets'])} tickets done, version released",
            )
        ],
    }


async def close_run(state: WorkflowState, runtime: Runtime[Context]) -> dict[str, Any]:
    """End a run that will not release: dry run, rejection or abort."""
    if state.get("dry_run") and state.get("plan"):
        outcome, reason = "planned", "dry run: plan only"
    elif (
        state.get("error_decision") == "abort"
        or "aborted" in state.get("repo_outcomes", {}).values()
    ):
        outcome, reason = "failed", state.get("outcome_reason") or "aborted"
    elif state.get("plan") and not any(p["has_changes"] for p in state["plan"]["repositories"]):
        outcome, reason = "cancelled", "nothing to release: no repository has changes"
    else:
        outcome, reason = "cancelled", state.get("outcome_reason") or "cancelled"
    return {
        "current_step": "close_run",
        "outcome": outcome,
        "outcome_reason": reason,
        "workflow_complete": True,
        "steps_completed": ["close_run"],
        "messages": [say("close_run", f"Run ended {outcome}: {reason}")],
    }

"""The per-repository leg: release branch, merges, pull request, checks.

These nodes run inside the `release_repository` subgraph, one instance per repository (reached
with `Send`), so a conflict or a crash in one repository re-runs nothing in the others. Every
write is check-then-act through the CodeHost's idempotent operations.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.integrations.errors import IntegrationError, MergeConflict
from enigma.nodes.common import (
    ask_human,
    deps,
    error_record,
    human_message,
    io,
    policy_decision,
    record_decision,
    say,
)
from enigma.state import MergeRecord, RepoState, SkipRecord

__all__ = [
    "create_release_branch",
    "decide_conflict",
    "merge_feature_branches",
    "open_pull_request",
    "wait_for_checks",
]

_FINAL = ("merged", "already", "skipped")
_GREEN = ("success", "neutral", "skipped")
_CHOICES = ["retry", "skip", "abort"]


def _failed(
    state: RepoState, step: str, exc: Exception, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    repo = state["repo"]
    return {
        **(extra or {}),
        "error": error_record(step, exc, repo, state.get("retry_count", 0), _CHOICES),
        "error_step": step,
        "steps_failed": [f"{step}:{repo}"],
    }


async def create_release_branch(state: RepoState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Create the release branch at the planned base unless it already exists."""
    context, clients = deps(runtime)
    plan, repo = state["repo_plan"], state["repo"]
    try:
        created = await io(
            context, clients.code_host.ensure_branch, repo, plan["release_branch"], plan["base_sha"]
        )
    except IntegrationError as exc:
        return _failed(state, "create_release_branch", exc)
    verb = "Created" if created else "Found existing"
    return {
        "release_branches": {
            repo: {
                "name": plan["release_branch"],
                "base_ref": plan["base_ref"],
                "base_sha": plan["base_sha"],
                "created": created,
            }
        },
        "error": None,
        "retry_count": 0,
        "steps_completed": [f"create_release_branch:{repo}"],
        "messages": [
            say(
                "create_release_branch",
                f"{repo}: {verb} {plan['release_branch']} from {plan['base_ref']}",
            )
        ],
    }


async def merge_feature_branches(state: RepoState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Merge the planned branches in order; stop at a conflict and let it be decided."""
    context, clients = deps(runtime)
    plan, repo = state["repo_plan"], state["repo"]
    done: dict[str, MergeRecord] = dict(state.get("merge_status", {}).get(repo, {}))
    for branch in plan["branches"]:
        name = branch["branch"]
        if name in done and done[name]["outcome"] in _FINAL:
            continue
        message = (
            f"Merge {name} into {plan['release_branch']}"
            f" ({branch['ticket'] or 'no ticket'}) [enigma {state['workflow_id']}]"
        )
        try:
            result = await io(
                context, clients.code_host.merge, repo, plan["release_branch"], name, message
            )
        except MergeConflict as exc:
            record = MergeRecord(
                branch=name,
                ticket=branch["ticket"],
                outcome="conflict",
                sha=None,
                files=exc.files or branch["files"],
            )
            done[name] = record
            return {
                "merge_status": {repo: done},
                "pending_conflict": record,
                "messages": [say("merge_feature_branches", f"{repo}: {name} conflicts")],
            }
        except IntegrationError as exc:
            return _failed(state, "merge_feature_branches", exc, {"merge_status": {repo: done}})
        done[name] = MergeRecord(
            branch=name,
            ticket=branch["ticket"],
            outcome=result["outcome"],
            sha=result["sha"],
            files=branch["files"],
        )
    merged = sum(1 for r in done.values() if r["outcome"] in ("merged", "already"))
    return {
        "merge_status": {repo: done},
        "pending_conflict": None,
        "error": None,
        "retry_count": 0,
        "steps_completed": [f"merge_feature_branches:{repo}"],
        "messages": [
            say("merge_feature_branches", f"{repo}: {merged} of {len(done)} branches merged")
        ],
    }


async def decide_conflict(state: RepoState, runtime: Runtime[Context]) -> dict[str, Any]:
    """A conflict is an outcome: skip that branch, or abort the release (policy or human)."""
    context, _ = deps(runtime)
    conflict = state["pending_conflict"]
    assert conflict is not None
    repo = state["repo"]
    rule = state.get("policy", {}).get("on_conflict", "ask")
    if rule == "ask":
        decision = ask_human(
            "conflict",
            {
                "repo": repo,
                "branch": conflict["branch"],
                "ticket": conflict["ticket"],
                "files": conflict["files"],
            },
            ["skip", "abort"],
        )
    else:
        decision = policy_decision(rule, f"policy on_conflict={rule}")
    record = record_decision(context, "conflict", decision)
    update: dict[str, Any] = {
        "approvals": [record],
        "messages": [human_message(record)],
        "pending_conflict": None,
        "conflict_decision": decision["action"],
    }
    if decision["action"] == "abort":
        update["repo_outcomes"] = {repo: "aborted"}
        return update
    done = dict(state.get("merge_status", {}).get(repo, {}))
    done[conflict["branch"]] = MergeRecord(**{**conflict, "outcome": "skipped"})
    update["merge_status"] = {repo: done}
    update["skipped"] = [
        SkipRecord(
            repo=repo,
            branch=conflict["branch"],
            reason=f"merge conflict in {', '.join(conflict['files']) or 'files'}; "
            f"skipped by {record['actor']}",
        )
    ]
    return update


async def open_pull_request(state: RepoState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Open the release pull request (or find the one already open)."""
    context, clients = deps(runtime)
    plan, repo = state["repo_plan"], state["repo"]
    merged = [
        r
        for r in state.get("merge_status", {}).get(repo, {}).values()
        if r["outcome"] in ("merged", "already")
    ]
    lines = [f"Release {state['fix_version']} of {repo}, opened by Enigma.", "", "Includes:"]
    lines += [f"- {r['ticket'] or r['branch']}: `{r['branch']}`" for r in merged] or ["- nothing"]
    try:
        pr = await io(
            context,
            clients.code_host.get_or_create_pull_request,
            repo,
            plan["release_branch"],
            plan["target_branch"],
            f"Release {state['fix_version']}",
            "\n".join(lines),
        )
    except IntegrationError as exc:
        return _failed(state, "open_pull_request", exc)
    return {
        "pull_requests": {repo: pr},
        "error": None,
        "retry_count": 0,
        "steps_completed": [f"open_pull_request:{repo}"],
        "messages": [
            say("open_pull_request", f"{repo}: pull request #{pr['number']} {pr['html_url']}")
        ],
    }


class ChecksFailed(Exception):
    """CI on the release pull request did not pass."""


class ChecksTimedOut(Exception):
    """CI on the release pull request did not finish in time."""


async def wait_for_checks(state: RepoState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Wait for the pull request's checks; a failure or a timeout is an error decision."""
    context, clients = deps(runtime)
    repo = state["repo"]
    number = state["pull_requests"][repo]["number"]
    deadline = context.clock.now().timestamp() + context.check_timeout_seconds
    try:
        while True:
            head = (await io(context, clients.code_host.pull_request, repo, number))["head_sha"]
            runs = await io(context, clients.code_host.check_runs, repo, head)
            if runs and all(r["status"] == "completed" for r in runs):
                break
            if context.clock.now().timestamp() > deadline:
                raise ChecksTimedOut(
                    f"checks on {repo}#{number} not finished after "
                    f"{context.check_timeout_seconds:.0f}s"
                )
            await context.clock.sleep(context.check_poll_seconds)
    except (IntegrationError, ChecksTimedOut) as exc:
        return _failed(state, "wait_for_checks", exc)
    failed = [r for r in runs if r["conclusion"] not in _GREEN]
    if failed:
        names = ", ".join(f"{r['name']}={r['conclusion']}" for r in failed)
        failure = ChecksFailed(f"checks failed on {repo}#{number} ({head[:8]}): {names}")
        return _failed(state, "wait_for_checks", failure, {"checks": {repo: runs}})
    return {
        "checks": {repo: runs},
        "repo_outcomes": {repo: "ready"},
        "error": None,
        "retry_count": 0,
        "steps_completed": [f"wait_for_checks:{repo}"],
        "messages": [say("wait_for_checks", f"{repo}: {len(runs)} checks passed on {head[:8]}")],
    }

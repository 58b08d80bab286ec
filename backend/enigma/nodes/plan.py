"""plan_release: the dry run the release manager approves.

Per repository: the release branch and where it starts, the ticket branches to merge in order
with each merge predicted by git on a local mirror (`git merge-tree`, no side effect on the
code host), the branches that name no ticket, and the tickets that have no branch anywhere.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Clients, Context
from enigma.integrations.base import Ticket
from enigma.integrations.errors import IntegrationError
from enigma.nodes.common import deps, error_record, io, say
from enigma.state import BranchPlan, Plan, RepoPlan, WorkflowState, plan_hash

__all__ = ["WORK_BRANCH_PREFIXES", "plan_release", "release_branch_name", "ticket_of_branch"]

WORK_BRANCH_PREFIXES = ("feature/", "bugfix/", "fix/", "task/", "story/", "chore/")
_KEY = re.compile(r"(?:^|/)([A-Z][A-Z0-9]{1,9}-\d{1,7})(?=$|[-_/])")


def ticket_of_branch(branch: str) -> str | None:
    """The ticket key a branch is named after (`feature/ENG-101-refunds` → ENG-101)."""
    match = _KEY.search(branch)
    return match.group(1) if match else None


def release_branch_name(release_type: str, version: str) -> str:
    """`release/2.4.0` for major / minor / release, `hotfix/2.3.1` for patch / hotfix."""
    return f"hotfix/{version}" if release_type in ("patch", "hotfix") else f"release/{version}"


async def plan_release(state: WorkflowState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Work out what the release would do; reads only, so it is safe to re-run.

    The repositories are planned side by side, each on an I/O thread (fetching a mirror and
    predicting merges with git are blocking work).
    """
    context, clients = deps(runtime)
    excluded = _excluded(state)
    tickets = [t for t in state.get("jira_tickets", []) if t["key"] not in excluded["tickets"]]
    repos = [r for r in state["repositories"] if r not in excluded["repositories"]]
    try:
        repo_plans = list(
            await asyncio.gather(
                *(
                    io(context, _plan_repository, clients, state, repo, tickets, excluded)
                    for repo in repos
                )
            )
        )
    except IntegrationError as exc:
        record = error_record(
            "plan_release", exc, None, state.get("retry_count", 0), ["retry", "abort"]
        )
        return {
            "current_step": "plan_release",
            "error": record,
            "error_step": "plan_release",
            "steps_failed": ["plan_release"],
        }
    plan = _assemble(state, repo_plans, tickets, excluded)
    return {
        "current_step": "plan_release",
        "plan": plan,
        "feature_branches": {p["repo"]: [b["branch"] for b in p["branches"]] for p in repo_plans},
        "error": None,
        "retry_count": 0,
        "approval_required": None if state.get("dry_run") else "plan_approval",
        "steps_completed": ["plan_release"],
        "messages": [say("plan_release", _summary(plan))],
    }


def _excluded(state: WorkflowState) -> dict[str, list[str]]:
    raw = state.get("excluded") or {}
    return {k: list(raw.get(k, [])) for k in ("tickets", "branches", "repositories")}


def _plan_repository(
    clients: Clients,
    state: WorkflowState,
    repo: str,
    tickets: list[Ticket],
    excluded: dict[str, list[str]],
) -> RepoPlan:
    info = clients.code_host.repository(repo)
    mirror = clients.planner.sync(info, clients.code_host.git_auth_header())
    heads = clients.planner.branches(mirror)
    version = state["fix_version"]
    release_type = state["release_type"]
    if release_type in ("patch", "hotfix"):
        base_ref = clients.planner.last_release_tag(mirror) or info["default_branch"]
    else:
        base_ref = "develop" if "develop" in heads else info["default_branch"]
    base_sha = clients.planner.resolve(mirror, base_ref)
    keys = {t["key"] for t in tickets}
    work = sorted(b for b in heads if b.startswith(WORK_BRANCH_PREFIXES))
    chosen = [
        b for b in work if ticket_of_branch(b) in keys and f"{repo}:{b}" not in excluded["branches"]
    ]
    chosen.sort(key=lambda b: (ticket_of_branch(b) or "", b))
    predictions = clients.planner.predict_merges(mirror, base_sha, chosen)
    branches = [
        BranchPlan(
            branch=p["branch"],
            ticket=ticket_of_branch(p["branch"]),
            sha=p["sha"],
            predicted=p["outcome"],
            files=p["files"],
            conflicts_with=p["conflicts_with"],
        )
        for p in predictions
    ]
    target_sha = clients.planner.resolve(mirror, info["default_branch"])
    return RepoPlan(
        repo=repo,
        release_branch=release_branch_name(release_type, version),
        base_ref=base_ref,
        base_sha=base_sha,
        target_branch=info["default_branch"],
        branches=branches,
        branches_without_ticket=[b for b in work if ticket_of_branch(b) is None],
        # nothing to merge and the base is the target: a pull request would be empty
        has_changes=bool(branches) or base_sha != target_sha,
    )


def _assemble(
    state: WorkflowState,
    repo_plans: list[RepoPlan],
    tickets: list[Ticket],
    excluded: dict[str, list[str]],
) -> Plan:
    with_branch = {b["ticket"] for p in repo_plans for b in p["branches"]}
    plan = Plan(
        fix_version=state["fix_version"],
        release_type=state["release_type"],
        repositories=repo_plans,
        tickets=[t["key"] for t in tickets],
        tickets_without_branch=[t["key"] for t in tickets if t["key"] not in with_branch],
        branches_without_ticket=[
            f"{p['repo']}:{b}" for p in repo_plans for b in p["branches_without_ticket"]
        ],
        repositories_without_changes=[p["repo"] for p in repo_plans if not p["has_changes"]],
        predicted_conflicts=[
            {
                "repo": p["repo"],
                "branch": b["branch"],
                "files": b["files"],
                "conflicts_with": b["conflicts_with"],
            }
            for p in repo_plans
            for b in p["branches"]
            if b["predicted"] == "conflict"
        ],
        excluded=excluded,
        hash="",
    )
    plan["hash"] = plan_hash(dict(plan))
    return plan


def _summary(plan: Plan) -> str:
    merges = sum(len(p["branches"]) for p in plan["repositories"])
    parts = [
        f"Plan {plan['hash']}: {merges} branches to merge into "
        f"{len(plan['repositories'])} release branches",
        f"{len(plan['predicted_conflicts'])} predicted conflicts",
    ]
    if plan["tickets_without_branch"]:
        parts.append("tickets without branch: " + ", ".join(plan["tickets_without_branch"]))
    if plan["repositories_without_changes"]:
        parts.append("nothing to release in: " + ", ".join(plan["repositories_without_changes"]))
    if plan["branches_without_ticket"]:
        parts.append("branches without ticket: " + ", ".join(plan["branches_without_ticket"]))
    return "; ".join(parts)

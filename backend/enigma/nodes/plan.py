"""plan_release: the dry run the release manager approves, under the release policy.

Per repository, by the policy's rules for it: the release branch and where it starts (for a
hotfix, the latest tag of the line it fixes), the ticket branches to merge in order with each
merge predicted by git on a local mirror (`git merge-tree`, no side effect on the code host),
the branches that name no ticket, and what of this release already exists (tag, release,
merged pull request) — so an already released version says so, and re-running it adds
nothing. Across repositories: tickets without a branch, tickets left out and flagged, the
waves the repositories release in (`after`), and the policy's hash.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Clients, Context
from enigma.integrations.base import Ticket
from enigma.integrations.errors import IntegrationError, InvalidInput
from enigma.nodes.common import count, deps, error_record, io, say
from enigma.policy import (
    MissingBaseBranch,
    RepoRules,
    is_ticket_branch,
    release_base,
    release_branch_name,
    target_branch,
    ticket_of_branch,
    waves,
)
from enigma.state import BranchPlan, Plan, RepoPlan, WorkflowState, plan_hash
from enigma.updates import PlanUpdate

__all__ = ["plan_release"]


async def plan_release(state: WorkflowState, runtime: Runtime[Context]) -> PlanUpdate:
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
                    io(
                        context,
                        _plan_repository,
                        clients,
                        context.rules.for_repository(repo),
                        state,
                        tickets,
                        excluded,
                    )
                    for repo in repos
                )
            )
        )
    except IntegrationError as exc:
        record = error_record(
            "plan_release", exc, None, state.get("retry_count", 0), ["retry", "abort"]
        )
        return PlanUpdate(current_step="plan_release", error=record, error_step="plan_release")
    plan = _assemble(state, context, repo_plans, tickets, excluded)
    update = PlanUpdate(
        current_step="plan_release",
        plan=plan,
        error=None,
        retry_count=0,
        notes=[say("plan_release", _summary(plan))],
    )
    if not state.get("dry_run") and not plan["waves"]:
        reason = f"nothing to release in {plan['fix_version']}: no repository has a change"
        update |= PlanUpdate(
            outcome="refused", outcome_reason=reason, outcome_detail={"reason": reason}
        )
    return update


def _excluded(state: WorkflowState) -> dict[str, list[str]]:
    raw = state.get("excluded") or {}
    return {k: list(raw.get(k, [])) for k in ("tickets", "branches", "repositories")}


def _plan_repository(
    clients: Clients,
    rules: RepoRules,
    state: WorkflowState,
    tickets: list[Ticket],
    excluded: dict[str, list[str]],
) -> RepoPlan:
    repo = rules.name
    info = clients.code_host.repository(repo)
    mirror = clients.planner.sync(info, clients.code_host.git_auth_header())
    heads = clients.planner.branches(mirror)
    tags = clients.planner.tags(mirror)
    version, release_type = state["fix_version"], state["release_type"]
    try:
        base_ref = release_base(
            rules,
            release_type,
            version,
            branches=heads,
            tags=tags,
            default_branch=info["default_branch"],
        )
    except MissingBaseBranch as exc:
        raise InvalidInput("policy", str(exc)) from None
    base_sha = clients.planner.resolve(mirror, base_ref)
    target = target_branch(rules, info["default_branch"])
    release_branch = release_branch_name(rules, release_type, version)
    keys = {t["key"] for t in tickets}
    work = sorted(b for b in heads if is_ticket_branch(rules, b) and b != release_branch)
    chosen = [
        b
        for b in work
        if ticket_of_branch(rules, b) in keys and f"{repo}:{b}" not in excluded["branches"]
    ]
    chosen.sort(key=lambda b: (ticket_of_branch(rules, b) or "", b))
    predictions = clients.planner.predict_merges(mirror, base_sha, chosen)
    branches = [
        BranchPlan(
            branch=p["branch"],
            ticket=ticket_of_branch(rules, p["branch"]),
            sha=p["sha"],
            predicted=p["outcome"],
            files=p["files"],
            conflicts_with=p["conflicts_with"],
        )
        for p in predictions
    ]
    target_sha = clients.planner.resolve(mirror, target)
    to_merge = any(b["predicted"] != "already" for b in branches)
    return RepoPlan(
        repo=repo,
        release_branch=release_branch,
        base_ref=base_ref,
        base_sha=base_sha,
        target_branch=target,
        branches=branches,
        branches_without_ticket=[b for b in work if ticket_of_branch(rules, b) is None],
        # nothing to merge and the target has the base already: a pull request would be empty
        has_changes=to_merge or not clients.planner.contains(mirror, base_sha, target_sha),
        merge_method=rules.merge_method,
        checks=rules.checks.model_dump(mode="json"),
        after=list(rules.after),
        existing=_existing(clients, repo, f"v{version}", tags, release_branch, target, heads),
    )


def _existing(
    clients: Clients,
    repo: str,
    tag: str,
    tags: list[str],
    release_branch: str,
    target: str,
    heads: dict[str, str],
) -> dict[str, Any]:
    """What of this release the code host has already: tag, release, merged pull request."""
    found: dict[str, Any] = {}
    if tag in tags:
        found["tag"] = tag
        release = clients.code_host.find_release(repo, tag)
        if release is not None:
            found["release"] = release
    if release_branch in heads:
        found["release_branch"] = release_branch
        pr = clients.code_host.find_pull_request(repo, release_branch, target)
        if pr is not None:
            found["pull_request"] = {
                "number": pr["number"],
                "url": pr["html_url"],
                "merged": pr["merged"],
            }
    return found


def _assemble(
    state: WorkflowState,
    context: Context,
    repo_plans: list[RepoPlan],
    tickets: list[Ticket],
    excluded: dict[str, list[str]],
) -> Plan:
    with_branch = {b["ticket"] for p in repo_plans for b in p["branches"]}
    changing = [p["repo"] for p in repo_plans if p["has_changes"]]
    released = [
        p["repo"]
        for p in repo_plans
        if p["existing"].get("tag") or (p["existing"].get("pull_request") or {}).get("merged")
    ]
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
        excluded_tickets=list(state.get("excluded_tickets") or []),
        flags=_flags(tickets),
        waves=waves(context.rules, changing),
        already_released=released,
        policy_hash=context.policy_hash(),
        hash="",
    )
    plan["hash"] = plan_hash(dict(plan))
    return plan


def _flags(tickets: list[Ticket]) -> list[str]:
    """What a person should look at before approving: tickets the notes cannot describe."""
    flags = []
    for t in tickets:
        if not t["summary"].strip():
            flags.append(f"{t['key']} has no summary")
        if not t["type"].strip():
            flags.append(f"{t['key']} has no issue type")
    return flags


def _summary(plan: Plan) -> str:
    merges = sum(len(p["branches"]) for p in plan["repositories"])
    conflicts = len(plan["predicted_conflicts"])
    parts = [
        f"Plan {plan['hash']} (policy {plan['policy_hash']}): "
        f"{count(merges, 'branch', 'branches')} to merge into "
        f"{count(len(plan['repositories']), 'release branch', 'release branches')}",
        f"{count(conflicts, 'predicted conflict')}",
    ]
    if len(plan["waves"]) > 1:
        parts.append("in waves: " + " → ".join(", ".join(w) for w in plan["waves"]))
    if plan["already_released"]:
        parts.append("already released in: " + ", ".join(plan["already_released"]))
    if plan["tickets_without_branch"]:
        parts.append("tickets without branch: " + ", ".join(plan["tickets_without_branch"]))
    if plan["repositories_without_changes"]:
        parts.append("nothing to release in: " + ", ".join(plan["repositories_without_changes"]))
    if plan["branches_without_ticket"]:
        parts.append("branches without ticket: " + ", ".join(plan["branches_without_ticket"]))
    if plan["excluded_tickets"]:
        parts.append("left out: " + ", ".join(t["key"] for t in plan["excluded_tickets"]))
    if plan["flags"]:
        parts.append("flagged: " + "; ".join(plan["flags"]))
    return "; ".join(parts)

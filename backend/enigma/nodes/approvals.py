"""approve_plan and approve_release: the two human gates, as LangGraph interrupts.

Each gate is a node of its own with nothing before the interrupt, because LangGraph re-runs an
interrupted node from its top when the run resumes. The interrupt says who may answer (the
policy's roles, how many approvers, four-eyes, deadlines) and, for the release, exactly what
approving will do. With `policy.auto_approve` the policy approves and the decision is recorded
the same way, with actor "policy".
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.nodes.common import (
    approval_request,
    ask_human,
    decision_note,
    deps,
    policy_decision,
    record_decision,
)
from enigma.nodes.notes import shipped_tickets
from enigma.state import ApprovalRecord, WorkflowState
from enigma.updates import ApprovalUpdate

__all__ = ["approve_plan", "approve_release", "release_preview"]


async def approve_plan(state: WorkflowState, runtime: Runtime[Context]) -> ApprovalUpdate:
    """Ask a human to approve, reject or amend the plan."""
    context, _ = deps(runtime)
    plan = state["plan"]
    if state.get("policy", {}).get("auto_approve"):
        decision = policy_decision("approve", "auto-approved")
    else:
        decision = ask_human(
            "plan_approval",
            {
                "plan": plan,
                "plan_hash": plan["hash"],
                "approval": approval_request(context, "plan_approval", state["release_type"]),
            },
            ["approve", "reject", "amend"],
        )
    records = record_decision(context, "plan_approval", decision, plan["hash"])
    update = ApprovalUpdate(
        current_step="approve_plan",
        approvals=records,
        notes=[decision_note("approve_plan", records)],
    )
    if decision["action"] == "amend":
        update["excluded"] = _merge_exclusions(state.get("excluded") or {}, decision["exclude"])
    if decision["action"] == "reject":
        update |= _rejected("plan", records[-1])
    return update


async def approve_release(state: WorkflowState, runtime: Runtime[Context]) -> ApprovalUpdate:
    """Ask a human for the final go, showing exactly what approving will do."""
    context, _ = deps(runtime)
    if state.get("policy", {}).get("auto_approve"):
        decision = policy_decision("approve", "auto-approved")
    else:
        summary = {
            "will": release_preview(state, context),
            "pull_requests": state.get("pull_requests", {}),
            "release_notes": {
                k: v for k, v in (state.get("release_notes") or {}).items() if k != "body"
            },
            "skipped": state.get("skipped", []),
            "plan_hash": state["plan"]["hash"],
            "approval": approval_request(context, "release_approval", state["release_type"]),
        }
        decision = ask_human("release_approval", summary, ["approve", "reject"])
    records = record_decision(context, "release_approval", decision, state["plan"]["hash"])
    update = ApprovalUpdate(
        current_step="approve_release",
        approvals=records,
        notes=[decision_note("approve_release", records)],
    )
    if decision["action"] == "reject":
        update |= _rejected("release", records[-1])
    return update


def release_preview(state: WorkflowState, context: Context) -> dict[str, Any]:
    """What approving the release does: merges, tags and releases, tickets, the version.

    Only repositories whose leg ended ready are in it; everything the release leaves out is
    listed with the reason, so "approve" never promises what will not happen.
    """
    outcomes = state.get("repo_outcomes", {})
    prs = state.get("pull_requests", {})
    plans = {p["repo"]: p for p in state["plan"]["repositories"]}
    ready = [r for w in state["plan"]["waves"] for r in w if outcomes.get(r) == "ready"]
    version = state["fix_version"]
    tracker = context.rules.tracker
    shipped = shipped_tickets(state)
    statuses = {t["key"]: t["status"] for t in state.get("jira_tickets", [])}
    left_out = [
        {"repo": s["repo"], "branch": s["branch"], "reason": s["reason"]}
        for s in state.get("skipped", [])
    ]
    left_out += [
        {"repo": r, "branch": None, "reason": f"its leg ended {o}"}
        for r, o in sorted(outcomes.items())
        if o != "ready" and not any(s["repo"] == r for s in left_out)
    ]
    return {
        "merge": [
            {
                "repo": r,
                "number": prs[r]["number"],
                "url": prs[r]["html_url"],
                "into": plans[r]["target_branch"],
                "method": plans[r]["merge_method"],
            }
            for r in ready
            if r in prs
        ],
        "tag": [{"repo": r, "tag": f"v{version}", "release": True} for r in ready],
        "tickets": [
            {"key": k, "from": statuses.get(k, ""), "to": tracker.done_status}
            for k in sorted(shipped)
        ],
        "version": {"name": tracker.version_name_for(version), "release": tracker.release_version},
        "left_out": left_out,
        "not_shipped": [k for k in state["plan"]["tickets"] if k not in shipped],
    }


def _rejected(what: str, record: ApprovalRecord) -> ApprovalUpdate:
    comment = f": {record['comment']}" if record["comment"] else ""
    reason = f"{what} rejected by {record['actor']}{comment}"
    return ApprovalUpdate(
        outcome_reason=reason,
        outcome_detail={
            "rejected": what,
            "by": record["actor"],
            "at": record["at"],
            "comment": record["comment"],
        },
    )


def _merge_exclusions(current: dict[str, list[str]], extra: Any) -> dict[str, list[str]]:
    merged = {k: list(current.get(k, [])) for k in ("tickets", "branches", "repositories")}
    if isinstance(extra, dict):
        for kind in merged:
            for item in extra.get(kind) or []:
                if isinstance(item, str) and item not in merged[kind]:
                    merged[kind].append(item)
    return merged

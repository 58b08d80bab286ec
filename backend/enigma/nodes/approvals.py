"""approve_plan and approve_release: the two human gates, as LangGraph interrupts.

Each gate is a node of its own with nothing before the interrupt, because LangGraph re-runs an
interrupted node from its top when the run resumes. With `policy.auto_approve` the policy
approves and the decision is recorded the same way, with actor "policy".
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.nodes.common import ask_human, deps, human_message, policy_decision, record_decision
from enigma.state import WorkflowState

__all__ = ["approve_plan", "approve_release"]


async def approve_plan(state: WorkflowState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask a human to approve, reject or amend the plan."""
    context, _ = deps(runtime)
    plan = state["plan"]
    if state.get("policy", {}).get("auto_approve"):
        decision = policy_decision("approve", "auto-approved")
    else:
        decision = ask_human(
            "plan_approval",
            {"plan": plan, "plan_hash": plan["hash"]},
            ["approve", "reject", "amend"],
        )
    record = record_decision(context, "plan_approval", decision, plan["hash"])
    update: dict[str, Any] = {
        "current_step": "approve_plan",
        "approvals": [record],
        "approval_required": None,
        "messages": [human_message(record)],
        "steps_completed": ["approve_plan"],
    }
    if decision["action"] == "amend":
        update["excluded"] = _merge_exclusions(state.get("excluded") or {}, decision["exclude"])
    if decision["action"] == "reject":
        update["outcome_reason"] = f"plan rejected by {record['actor']}: {record['comment']}"
    return update


async def approve_release(state: WorkflowState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask a human for the final go: PRs green, notes published; approve or reject."""
    context, _ = deps(runtime)
    if state.get("policy", {}).get("auto_approve"):
        decision = policy_decision("approve", "auto-approved")
    else:
        summary = {
            "pull_requests": state.get("pull_requests", {}),
            "release_notes": {
                k: v for k, v in (state.get("release_notes") or {}).items() if k != "body"
            },
            "skipped": state.get("skipped", []),
            "plan_hash": state["plan"]["hash"],
        }
        decision = ask_human("release_approval", summary, ["approve", "reject"])
    record = record_decision(context, "release_approval", decision, state["plan"]["hash"])
    update: dict[str, Any] = {
        "current_step": "approve_release",
        "approvals": [record],
        "approval_required": None,
        "messages": [human_message(record)],
        "steps_completed": ["approve_release"],
    }
    if decision["action"] == "reject":
        update["outcome_reason"] = f"release rejected by {record['actor']}: {record['comment']}"
    return update


def _merge_exclusions(current: dict[str, list[str]], extra: Any) -> dict[str, list[str]]:
    merged = {k: list(current.get(k, [])) for k in ("tickets", "branches", "repositories")}
    if isinstance(extra, dict):
        for kind in merged:
            for item in extra.get(kind) or []:
                if isinstance(item, str) and item not in merged[kind]:
                    merged[kind].append(item)
    return merged

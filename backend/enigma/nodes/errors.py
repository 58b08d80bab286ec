"""handle_error and handle_repo_error: the conditional error edges' destination.

A failed step records an `ErrorRecord` and routes here. The release policy's step limits
answer first: an error of a class the step retries (`retry_on`, by default transient ones) is
retried automatically with the step's backoff, up to its tries; after that, or for another
error, the run's `on_error` either aborts or asks a human (retry / skip / abort, with the
roles the policy names). Failed checks follow `on_check_failure` instead. An outage that
outlasted its budget always asks a human: `on_error` is about errors, not outages.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.nodes.common import (
    Decision,
    approval_request,
    ask_human,
    decision_note,
    deps,
    policy_decision,
    record_decision,
)
from enigma.state import ErrorRecord, Policy, RepoState, SkipRecord, WorkflowState
from enigma.updates import ErrorDecisionUpdate, RepoUpdate

__all__ = ["decide_error", "handle_error", "handle_repo_error"]


async def decide_error(
    error: ErrorRecord,
    policy: Policy | Mapping[str, Any],
    retry_count: int,
    context: Context,
    release_type: str,
) -> Decision:
    """Choose retry / skip / abort for an error, by policy or by asking a human."""
    limits = context.rules.step_limits(error["step"])
    tries = policy.get("auto_retries")
    retries = limits.auto_retries if tries is None else int(tries)
    if error["kind"] == "OutageExhausted":
        rule = "ask"
    elif error["kind"] == "ChecksFailed":
        rule = str(policy.get("on_check_failure", "ask"))
    elif retry_count < retries and limits.retries(error["kind"], error["transient"]):
        if context.retry_backoff_seconds is not None:
            base = context.retry_backoff_seconds * (2**retry_count)
            pause = random.uniform(base / 2, base)
        else:
            pause = limits.pause(retry_count)
        await context.clock.sleep(pause)
        return policy_decision("retry", f"automatic retry {retry_count + 1}")
    else:
        rule = str(policy.get("on_error", "ask"))
    if rule == "ask":
        payload = {
            "error": error,
            "retry_helps": bool(error["transient"]),
            "approval": approval_request(context, "error", release_type),
        }
        return ask_human("error", payload, error["choices"])
    action = rule if rule in error["choices"] else "abort"
    return policy_decision(action, f"policy chose {action}")


async def handle_error(state: WorkflowState, runtime: Runtime[Context]) -> ErrorDecisionUpdate:
    """Decide what to do about a failed top-level step."""
    context, _ = deps(runtime)
    error = state.get("error")
    assert error is not None, "handle_error runs only after a step recorded an error"
    retries = int(state.get("retry_count", 0))
    decision = await decide_error(
        error, state.get("policy", {}), retries, context, state["release_type"]
    )
    records = record_decision(context, "error_decision", decision)
    update = ErrorDecisionUpdate(
        current_step="handle_error",
        error_decision=decision["action"],
        approvals=records,
        notes=[decision_note("handle_error", records)],
    )
    if decision["action"] == "retry":
        update |= ErrorDecisionUpdate(error=None, retry_count=retries + 1)
    elif decision["action"] == "abort":
        update["outcome_reason"] = (
            f"{error['step']} failed: {error['message']}; aborted by {records[-1]['actor']}"
        )
    elif error.get("operation"):  # a finalize operation someone did by hand
        finalized = dict(state.get("finalized") or {})
        ops = dict(finalized.get("operations") or {})
        ops[str(error["operation"])] = {
            "op": str(error["message"]).split(" failed:", 1)[0],
            "status": "skipped",
            "by": records[-1]["actor"],
            "note": decision["comment"] or "done by hand",
        }
        update |= ErrorDecisionUpdate(
            finalized=finalized | {"operations": ops}, error=None, retry_count=0
        )
    else:
        update["skipped"] = [
            SkipRecord(
                repo="*",
                branch=None,
                reason=f"{error['step']} skipped: {error['message']}",
                by=records[-1]["actor"],
            )
        ]
        update["error"] = None
    return update


async def handle_repo_error(state: RepoState, runtime: Runtime[Context]) -> RepoUpdate:
    """Decide what to do about a failed step of one repository's leg."""
    context, _ = deps(runtime)
    error = state.get("error")
    assert error is not None, "handle_repo_error runs only after a step recorded an error"
    repo = state["repo"]
    retries = int(state.get("retry_count", 0))
    decision = await decide_error(
        error, state.get("policy", {}), retries, context, state["release_type"]
    )
    records = record_decision(context, "error_decision", decision)
    update = RepoUpdate(
        error_decision=decision["action"],
        approvals=records,
        notes=[decision_note("handle_repo_error", records)],
    )
    if decision["action"] == "retry":
        update |= RepoUpdate(error=None, retry_count=retries + 1)
    elif decision["action"] == "skip":
        update["repo_outcomes"] = {repo: "skipped"}
        update["skipped"] = [
            SkipRecord(
                repo=repo,
                branch=None,
                reason=f"{error['step']} failed: {error['message']}",
                by=records[-1]["actor"],
            )
        ]
    else:
        update["repo_outcomes"] = {repo: "aborted"}
    return update

"""handle_error and handle_repo_error: the conditional error edges' destination.

A failed step records an `ErrorRecord` and routes here. Policy answers first: a transient
failure is retried automatically (exponential backoff with jitter) up to `policy.auto_retries`
times; after that, or for a permanent failure, `policy.on_error` either aborts or asks a human,
who chooses among the record's choices (retry / skip / abort). Failed checks follow
`policy.on_check_failure` instead.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.nodes.common import (
    Decision,
    ask_human,
    deps,
    human_message,
    policy_decision,
    record_decision,
)
from enigma.state import ErrorRecord, Policy, RepoState, SkipRecord, WorkflowState

__all__ = ["decide_error", "handle_error", "handle_repo_error"]


async def decide_error(
    error: ErrorRecord, policy: Policy | Mapping[str, Any], retry_count: int, context: Context
) -> Decision:
    """Choose retry / skip / abort for an error, by policy or by asking a human.

    An outage that outlasted its budget (`OutageExhausted`) always goes to a human: policy
    rules such as `on_error = "abort"` are about errors, and an outage is not the release's
    error.
    """
    if error["kind"] == "OutageExhausted":
        rule = "ask"
    elif error["kind"] == "ChecksFailed":
        rule = str(policy.get("on_check_failure", "ask"))
    elif error["transient"] and retry_count < int(policy.get("auto_retries", 2)):
        pause = context.retry_backoff_seconds * (2**retry_count)
        await context.clock.sleep(random.uniform(pause / 2, pause))
        return policy_decision("retry", f"automatic retry {retry_count + 1}")
    else:
        rule = str(policy.get("on_error", "ask"))
    if rule == "ask":
        return ask_human("error", {"error": error}, error["choices"])
    action = rule if rule in error["choices"] else "abort"
    return policy_decision(action, f"policy chose {action}")


async def handle_error(state: WorkflowState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Decide what to do about a failed top-level step."""
    context, _ = deps(runtime)
    error = state.get("error")
    assert error is not None, "handle_error runs only after a step recorded an error"
    retries = int(state.get("retry_count", 0))
    decision = await decide_error(error, state.get("policy", {}), retries, context)
    record = record_decision(context, "error_decision", decision)
    update: dict[str, Any] = {
        "current_step": "handle_error",
        "error_decision": decision["action"],
        "approvals": [record],
        "messages": [human_message(record)],
    }
    if decision["action"] == "retry":
        update.update(error=None, retry_count=retries + 1)
    elif decision["action"] == "abort":
        update["outcome_reason"] = (
            f"{error['step']} failed: {error['message']}; aborted by {record['actor']}"
        )
    else:
        update["skipped"] = [
            SkipRecord(repo="*", branch=None, reason=f"{error['step']} skipped: {error['message']}")
        ]
        update["error"] = None
    return update


async def handle_repo_error(state: RepoState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Decide what to do about a failed step of one repository's leg."""
    context, _ = deps(runtime)
    error = state.get("error")
    assert error is not None, "handle_repo_error runs only after a step recorded an error"
    repo = state["repo"]
    retries = int(state.get("retry_count", 0))
    decision = await decide_error(error, state.get("policy", {}), retries, context)
    record = record_decision(context, "error_decision", decision)
    update: dict[str, Any] = {
        "error_decision": decision["action"],
        "approvals": [record],
        "messages": [human_message(record)],
    }
    if decision["action"] == "retry":
        update.update(error=None, retry_count=retries + 1)
    elif decision["action"] == "skip":
        update["repo_outcomes"] = {repo: "skipped"}
        update["skipped"] = [
            SkipRecord(
                repo=repo,
                branch=None,
                reason=f"{error['step']} failed: {error['message']}; skipped by {record['actor']}",
            )
        ]
    else:
        update["repo_outcomes"] = {repo: "aborted"}
    return update

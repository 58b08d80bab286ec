"""The per-repository leg: release branch, merges, pull request, checks.

These nodes run inside the `release_repository` subgraph, one instance per repository (reached
with `Send`), so a conflict or a crash in one repository re-runs nothing in the others. Every
write is check-then-act through the CodeHost's idempotent operations.
"""

from __future__ import annotations

import random
from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Context
from enigma.integrations.base import CheckRun
from enigma.integrations.errors import IntegrationError, MergeConflict
from enigma.nodes.common import (
    approval_request,
    ask_human,
    count,
    decision_note,
    deps,
    error_record,
    io,
    policy_decision,
    record_decision,
    say,
)
from enigma.state import MergeRecord, ReleaseBranch, RepoState, SkipRecord
from enigma.updates import RepoUpdate

__all__ = [
    "create_release_branch",
    "decide_conflict",
    "merge_feature_branches",
    "open_pull_request",
    "wait_for_checks",
]

_FINAL = ("merged", "already", "skipped")
_CHOICES = ["retry", "skip", "abort"]


def _failed(state: RepoState, step: str, exc: Exception) -> RepoUpdate:
    """The update of a failed step: its error record, waiting for handle_repo_error."""
    record = error_record(step, exc, state["repo"], state.get("retry_count", 0), _CHOICES)
    return RepoUpdate(error=record, error_step=step)


async def create_release_branch(state: RepoState, runtime: Runtime[Context]) -> RepoUpdate:
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
    branch = ReleaseBranch(
        name=plan["release_branch"],
        base_ref=plan["base_ref"],
        base_sha=plan["base_sha"],
        created=created,
    )
    text = f"{repo}: {verb} {plan['release_branch']} from {plan['base_ref']}"
    return RepoUpdate(
        release_branches={repo: branch},
        error=None,
        retry_count=0,
        notes=[say("create_release_branch", text)],
    )


async def merge_feature_branches(state: RepoState, runtime: Runtime[Context]) -> RepoUpdate:
    """Merge the planned branches in order; stop at a conflict and let it be decided."""
    context, clients = deps(runtime)
    plan, repo = state["repo_plan"], state["repo"]
    done: dict[str, MergeRecord] = dict(state.get("merge_status", {}).get(repo, {}))
    for branch in plan["branches"]:
        name = branch["branch"]
        if name in done and done[name]["outcome"] in _FINAL:
            continue
        # keyed by the release, not the run: every run of this release writes the same
        message = (
            f"Merge {name} into {plan['release_branch']}"
            f" ({branch['ticket'] or 'no ticket'}) [enigma release {state['fix_version']}]"
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
            return RepoUpdate(
                merge_status={repo: done},
                pending_conflict=record,
                notes=[say("merge_feature_branches", f"{repo}: {name} conflicts")],
            )
        except IntegrationError as exc:
            failed = _failed(state, "merge_feature_branches", exc)
            return failed | RepoUpdate(merge_status={repo: done})
        done[name] = MergeRecord(
            branch=name,
            ticket=branch["ticket"],
            outcome=result["outcome"],
            sha=result["sha"],
            files=branch["files"],
        )
    merged = sum(1 for r in done.values() if r["outcome"] in ("merged", "already"))
    text = f"{repo}: {merged} of {count(len(done), 'branch', 'branches')} merged"
    return RepoUpdate(
        merge_status={repo: done},
        pending_conflict=None,
        error=None,
        retry_count=0,
        notes=[say("merge_feature_branches", text)],
    )


async def decide_conflict(state: RepoState, runtime: Runtime[Context]) -> RepoUpdate:
    """A conflict is an outcome: skip that branch, or abort the release (policy or human)."""
    context, clients = deps(runtime)
    conflict = state["pending_conflict"]
    assert conflict is not None
    repo, plan = state["repo"], state["repo_plan"]
    rule = state.get("policy", {}).get("on_conflict", "ask")
    if rule == "ask":
        planned = next((b for b in plan["branches"] if b["branch"] == conflict["branch"]), None)
        decision = ask_human(
            "conflict",
            {
                "repo": repo,
                "branch": conflict["branch"],
                "ticket": conflict["ticket"],
                "files": conflict["files"],
                "release_branch": plan["release_branch"],
                "conflicts_with": planned["conflicts_with"] if planned else [],
                "compare_url": clients.code_host.compare_url(
                    repo, plan["release_branch"], conflict["branch"]
                ),
                "abort_means": "the release ends failed once the other repositories' legs end",
                "approval": approval_request(context, "conflict", state["release_type"]),
            },
            ["skip", "abort"],
        )
    else:
        decision = policy_decision(rule, f"policy on_conflict={rule}")
    records = record_decision(context, "conflict", decision)
    update = RepoUpdate(
        approvals=records,
        notes=[decision_note("decide_conflict", records)],
        pending_conflict=None,
        conflict_decision=decision["action"],
    )
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
            reason=f"merge conflict in {', '.join(conflict['files']) or 'files'}",
            by=records[-1]["actor"],
        )
    ]
    return update


async def open_pull_request(state: RepoState, runtime: Runtime[Context]) -> RepoUpdate:
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
    text = f"{repo}: pull request #{pr['number']} {pr['html_url']}"
    return RepoUpdate(
        pull_requests={repo: pr}, error=None, retry_count=0, notes=[say("open_pull_request", text)]
    )


class ChecksFailed(Exception):
    """CI on the release pull request did not pass."""


class ChecksTimedOut(Exception):
    """CI on the release pull request did not finish in time."""


async def wait_for_checks(state: RepoState, runtime: Runtime[Context]) -> RepoUpdate:
    """Wait for the pull request's CI, as the policy counts it; red or late is a decision.

    The policy says which sources count (check runs, commit statuses), which names must pass
    (none named: every one reported), and what a pull request with no CI at all means: wait
    (until the timeout), or pass / fail once none has shown up for `none_grace`. Waiting is
    an async sleep between short calls: it holds no thread, and a pause or cancel ends it.
    """
    context, clients = deps(runtime)
    repo, rules = state["repo"], state["repo_plan"]["checks"]
    number = state["pull_requests"][repo]["number"]
    # the first look uses the head open_pull_request just read; later ones re-read the pull
    # request, in case someone pushed to the release branch meanwhile
    head = state["pull_requests"][repo].get("head_sha") or ""
    started = context.clock.now().timestamp()
    timeout = context.check_timeout_seconds or float(rules["timeout"])
    try:
        while True:
            if not head:
                pr = await io(context, clients.code_host.pull_request, repo, number)
                head = pr["head_sha"]
            found = await io(context, clients.code_host.checks, repo, head, tuple(rules["sources"]))
            verdict = _verdict(found, rules, context.clock.now().timestamp() - started)
            if verdict is not None:
                break
            if context.clock.now().timestamp() - started > timeout:
                raise ChecksTimedOut(
                    f"checks on {repo}#{number} not finished after {timeout:.0f}s"
                    + _missing(found, rules)
                )
            # ±20 %: releases that reached their CI wait together do not poll in lockstep
            await context.clock.sleep(context.check_poll_seconds * random.uniform(0.8, 1.2))
            head = ""
    except (IntegrationError, ChecksTimedOut) as exc:
        return _failed(state, "wait_for_checks", exc)
    counted, note = verdict
    green = tuple(rules["green"])
    failed = [r for r in counted if r["conclusion"] not in green]
    if failed or note == "fail":
        names = ", ".join(f"{r['name']}={r['conclusion']}" for r in failed) or note_text(rules)
        failure = ChecksFailed(f"checks failed on {repo}#{number} ({head[:8]}): {names}")
        return _failed(state, "wait_for_checks", failure) | RepoUpdate(checks={repo: found})
    text = f"{repo}: {count(len(counted), 'check')} passed on {head[:8]}"
    if note == "pass":
        text = f"{repo}: no CI reported on {head[:8]}; the policy lets it pass"
    return RepoUpdate(
        checks={repo: found},
        repo_outcomes={repo: "ready"},
        error=None,
        retry_count=0,
        notes=[say("wait_for_checks", text)],
    )


def note_text(rules: dict[str, Any]) -> str:
    """Why a pull request without CI failed its checks."""
    return f"no CI reported within {float(rules.get('none_grace') or 0):.0f}s"


def _verdict(
    found: list[CheckRun], rules: dict[str, Any], waited: float
) -> tuple[list[CheckRun], str] | None:
    """(the checks that count, "pass"/"fail"/"") once decided; None while still waiting."""
    if not found:
        if rules["when_none"] != "wait" and waited >= float(rules.get("none_grace") or 0):
            return [], str(rules["when_none"])
        return None
    required = list(rules.get("required") or [])
    counted = [r for r in found if r["name"] in required] if required else found
    if required and {r["name"] for r in counted} != set(required):
        return None  # a required check has not reported yet
    if all(r["status"] == "completed" for r in counted):
        return counted, ""
    return None


def _missing(found: list[CheckRun], rules: dict[str, Any]) -> str:
    required = set(rules.get("required") or [])
    missing = sorted(required - {r["name"] for r in found})
    return f"; never reported: {', '.join(missing)}" if missing else ""

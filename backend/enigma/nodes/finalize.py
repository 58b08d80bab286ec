"""collect_repositories, finalize and close_run: how a release ends, and what it ended as.

finalize is a list of operations, each recorded as it is done: per repository (in the order
of the policy's waves: a repository merges, tags and releases after the ones it comes after)
merge the release pull request, then publish the release and its tag; side by side with the
last wave's releases, each shipped ticket (its pull requests are merged by then): move it to
the done status, comment once and link its pull requests, the three at once; then, once every
ticket is done, the tracker version. An operation that fails stops finalize with a decision
that names it and quotes the service: retry, skip ("done by hand", with the reason kept), or
abort; whatever was done stays done, and a re-run of finalize does only what is left. With the
version, the tickets' statuses are read back, so what the run shows is what the tracker has.

Side by side means a bounded pool (`fanout.Pool`, `_CALLS_AT_ONCE` calls on the wire): under
real latency a release's finalize is as long as its longest chain of calls, not as its count
of calls. Each operation is still one check-then-act per effect, keyed by the release, so the
order they finish in changes nothing, and a re-run finds what the first one did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.runtime import Runtime

from enigma.context import Clients, Context
from enigma.integrations.errors import IntegrationError
from enigma.nodes.common import count, deps, error_record, say
from enigma.nodes.fanout import Pool, settle
from enigma.nodes.notes import shipped_tickets
from enigma.state import Outcome, SkipRecord, WorkflowState
from enigma.updates import CloseUpdate, CollectUpdate, FinalizeUpdate

__all__ = ["close_run", "collect_repositories", "finalize", "outcome_of", "ticket_marker"]

_CALLS_AT_ONCE = 32
Operation = tuple[str, str, Callable[[], Awaitable[Any]]]
"""(id, what it does in words, the call)."""


def ticket_marker(project: str, version: str) -> str:
    """Marker that makes the release comment on a ticket idempotent per release (not per run)."""
    return f"[enigma-release {project} {version}]"


async def collect_repositories(state: WorkflowState, runtime: Runtime[Context]) -> CollectUpdate:
    """A wave of repository legs ended: record how, and find the next wave that can start.

    A repository whose `after` repositories did not all end ready does not start: it is left
    out, with the reason (and so, in turn, are the ones that come after it).
    """
    outcomes = dict(state.get("repo_outcomes", {}))
    waves = state["plan"]["waves"]
    plans = {p["repo"]: p for p in state["plan"]["repositories"]}
    update = CollectUpdate(current_step="collect_repositories")
    text = ", ".join(f"{repo}: {outcomes[repo]}" for repo in sorted(outcomes))
    aborted = sorted(r for r, o in outcomes.items() if o == "aborted")
    wave = int(state.get("wave", 0)) + 1
    blocked: list[SkipRecord] = []
    while not aborted and wave < len(waves):
        for repo in waves[wave]:
            missing = [a for a in plans[repo]["after"] if outcomes.get(a, "ready") != "ready"]
            if missing:
                outcomes[repo] = "blocked"
                reason = f"it comes after {', '.join(missing)}, which did not get ready"
                blocked.append(SkipRecord(repo=repo, branch=None, reason=reason))
        if any(outcomes.get(r) != "blocked" for r in waves[wave]):
            break
        wave += 1
    update["wave"] = wave
    if aborted:
        update["outcome_reason"] = f"aborted in {', '.join(aborted)}"
    if blocked:
        update["repo_outcomes"] = {b["repo"]: "blocked" for b in blocked}
        update["skipped"] = blocked
    if not aborted and wave < len(waves):
        text += "; next: " + ", ".join(r for r in waves[wave] if outcomes.get(r) != "blocked")
    update["notes"] = [say("collect_repositories", f"Repositories done ({text})")]
    return update


async def finalize(state: WorkflowState, runtime: Runtime[Context]) -> FinalizeUpdate:
    """Do each operation still to do, recording it as it is done (see the module docstring)."""
    context, clients = deps(runtime)
    finalized = dict(state.get("finalized") or {})
    ops: dict[str, Any] = dict(finalized.get("operations") or {})
    failure: tuple[str, str, IntegrationError] | None = None
    pool = Pool(context, _CALLS_AT_ONCE)
    groups = _operations(state, context, clients, pool)
    tickets: list[Any] | None = None
    for group in groups:
        pending = [op for op in group if op[0] not in ops]
        calls = [call() for _, _, call in pending]
        # the read-back needs every ticket done, as the version does: it goes with the version
        with_read_back = bool(group) and group[0][0].startswith("version:")
        if with_read_back:
            calls.append(_read_back(pool, clients, state))
        results = await settle(calls, len(calls))  # the pool bounds their calls
        if with_read_back:
            back = results.pop()  # never an error: _read_back falls back to the state's
            tickets = back if isinstance(back, list) else None
        for (op_id, label, _), result in zip(pending, results, strict=True):
            if isinstance(result, IntegrationError):
                failure = failure or (op_id, label, result)
            else:
                ops[op_id] = {"op": label, "status": "done", "result": result}
        if failure is not None:
            break
    finalized |= _summary(ops)
    if failure is not None:
        op_id, label, exc = failure
        return FinalizeUpdate(
            current_step="finalize",
            finalized=finalized,
            error=error_record(
                "finalize",
                exc,
                None,
                state.get("retry_count", 0),
                ["retry", "skip", "abort"],
                operation=label,
            )
            | {"operation": op_id},
            error_step="finalize",
        )
    if tickets is None:
        tickets = await _read_back(pool, clients, state)
    outcome, detail = outcome_of(state, finalized)
    return FinalizeUpdate(
        current_step="finalize",
        finalized=finalized,
        jira_tickets=tickets,
        outcome=outcome,
        outcome_reason=detail["reason"],
        outcome_detail=detail,
        error=None,
        retry_count=0,
        notes=[say("finalize", detail["reason"])],
    )


def _operations(
    state: WorkflowState, context: Context, clients: Clients, pool: Pool
) -> list[list[Operation]]:
    """Groups of operations in order; the operations of one group may run side by side."""
    version = state["fix_version"]
    outcomes = state.get("repo_outcomes", {})
    plans = {p["repo"]: p for p in state["plan"]["repositories"]}
    notes_url = (state.get("release_notes") or {}).get("url", "")
    groups: list[list[Operation]] = []
    for wave in state["plan"]["waves"]:
        ready = [r for r in wave if outcomes.get(r) == "ready"]
        groups.append([_merge(pool, clients, state, plans[r]) for r in ready])
        groups.append(
            [
                (
                    f"release:{r}",
                    f"publish release v{version} of {r}",
                    _bound(
                        pool,
                        clients.code_host.ensure_release,
                        r,
                        f"v{version}",
                        plans[r]["target_branch"],
                        version,
                        notes_url,
                    ),
                )
                for r in ready
            ]
        )
    tracker = context.rules.tracker
    marker = ticket_marker(context.project, version)
    tickets = [
        (
            f"ticket:{key}",
            f"move {key} to {tracker.done_status}, comment and link it",
            _ticket(context, pool, clients, key, merges, marker, version),
        )
        for key, merges in sorted(shipped_tickets(state).items())
    ]
    if groups:  # a ticket waits for its pull request's merge, not for the release page
        groups[-1].extend(tickets)
    else:
        groups.append(tickets)
    if tracker.release_version:
        name = tracker.version_name_for(version)
        groups.append(
            [
                (
                    f"version:{name}",
                    f"release the {context.project} version {name}",
                    _bound(
                        pool,
                        clients.tracker.ensure_version_released,
                        context.project,
                        name,
                        context.clock.now().date().isoformat(),
                    ),
                )
            ]
        )
    return groups


def _merge(pool: Pool, clients: Clients, state: WorkflowState, plan: Any) -> Operation:
    repo = plan["repo"]
    pr = state["pull_requests"][repo]
    return (
        f"merge:{repo}",
        f"merge {repo}#{pr['number']} into {plan['target_branch']}",
        _bound(
            pool,
            clients.code_host.ensure_pull_request_merged,
            repo,
            pr["number"],
            f"Release {state['fix_version']} [enigma release {state['fix_version']}]",
            plan["merge_method"],
        ),
    )


def _ticket(
    context: Context,
    pool: Pool,
    clients: Clients,
    key: str,
    merges: list[dict[str, Any]],
    marker: str,
    version: str,
) -> Callable[[], Awaitable[str]]:
    tracker = context.rules.tracker

    async def run() -> str:
        """The status, the comment and the links of one ticket, at once (none needs another)."""
        links = ", ".join(f"{m['pr']} (merge {(m['sha'] or '')[:10]})" for m in merges)
        body = f"{tracker.comment_for(version, links)} {marker}"
        calls = [
            pool.io(clients.tracker.ensure_status, key, tracker.done_status),
            pool.io(clients.tracker.ensure_comment, key, marker, body),
            *(
                pool.io(
                    clients.tracker.ensure_remote_link,
                    key,
                    pr,
                    f"{merge['repo']} release PR",
                )
                for merge in merges
                for pr in [merge["pr"]]
                if pr
            ),
        ]
        results = await settle(calls, len(calls))
        failed = next((r for r in results if isinstance(r, IntegrationError)), None)
        if failed is not None:
            raise failed
        return tracker.done_status

    return run


def _bound(pool: Pool, fn: Callable[..., Any], *args: Any) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        return await pool.io(fn, *args)

    return run


def _summary(ops: dict[str, Any]) -> dict[str, Any]:
    """The operations, and what they did, in the shape the CLI and the page read."""
    done = {k: v for k, v in ops.items() if v["status"] == "done"}
    return {
        "operations": ops,
        "pull_requests_merged": {
            k.split(":", 1)[1]: v["result"] for k, v in done.items() if k.startswith("merge:")
        },
        "releases": {
            k.split(":", 1)[1]: v["result"] for k, v in done.items() if k.startswith("release:")
        },
        "tickets": sorted(k.split(":", 1)[1] for k in done if k.startswith("ticket:")),
        "done_by_hand": [
            {"operation": v["op"], "by": v.get("by"), "note": v.get("note")}
            for v in ops.values()
            if v["status"] == "skipped"
        ],
    }


async def _read_back(pool: Pool, clients: Clients, state: WorkflowState) -> list[Any]:
    """The run's tickets with the statuses the tracker has now."""
    tickets = list(state.get("jira_tickets", []))
    keys = [t["key"] for t in tickets]
    try:
        now = await pool.io(clients.tracker.statuses, keys) if keys else {}
    except IntegrationError:
        return tickets  # the release is done; a stale status is better than a failed run
    return [{**t, "status": now.get(t["key"], t["status"])} for t in tickets]


def outcome_of(state: WorkflowState, finalized: dict[str, Any]) -> tuple[Outcome, dict[str, Any]]:
    """`succeeded`, or `partial` when anything planned was left out or done by hand."""
    version = state["fix_version"]
    left_out = [
        {"repo": s["repo"], "branch": s["branch"], "reason": s["reason"]}
        for s in state.get("skipped", [])
    ]
    shipped = set(finalized.get("tickets", []))
    not_shipped = [k for k in state["plan"]["tickets"] if k not in shipped]
    by_hand = finalized.get("done_by_hand", [])
    detail: dict[str, Any] = {
        "pull_requests": {r: pr["html_url"] for r, pr in state.get("pull_requests", {}).items()},
        "notes": (state.get("release_notes") or {}).get("url"),
        "tickets_done": sorted(shipped),
        "left_out": left_out,
        "not_shipped": not_shipped,
        "done_by_hand": by_hand,
    }
    repos = len(finalized.get("releases", {}))
    done = f"{count(repos, 'repository', 'repositories')}, {count(len(shipped), 'ticket')} done"
    if left_out or not_shipped or by_hand:
        parts = [f"{len(left_out)} left out"] if left_out else []
        parts += [f"{count(len(not_shipped), 'ticket')} not shipped"] if not_shipped else []
        parts += [f"{len(by_hand)} done by hand"] if by_hand else []
        detail["reason"] = f"Released {version} in part: {done}; " + ", ".join(parts)
        return "partial", detail
    detail["reason"] = f"Released {version}: {done}"
    return "succeeded", detail


async def close_run(state: WorkflowState, runtime: Runtime[Context]) -> CloseUpdate:
    """End a run that will not release: refused, dry run, rejected, aborted or cancelled."""
    detail = dict(state.get("outcome_detail") or {})
    outcome: Outcome
    if state.get("outcome") == "refused":
        outcome, reason = "refused", state.get("outcome_reason") or "refused"
    elif state.get("dry_run") and state.get("plan"):
        outcome, reason = "planned", "dry run: plan only"
    elif detail.get("rejected"):
        outcome, reason = "rejected", state.get("outcome_reason") or "rejected"
    elif (
        state.get("error_decision") == "abort"
        or "aborted" in state.get("repo_outcomes", {}).values()
    ):
        outcome, reason = "failed", state.get("outcome_reason") or "aborted"
        error = state.get("error")
        detail |= {"where": error["step"] if error else "a repository", "what": reason}
        if state.get("finalized"):
            detail["done"] = {k: v for k, v in state["finalized"].items() if k != "operations"}
    else:
        outcome, reason = "cancelled", state.get("outcome_reason") or "cancelled"
    return CloseUpdate(
        current_step="close_run",
        outcome=outcome,
        outcome_reason=reason,
        outcome_detail=detail | {"reason": reason},
        notes=[say("close_run", f"Run ended {outcome}: {reason}")],
    )

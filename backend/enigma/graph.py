"""The release workflow as a LangGraph StateGraph; reads top to bottom like the diagram.

    START → fetch_tickets → plan_release → approve_plan ⟲
          → release_repository, once per repository of the first wave (Send; subgraph:
            create_release_branch → merge_feature_branches ⇄ decide_conflict
            → open_pull_request → wait_for_checks)
          → collect_repositories ⟲ (the next wave, if the policy orders repositories)
          → publish_release_notes → approve_release ⟲ → finalize → END
    any step ──error──▶ handle_error ──▶ retry | skip | abort (close_run)
    a version that does not exist, has no tickets or nothing to release ──▶ close_run

The run manager, the CLI and the benchmarks call `build_graph(checkpointer)` and run it with a
`Context` that carries the clients. LangGraph Studio's graph (`studio_graph`, what
langgraph.json exports) is built here too, with a context schema of its own and no
checkpointer: the LangGraph server brings its own persistence.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer, Send

from enigma.context import Context
from enigma.nodes.approvals import approve_plan, approve_release
from enigma.nodes.errors import handle_error, handle_repo_error
from enigma.nodes.finalize import close_run, collect_repositories, finalize
from enigma.nodes.notes import publish_release_notes
from enigma.nodes.plan import plan_release
from enigma.nodes.repository import (
    create_release_branch,
    decide_conflict,
    merge_feature_branches,
    open_pull_request,
    wait_for_checks,
)
from enigma.nodes.tickets import fetch_tickets
from enigma.state import ReleaseInput, RepoPlan, RepoResults, RepoState, WorkflowState

__all__ = ["build_graph", "build_repository_graph"]

RepoStep = Literal[
    "create_release_branch", "merge_feature_branches", "open_pull_request", "wait_for_checks"
]


# ---- routers: each returns the names of the nodes it may lead to, so the drawing is exact ----


def route_after_fetch_tickets(
    state: WorkflowState,
) -> Literal["handle_error", "close_run", "plan_release"]:
    if state.get("error"):
        return "handle_error"
    return "close_run" if state.get("outcome") == "refused" else "plan_release"


def route_after_plan_release(
    state: WorkflowState,
) -> Literal["handle_error", "close_run", "approve_plan"]:
    if state.get("error"):
        return "handle_error"
    refused = state.get("outcome") == "refused"
    return "close_run" if state.get("dry_run") or refused else "approve_plan"


def _leg(state: WorkflowState, repo: str, plan: RepoPlan) -> RepoState:
    """What one repository's leg starts with: its plan and the release's terms, nothing more."""
    leg = RepoState(
        repo=repo,
        fix_version=state["fix_version"],
        release_type=state["release_type"],
        repo_plan=plan,
    )
    if "policy" in state:
        leg["policy"] = state["policy"]
    return leg


def _wave(state: WorkflowState, index: int) -> list[Send]:
    """One `release_repository` task per repository of wave `index` that may start."""
    waves = state["plan"]["waves"]
    if index >= len(waves):
        return []
    plans = {p["repo"]: p for p in state["plan"]["repositories"]}
    outcomes = state.get("repo_outcomes", {})
    return [
        Send("release_repository", _leg(state, repo, plans[repo]))
        for repo in waves[index]
        if outcomes.get(repo) != "blocked"
    ]


def route_after_approve_plan(state: WorkflowState) -> list[Send] | str:
    action = state["approvals"][-1]["action"]
    if action == "reject":
        return "close_run"
    if action == "amend":
        return "plan_release"
    return _wave(state, 0) or "close_run"


def route_after_collect_repositories(state: WorkflowState) -> list[Send] | str:
    if "aborted" in state.get("repo_outcomes", {}).values():
        return "close_run"
    return _wave(state, int(state.get("wave", 0))) or "publish_release_notes"


def route_after_publish_release_notes(
    state: WorkflowState,
) -> Literal["handle_error", "approve_release"]:
    return "handle_error" if state.get("error") else "approve_release"


def route_after_approve_release(state: WorkflowState) -> Literal["finalize", "close_run"]:
    return "finalize" if state["approvals"][-1]["action"] == "approve" else "close_run"


def route_after_finalize(state: WorkflowState) -> Literal["handle_error", "__end__"]:
    return "handle_error" if state.get("error") else "__end__"


def route_after_handle_error(
    state: WorkflowState,
) -> Literal[
    "fetch_tickets",
    "plan_release",
    "publish_release_notes",
    "finalize",
    "approve_release",
    "close_run",
]:
    decision = state.get("error_decision")
    step = state.get("error_step")
    if decision == "retry" and step in (
        "fetch_tickets",
        "plan_release",
        "publish_release_notes",
        "finalize",
    ):
        return step  # type: ignore[return-value]
    if decision == "skip" and step == "publish_release_notes":
        return "approve_release"
    if decision == "skip" and step == "finalize":
        return "finalize"  # the operation was done by hand: on with the rest
    return "close_run"


# ---- the per-repository leg ----


def _repo_route(step: RepoStep, nxt: str) -> Any:
    def route(state: RepoState) -> str:
        if state.get("error"):
            return "handle_repo_error"
        if step == "merge_feature_branches" and state.get("pending_conflict"):
            return "decide_conflict"
        return nxt

    route.__name__ = f"route_after_{step}"
    return route


def route_after_decide_conflict(state: RepoState) -> Literal["merge_feature_branches", "__end__"]:
    return "__end__" if state.get("conflict_decision") == "abort" else "merge_feature_branches"


def route_after_handle_repo_error(
    state: RepoState,
) -> Literal[
    "create_release_branch",
    "merge_feature_branches",
    "open_pull_request",
    "wait_for_checks",
    "__end__",
]:
    if state.get("error_decision") == "retry":
        return state["error_step"]  # type: ignore[return-value]
    return "__end__"


def build_repository_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The `release_repository` subgraph: one repository from release branch to green PR."""
    g = StateGraph(RepoState, context_schema=Context, output_schema=RepoResults)
    g.add_node("create_release_branch", create_release_branch)
    g.add_node("merge_feature_branches", merge_feature_branches)
    g.add_node("decide_conflict", decide_conflict)
    g.add_node("open_pull_request", open_pull_request)
    g.add_node("wait_for_checks", wait_for_checks)
    g.add_node("handle_repo_error", handle_repo_error)

    g.add_edge(START, "create_release_branch")
    g.add_conditional_edges(
        "create_release_branch",
        _repo_route("create_release_branch", "merge_feature_branches"),
        ["handle_repo_error", "merge_feature_branches"],
    )
    g.add_conditional_edges(
        "merge_feature_branches",
        _repo_route("merge_feature_branches", "open_pull_request"),
        ["handle_repo_error", "decide_conflict", "open_pull_request"],
    )
    g.add_conditional_edges("decide_conflict", route_after_decide_conflict)
    g.add_conditional_edges(
        "open_pull_request",
        _repo_route("open_pull_request", "wait_for_checks"),
        ["handle_repo_error", "wait_for_checks"],
    )
    g.add_conditional_edges(
        "wait_for_checks", _repo_route("wait_for_checks", END), ["handle_repo_error", END]
    )
    g.add_conditional_edges("handle_repo_error", route_after_handle_repo_error)
    return g.compile(name="release_repository")


def build_graph(
    checkpointer: Checkpointer = None, context_schema: type[Context] = Context
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The release workflow, compiled with `checkpointer` (None for LangGraph Studio).

    `context_schema` is what LangGraph turns a dict context into (Studio sends one); a
    subclass of `Context` can give the fields Studio cannot send, the clients, a default.
    """
    g = StateGraph(WorkflowState, context_schema=context_schema, input_schema=ReleaseInput)
    g.add_node("fetch_tickets", fetch_tickets)
    g.add_node("plan_release", plan_release)
    g.add_node("approve_plan", approve_plan)
    g.add_node("release_repository", build_repository_graph())
    g.add_node("collect_repositories", collect_repositories)
    g.add_node("publish_release_notes", publish_release_notes)
    g.add_node("approve_release", approve_release)
    g.add_node("finalize", finalize)
    g.add_node("handle_error", handle_error)
    g.add_node("close_run", close_run)

    g.add_edge(START, "fetch_tickets")
    g.add_conditional_edges("fetch_tickets", route_after_fetch_tickets)
    g.add_conditional_edges("plan_release", route_after_plan_release)
    g.add_conditional_edges(
        "approve_plan",
        route_after_approve_plan,
        ["release_repository", "close_run", "plan_release"],
    )
    g.add_edge("release_repository", "collect_repositories")
    g.add_conditional_edges(
        "collect_repositories",
        route_after_collect_repositories,
        ["release_repository", "close_run", "publish_release_notes"],
    )
    g.add_conditional_edges("publish_release_notes", route_after_publish_release_notes)
    g.add_conditional_edges("approve_release", route_after_approve_release)
    g.add_conditional_edges("finalize", route_after_finalize)
    g.add_conditional_edges("handle_error", route_after_handle_error)
    g.add_edge("close_run", END)
    return g.compile(checkpointer=checkpointer, name="enigma_release")

"""REST routes for runs: start, list, inspect, steer, decide, history, re-run, events."""

from __future__ import annotations

from typing import Any

import asyncio

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response

from enigma.api.deps import CurrentUser, Manager, RuntimeDep, require
from enigma.api.schemas import (
    AmendIn,
    DecisionIn,
    ErrorOut,
    EventList,
    RerunIn,
    RunDetail,
    RunList,
    StepStatus,
)
from enigma.api.sse import event_stream, parse_last_event_id
from enigma.runs.manager import DecisionError, RunManager, UnknownRun, build_snapshot_summary
from enigma.runs.models import RunRecord, RunRequest, RunStatus

__all__ = ["router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 422)
}
router = APIRouter(prefix="/api", responses=_ERRORS)


def _get(manager: RunManager, run_id: str) -> RunRecord:
    try:
        return manager.get(run_id)
    except UnknownRun:
        raise HTTPException(404, f"no run {run_id!r}; GET /api/runs lists the runs") from None


def _steps(manager: RunManager, run_id: str) -> list[StepStatus]:
    steps: dict[tuple[str, str | None], StepStatus] = {}
    for event in manager.store.events(run_id, limit=100_000):
        if not event.type.startswith("step.") or event.step is None:
            continue
        key = (event.step, event.repo)
        current = steps.get(key) or StepStatus(step=event.step, repo=event.repo, status="pending", attempts=0)
        if event.type == "step.started":
            current.attempts += 1
            current.status = "running"
        else:
            current.status = {"step.finished": "done", "step.failed": "failed", "step.waiting": "waiting"}[event.type]
            current.duration_ms = event.data.get("duration_ms")
            current.summary = event.data.get("summary")
            current.error = event.data.get("error")
        steps[key] = current
    return list(steps.values())


@router.post("/runs", status_code=201, response_model=RunRecord, summary="Start a release run")
async def start_run(
    body: RunRequest,
    response: Response,
    user: CurrentUser,
    manager: Manager,
    idempotency_key: str | None = Header(None, max_length=200),
) -> RunRecord:
    """Queue a run; the same `Idempotency-Key` returns the same run (200 instead of 201)."""
    require(user, "operate")
    try:
        run, created = await manager.start(body, actor=user.user, idempotency_key=idempotency_key)
    except DecisionError as exc:
        raise HTTPException(exc.status, exc.message) from None
    if not created:
        response.status_code = 200
    return run


@router.get("/runs", response_model=RunList, summary="List runs")
async def list_runs(
    user: CurrentUser,
    manager: Manager,
    status_filter: RunStatus | None = Query(None, alias="status"),
    fix_version: str | None = Query(None, max_length=32),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> RunList:
    """Newest first, filtered by status and fix version."""
    require(user, "read")
    runs, total = manager.store.list(status_filter, fix_version, limit, offset)
    return RunList(runs=runs, total=total, limit=limit, offset=offset)


@router.get("/runs/{run_id}", response_model=RunDetail, summary="One run with its state and steps")
async def get_run(run_id: str, user: CurrentUser, manager: Manager) -> RunDetail:
    """Status, pending decisions, state summary and per-step status."""
    require(user, "read")
    run = _get(manager, run_id)
    snapshot = await manager.graph.aget_state({"configurable": {"thread_id": run_id}})
    return RunDetail(
        **run.model_dump(),
        state=build_snapshot_summary(dict(snapshot.values)),
        steps=_steps(manager, run_id),
    )


async def _command(manager: RunManager, run_id: str, coro: Any) -> RunRecord:
    _get(manager, run_id)
    try:
        run: RunRecord = await coro
    except DecisionError as exc:
        raise HTTPException(exc.status, exc.message) from None
    return run


@router.post("/runs/{run_id}/pause", response_model=RunRecord, status_code=202)
async def pause_run(run_id: str, user: CurrentUser, manager: Manager) -> RunRecord:
    """Stop at the next step boundary."""
    require(user, "operate")
    return await _command(manager, run_id, manager.pause(run_id, user.user))


@router.post("/runs/{run_id}/resume", response_model=RunRecord, status_code=202)
async def resume_run(run_id: str, user: CurrentUser, manager: Manager) -> RunRecord:
    """Continue a paused or failed run from its last checkpoint."""
    require(user, "operate")
    return await _command(manager, run_id, manager.resume(run_id, user.user))


@router.post("/runs/{run_id}/cancel", response_model=RunRecord)
async def cancel_run(run_id: str, user: CurrentUser, manager: Manager) -> RunRecord:
    """Stop the run now; in-flight work is abandoned."""
    require(user, "operate")
    return await _command(manager, run_id, manager.cancel(run_id, user.user))


def _decision_route(action: str, role: str, doc: str) -> None:
    async def decide(run_id: str, body: DecisionIn, user: CurrentUser, manager: Manager) -> RunRecord:
        require(user, role)
        return await _command(
            manager, run_id,
            manager.decide(run_id, action, user.user, body.comment, None, body.interrupt_id),
        )

    decide.__doc__ = doc
    decide.__name__ = f"{action}_run"
    router.post(f"/runs/{{run_id}}/{action}", response_model=RunRecord, status_code=202, summary=doc)(decide)


_decision_route("approve", "approve", "Approve the pending plan or release")
_decision_route("reject", "approve", "Reject the plan or release (ends the run), or abort at a conflict or error")
_decision_route("retry", "decide", "Retry the failed step")
_decision_route("skip", "decide", "Skip the conflicting branch or the failed repository")


@router.post("/runs/{run_id}/amend", response_model=RunRecord, status_code=202)
async def amend_run(run_id: str, body: AmendIn, user: CurrentUser, manager: Manager) -> RunRecord:
    """Drop tickets, branches (`repo:branch`) or repositories from the plan, then re-plan."""
    require(user, "amend")
    return await _command(
        manager, run_id,
        manager.decide(run_id, "amend", user.user, body.comment, body.exclude.model_dump(), body.interrupt_id),
    )


@router.get("/runs/{run_id}/history")
async def run_history(run_id: str, user: CurrentUser, manager: Manager) -> dict[str, Any]:
    """The run's checkpoints, newest first (ids for re-run)."""
    require(user, "read")
    _get(manager, run_id)
    return {"checkpoints": await manager.history(run_id)}


@router.post("/runs/{run_id}/rerun", response_model=RunRecord, status_code=202)
async def rerun(run_id: str, body: RerunIn, user: CurrentUser, manager: Manager) -> RunRecord:
    """Run again from a checkpoint of the history, with a reason."""
    require(user, "operate")
    return await _command(manager, run_id, manager.rerun(run_id, body.checkpoint_id, body.reason, user.user))


@router.get(
    "/runs/{run_id}/events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}},
)
async def run_events(
    run_id: str,
    request: Request,
    user: CurrentUser,
    manager: Manager,
    last_event_id: str | None = Header(None, max_length=20),
    after: int | None = Query(None, ge=0),
    format: str | None = Query(None, pattern="^(json|sse)$"),
) -> Any:
    """The run's events as SSE (or `?format=json`); resumes after `Last-Event-ID`."""
    require(user, "read")
    _get(manager, run_id)
    start = parse_last_event_id(last_event_id, str(after) if after is not None else None)
    if format == "json":
        return EventList(events=manager.store.events(run_id, after=start))
    return event_stream(manager, run_id, start)


@router.get(
    "/events", responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}}
)
async def all_events(
    user: CurrentUser,
    manager: Manager,
    last_event_id: str | None = Header(None, max_length=20),
    after: int | None = Query(None, ge=0),
) -> Any:
    """Every run's events as SSE; resumes after `Last-Event-ID`."""
    require(user, "read")
    return event_stream(manager, None, parse_last_event_id(last_event_id, str(after) if after is not None else None))


@router.get("/config")
async def config(user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """What the new-run form offers: repositories, unreleased versions, the caller's roles."""
    require(user, "read")
    project = runtime.manager.context.project
    try:
        found = await asyncio.to_thread(runtime.clients.tracker.list_versions, project)
        versions = [v["name"] for v in found if not v["released"]]
    except Exception:  # the form still works without the suggestions
        versions = []
    return {
        "repositories": runtime.repositories,
        "fix_versions": versions,
        "release_types": ["major", "minor", "patch", "hotfix", "release"],
        "user": user.user,
        "roles": sorted(user.roles),
        "sandbox": runtime.sandbox_urls is not None,
    }


@router.get("/graph")
async def graph_shape(user: CurrentUser, manager: Manager) -> dict[str, Any]:
    """Nodes and edges of the workflow (with the repository leg), and its Mermaid drawing."""
    require(user, "read")
    drawn = manager.graph.get_graph(xray=1)
    return {
        "nodes": [{"id": n.id, "name": n.name} for n in drawn.nodes.values()],
        "edges": [{"source": e.source, "target": e.target, "conditional": e.conditional} for e in drawn.edges],
        "mermaid": drawn.draw_mermaid(),
    }


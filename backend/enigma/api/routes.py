"""REST routes for runs: start, list, inspect, steer, decide, history, re-run, events."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from enigma.api.deps import CurrentUser, Manager, RuntimeDep, require
from enigma.api.schemas import (
    AmendIn,
    Checkpoints,
    DecisionIn,
    ErrorOut,
    EventList,
    RerunIn,
    RunDetail,
    RunList,
    StepStatus,
)
from enigma.api.sse import MAX_EVENT_ID, event_stream, parse_last_event_id
from enigma.integrations.patience import run_blocking
from enigma.runs.manager import DecisionError, RunManager, UnknownRun
from enigma.runs.models import RunRecord, RunRequest, RunStatus

__all__ = ["router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422)
}
_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "model": EventList,
        "description": "The events as an SSE stream, or as JSON with `?format=json`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _query_names(dependant: Dependant) -> set[str]:
    names = {str(p.alias) for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def known_query(request: Request) -> None:
    """422 for a query parameter the route does not take (a typo would silently do nothing)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": f"unknown query parameter; this route takes: {takes}",
                    "type": "extra_forbidden",
                }
                for name in unknown
            ]
        )


router = APIRouter(prefix="/api", responses=_ERRORS, dependencies=[Depends(known_query)])

RunId = Annotated[str, Path(min_length=1, max_length=64, description="The run's id")]
LastEventId = Annotated[str | None, Header(max_length=32, description="Resume after this event id")]
After = Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID, description="Resume after this id")]


async def get_run_or_404(manager: RunManager, run_id: str) -> RunRecord:
    """The run, or 404 naming where to find the runs."""
    try:
        return await manager.get(run_id)
    except UnknownRun:
        raise HTTPException(404, f"no run {run_id!r}; GET /api/runs lists the runs") from None


async def _command(manager: RunManager, run_id: str, call: Awaitable[RunRecord]) -> RunRecord:
    try:
        return await call
    except UnknownRun:
        raise HTTPException(404, f"no run {run_id!r}; GET /api/runs lists the runs") from None
    except DecisionError as exc:
        raise HTTPException(exc.status, exc.message) from None


async def _steps(manager: RunManager, run_id: str) -> list[StepStatus]:
    steps: dict[tuple[str, str | None], StepStatus] = {}
    ended = {"step.finished": "done", "step.failed": "failed", "step.waiting": "waiting"}
    types = {"step.started", *ended}
    for event in await manager.store.events(run_id, limit=1_000_000, types=types):
        if event.type not in ("step.started", *ended) or event.step is None:
            continue
        key = (event.step, event.repo)
        current = steps.get(key) or StepStatus(
            step=event.step, repo=event.repo, status="pending", attempts=0
        )
        if event.type == "step.started":
            current.attempts = int(event.data.get("attempt", current.attempts + 1))
            current.status = "running"
        else:
            current.status = ended[event.type]
            current.duration_ms = event.data.get("duration_ms")
            current.summary = event.data.get("summary")
            current.error = event.data.get("error")
        steps[key] = current
    return list(steps.values())


@router.post(
    "/runs",
    status_code=201,
    response_model=RunRecord,
    summary="Start a release run",
    responses={200: {"model": RunRecord, "description": "The run this Idempotency-Key started"}},
)
async def start_run(
    body: RunRequest,
    response: Response,
    user: CurrentUser,
    manager: Manager,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
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
    status_filter: Annotated[RunStatus | None, Query(alias="status")] = None,
    fix_version: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[
        str | None,
        Query(max_length=100, description="A run id, fix version, repository or ticket key"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RunList:
    """Newest first, filtered by status, fix version, and a run id / repository / ticket."""
    require(user, "read")
    runs, total = await manager.store.list_runs(status_filter, fix_version, limit, offset, q)
    return RunList(runs=runs, total=total, limit=limit, offset=offset)


@router.get("/runs/{run_id}", response_model=RunDetail, summary="One run with its state and steps")
async def get_run(run_id: RunId, user: CurrentUser, manager: Manager) -> RunDetail:
    """Status, pending decisions, state summary and per-step status."""
    require(user, "read")
    run = await get_run_or_404(manager, run_id)
    return RunDetail(
        **run.model_dump(),
        state=await manager.state_view(run_id),
        steps=await _steps(manager, run_id),
    )


@router.post("/runs/{run_id}/pause", response_model=RunRecord, status_code=202)
async def pause_run(run_id: RunId, user: CurrentUser, manager: Manager) -> RunRecord:
    """Stop at the next step boundary (of each repository's leg)."""
    require(user, "operate")
    return await _command(manager, run_id, manager.pause(run_id, user.user))


@router.post("/runs/{run_id}/resume", response_model=RunRecord, status_code=202)
async def resume_run(run_id: RunId, user: CurrentUser, manager: Manager) -> RunRecord:
    """Continue a paused or failed run from its last checkpoint."""
    require(user, "operate")
    return await _command(manager, run_id, manager.resume(run_id, user.user))


@router.post("/runs/{run_id}/cancel", response_model=RunRecord)
async def cancel_run(run_id: RunId, user: CurrentUser, manager: Manager) -> RunRecord:
    """Stop the run now; in-flight work is abandoned."""
    require(user, "operate")
    return await _command(manager, run_id, manager.cancel(run_id, user.user))


Decision = Annotated[DecisionIn | None, Body()]


def _decision_route(action: str, role: str, doc: str) -> None:
    async def decide(
        run_id: RunId, user: CurrentUser, manager: Manager, body: Decision = None
    ) -> RunRecord:
        require(user, role)
        body = body or DecisionIn()
        call = manager.decide(
            run_id, action, user.user, body.comment, None, body.interrupt_id, user.roles
        )
        return await _command(manager, run_id, call)

    decide.__doc__ = f"{doc}. The body is optional."
    decide.__name__ = f"{action}_run"
    router.post(
        f"/runs/{{run_id}}/{action}", response_model=RunRecord, status_code=202, summary=doc
    )(decide)


# Coarse here (someone who may decide anything); the run's policy says, per decision, which
# roles may answer it, and the manager checks that.
_decision_route("approve", "decide", "Approve the pending plan or release")
_decision_route(
    "reject", "decide", "Reject the plan or release (ends the run), or abort at a conflict"
)
_decision_route("retry", "decide", "Retry the failed step of a pending error decision")
_decision_route(
    "skip",
    "decide",
    "Skip the conflicting branch, the failed repository, or a finalize operation done by hand",
)
_decision_route("abort", "decide", "Abort at a conflict or an error (the release ends failed)")


@router.post("/runs/{run_id}/amend", response_model=RunRecord, status_code=202)
async def amend_run(run_id: RunId, body: AmendIn, user: CurrentUser, manager: Manager) -> RunRecord:
    """Drop tickets, branches (`repo:branch`) or repositories from the plan, then re-plan."""
    require(user, "amend")
    exclude = body.exclude.model_dump()
    call = manager.decide(
        run_id, "amend", user.user, body.comment, exclude, body.interrupt_id, user.roles
    )
    return await _command(manager, run_id, call)


@router.get("/runs/{run_id}/history", response_model=Checkpoints)
async def run_history(run_id: RunId, user: CurrentUser, manager: Manager) -> Checkpoints:
    """The run's checkpoints, newest first (ids for re-run)."""
    require(user, "read")
    await get_run_or_404(manager, run_id)
    return Checkpoints.model_validate({"checkpoints": await manager.history(run_id)})


@router.post("/runs/{run_id}/rerun", response_model=RunRecord, status_code=202)
async def rerun(run_id: RunId, body: RerunIn, user: CurrentUser, manager: Manager) -> RunRecord:
    """Run again from a checkpoint of the history, with a reason."""
    require(user, "operate")
    call = manager.rerun(run_id, body.checkpoint_id, body.reason, user.user)
    return await _command(manager, run_id, call)


@router.get("/runs/{run_id}/events", response_model=None, responses=_SSE)
async def run_events(
    run_id: RunId,
    user: CurrentUser,
    manager: Manager,
    last_event_id: LastEventId = None,
    after: After = None,
    format: Annotated[str | None, Query(pattern="^(json|sse)$")] = None,
) -> Any:
    """The run's events as SSE (or `?format=json`); resumes after `Last-Event-ID`."""
    require(user, "read")
    await get_run_or_404(manager, run_id)
    start = parse_last_event_id(last_event_id, after)
    if format == "json":
        return EventList(events=await manager.store.events(run_id, after=start, limit=100_000))
    return event_stream(manager, run_id, start)


@router.get("/events", response_model=None, responses=_SSE)
async def all_events(
    user: CurrentUser,
    manager: Manager,
    last_event_id: LastEventId = None,
    after: After = None,
    format: Annotated[str | None, Query(pattern="^(json|sse)$")] = None,
) -> Any:
    """Every run's events as SSE (or `?format=json`); resumes after `Last-Event-ID`."""
    require(user, "read")
    start = parse_last_event_id(last_event_id, after)
    if format == "json":
        return EventList(events=await manager.store.events(None, after=start, limit=10_000))
    return event_stream(manager, None, start)


@router.get("/config")
async def config(user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """What the new-run form offers: repositories, unreleased versions, the caller's roles."""
    require(user, "read")
    project = runtime.manager.context.project
    try:
        found = await run_blocking(
            runtime.manager.io, runtime.clients.tracker.list_versions, project
        )
        versions = [v["name"] for v in found if not v["released"]]
    except Exception:  # the form still works without the suggestions
        versions = []
    return {
        "repositories": runtime.repositories,
        "default_repositories": runtime.default_repositories or runtime.repositories,
        "fix_versions": versions,
        "release_types": ["major", "minor", "patch", "hotfix", "release"],
        "user": user.user,
        "roles": sorted(user.roles),
        "four_eyes": runtime.settings.four_eyes,
        "policy_hash": runtime.policy.hash,
        "sandbox": runtime.sandbox_urls is not None,
    }


@router.get("/graph")
async def graph_shape(user: CurrentUser, manager: Manager) -> dict[str, Any]:
    """Nodes and edges of the workflow (with the repository leg), and its Mermaid drawing."""
    require(user, "read")
    drawn = manager.graph.get_graph(xray=1)
    return {
        "nodes": [{"id": n.id, "name": n.name} for n in drawn.nodes.values()],
        "edges": [
            {"source": e.source, "target": e.target, "conditional": e.conditional}
            for e in drawn.edges
        ],
        "mermaid": drawn.draw_mermaid(),
    }

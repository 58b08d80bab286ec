"""Follow a run in the terminal: live progress, prompts at decisions, a summary at the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
from typing import Any

from langchain_core.runnables import RunnableConfig
from rich.console import Console
from rich.prompt import Prompt
from rich.table import Table

from enigma.bootstrap import Runtime
from enigma.runs.manager import build_snapshot_summary
from enigma.runs.models import EventRecord, PendingDecision, RunRecord
from enigma.settings import Settings

__all__ = ["ask_decision", "earliest_unreleased", "event_line", "follow", "read_summary", "report"]

_DONE = {"succeeded", "failed", "cancelled", "paused"}


def earliest_unreleased(rt: Runtime) -> str:
    """The lowest unreleased fix version of the project."""
    versions = rt.clients.tracker.list_versions(rt.manager.context.project)

    def key(name: str) -> tuple[int, ...]:
        return tuple(int(p) if p.isdigit() else 0 for p in name.removeprefix("v").split("."))

    open_versions = sorted((v["name"] for v in versions if not v["released"]), key=key)
    if not open_versions:
        raise SystemExit("no unreleased fix version in Jira; pass --fix-version")
    return open_versions[0]


def read_summary(settings: Settings, run_id: str) -> dict[str, Any]:
    """The run's last checkpointed state, read with a synchronous saver (no clients needed)."""
    from enigma.graph import build_graph

    config = RunnableConfig(configurable={"thread_id": run_id})
    if settings.database_url is not None:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        schema = settings.database_schema
        with psycopg.connect(
            settings.database_url.get_secret_value(),
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
            options=f"-c search_path={schema}" if schema else "",
        ) as pg:
            snapshot = build_graph(PostgresSaver(pg)).get_state(config)
            return build_snapshot_summary(dict(snapshot.values))
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = settings.data_dir / "checkpoints.sqlite3"
    if not path.exists():
        return {}
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        snapshot = build_graph(SqliteSaver(conn)).get_state(config)
        return build_snapshot_summary(dict(snapshot.values))
    finally:
        conn.close()


def event_line(event: EventRecord) -> str | None:
    """One terminal line for an event of the log (None: not worth a line)."""
    where = f" [cyan]{event.repo}[/]" if event.repo else ""
    data = event.data
    if event.type == "step.started":
        attempt = f" (attempt {data['attempt']})" if data.get("attempt", 1) > 1 else ""
        return f"[dim]…[/] {event.step}{where}{attempt}"
    if event.type == "step.finished":
        took = f"[dim]{data.get('duration_ms', 0):.0f} ms[/]"
        return f"[green]✓[/] {event.step}{where} {took} {data.get('summary', '')}"
    if event.type == "step.failed":
        return f"[red]✗[/] {event.step}{where}: {data.get('error', '')}"
    if event.type == "decision.made":
        return f"[magenta]→[/] {event.actor} chose {data.get('action')} ({data.get('kind')})"
    if event.type == "run.status":
        return f"[bold]run {data.get('to')}[/] [dim]{data.get('reason', '')}[/]"
    return None


async def ask_decision(pending: PendingDecision, console: Console) -> dict[str, Any] | None:
    """Show a pending decision and ask for the answer (None: no terminal to ask in)."""
    payload = pending.payload
    if pending.kind == "plan_approval":
        _print_plan(payload.get("plan", {}), console)
    elif pending.kind == "conflict":
        files = ", ".join(payload.get("files", []))
        console.print(
            f"[yellow]Merge conflict[/] in {payload.get('repo')}: {payload.get('branch')} ({files})"
        )
    elif pending.kind == "error":
        err = payload.get("error", {})
        console.print(
            f"[red]Step {err.get('step')} failed[/] {err.get('repo') or ''}: {err.get('message')}"
        )
    elif pending.kind == "release_approval":
        for repo, pr in payload.get("pull_requests", {}).items():
            console.print(f"  {repo}: PR #{pr['number']} {pr['html_url']}")
        console.print(f"  notes: {payload.get('release_notes', {}).get('url', '-')}")
    if not sys.stdin.isatty():
        console.print(
            "[yellow]waiting for a decision[/]; no terminal to ask in. Answer it with "
            "`enigma resume RUN` in a terminal or through the API."
        )
        return None
    action = await asyncio.to_thread(
        Prompt.ask, f"{pending.kind}", choices=pending.choices, console=console
    )
    comment = await asyncio.to_thread(Prompt.ask, "comment", default="", console=console)
    exclude: dict[str, list[str]] = {}
    if action == "amend":
        for kind in ("tickets", "branches", "repositories"):
            raw = await asyncio.to_thread(
                Prompt.ask,
                f"exclude {kind} (comma-separated{', repo:branch' if kind == 'branches' else ''})",
                default="",
                console=console,
            )
            exclude[kind] = [x.strip() for x in raw.split(",") if x.strip()]
    return {"action": action, "comment": comment, "exclude": exclude}


def _print_plan(plan: dict[str, Any], console: Console) -> None:
    table = Table(
        "repository",
        "release branch",
        "from",
        "branch",
        "ticket",
        "prediction",
        title=f"Plan {plan.get('hash', '')}",
    )
    for repo in plan.get("repositories", []):
        for b in repo["branches"] or [{"branch": "-", "ticket": "", "predicted": ""}]:
            style = "red" if b["predicted"] == "conflict" else ""
            table.add_row(
                repo["repo"],
                repo["release_branch"],
                repo["base_ref"],
                b["branch"],
                b["ticket"] or "",
                f"[{style}]{b['predicted']}[/]" if style else b["predicted"],
            )
    console.print(table)
    if plan.get("tickets_without_branch"):
        console.print("tickets without branch: " + ", ".join(plan["tickets_without_branch"]))
    if plan.get("branches_without_ticket"):
        console.print("branches without ticket: " + ", ".join(plan["branches_without_ticket"]))


async def follow(rt: Runtime, run_id: str, *, as_json: bool, console: Console) -> int:
    """Show progress until the run ends, pauses or needs an answer nobody can give here."""
    manager = rt.manager
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    seen = 0
    async with manager.subscribe() as queue:
        for event in await manager.store.events(run_id, limit=1_000_000):
            seen = event.id
            if not as_json and (text := event_line(event)):
                console.print(text)
        while True:
            if interrupted.is_set():
                interrupted.clear()
                console.print("[yellow]Ctrl-C: pausing at the next step boundary…[/]")
                with contextlib.suppress(Exception):
                    await manager.pause(run_id, actor="cli")
            run = await manager.get(run_id)
            if run.status == "waiting_for_approval" and not manager.is_executing(run_id):
                answered = False
                for pending in run.pending:
                    answer = await ask_decision(pending, console)
                    if answer is None:
                        return await _finish(rt, run, as_json, console, code=3)
                    await manager.decide(
                        run_id,
                        answer["action"],
                        actor="cli",
                        comment=answer["comment"],
                        exclude=answer["exclude"],
                        interrupt_id=pending.interrupt_id,
                    )
                    answered = True
                    break
                if answered:
                    continue
            if run.status in _DONE and not manager.is_executing(run_id):
                return await _finish(rt, run, as_json, console)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    item = await queue.get()
                if isinstance(item, EventRecord) and item.run_id == run_id and item.id > seen:
                    seen = item.id
                    if not as_json and (text := event_line(item)):
                        console.print(text)


async def _finish(
    rt: Runtime, run: RunRecord, as_json: bool, console: Console, code: int | None = None
) -> int:
    snapshot = await rt.manager.graph.aget_state({"configurable": {"thread_id": run.id}})
    return report(run, dict(snapshot.values), as_json, console, code)


def report(
    run: RunRecord,
    values: dict[str, Any],
    as_json: bool,
    console: Console,
    code: int | None = None,
    resume_hint: str = "enigma resume {run_id}",
) -> int:
    """Print how the run ended (one JSON line with --json); the exit code to use."""
    prs = {repo: pr["html_url"] for repo, pr in (values.get("pull_requests") or {}).items()}
    summary = {
        "run_id": run.id,
        "status": run.status,
        "outcome": values.get("outcome"),
        "reason": values.get("outcome_reason"),
        "pull_requests": prs,
        "skipped": values.get("skipped") or [],
        "notes_url": (values.get("release_notes") or {}).get("url"),
        "tickets_done": (values.get("finalized") or {}).get("tickets", []),
    }
    if as_json:
        print(json.dumps(summary), flush=True)
    else:
        console.print(f"\n[bold]Run {run.id}: {run.status}[/] {summary['reason'] or ''}")
        for repo, url in prs.items():
            console.print(f"  PR {repo}: {url}")
        if summary["notes_url"]:
            console.print(f"  notes: {summary['notes_url']}")
        for skip in summary["skipped"]:
            console.print(
                f"  [yellow]skipped[/] {skip['repo']} {skip.get('branch') or ''}: {skip['reason']}"
            )
        if run.status == "paused":
            console.print(f"  continue with: {resume_hint.format(run_id=run.id)}")
    if code is not None:
        return code
    return 0 if run.status == "succeeded" else 1

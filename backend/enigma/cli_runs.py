"""`enigma runs` and `enigma show`: the run store read without starting anything.

Run ids are never shortened (they are pasted into `enigma resume`); what a run does now is
what it waits for (the pending decision, or the dependency it is blocked on), not the step it
was at when it started waiting.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rich.markup import escape
from rich.table import Table

from enigma.cli_report import summarize
from enigma.cli_term import make_console
from enigma.runs.models import EventRecord, PendingDecision, RunRecord
from enigma.settings import Settings

__all__ = ["list_runs", "now_doing", "show_run"]


def now_doing(run: RunRecord) -> str:
    """Where the run stands, in a few words: its outcome, or what it does or waits for."""
    if run.outcome is not None:
        return run.outcome
    if run.blocked:
        return f"blocked: {run.blocked}"
    if run.status == "waiting_for_approval" and run.pending:
        return "waits for " + ", ".join(_pending_words(p) for p in run.pending)
    if run.status in ("running", "paused") and run.current_step:
        return f"{run.status} at {run.current_step}"
    if run.status == "failed" and run.error:
        return f"failed: {run.error}"
    return run.status.replace("_", " ")


def _pending_words(pending: PendingDecision) -> str:
    payload = pending.payload
    repo = payload.get("repo") or (payload.get("error") or {}).get("repo")
    words = pending.kind.replace("_", " ")
    return f"{words} in {repo}" if repo else words


def list_runs(settings: Settings, status: str | None, as_json: bool) -> None:
    """Print the newest runs (all of them with --json)."""
    from enigma.bootstrap import open_store

    async def read() -> tuple[list[RunRecord], int]:
        store = await open_store(settings)
        try:
            return await store.list_runs(status, None, 100, 0)
        finally:
            await store.close()

    runs, total = asyncio.run(read())
    if as_json:
        print(json.dumps([r.model_dump() for r in runs]))
        return
    out = make_console()
    table = Table(box=None, pad_edge=False)
    table.add_column("run", no_wrap=True, min_width=max([len(r.id) for r in runs] or [3]))
    table.add_column("version", no_wrap=True)
    table.add_column("by", no_wrap=True)
    table.add_column("state", min_width=20, ratio=1)
    table.add_column("repositories", overflow="fold", ratio=1)
    for r in runs:
        table.add_row(
            r.id,
            f"{r.fix_version} {r.release_type}",
            escape(r.actor),
            escape(now_doing(r)),
            escape(", ".join(r.repositories)),
        )
    out.print(table)
    make_console(stderr=True).print(f"{total} {'run' if total == 1 else 'runs'}")


def show_run(settings: Settings, run_id: str, as_json: bool) -> int:
    """Print one run: where it stands or how it ended, and its messages; the exit code."""
    from enigma.bootstrap import open_store
    from enigma.cli_follow import read_summary

    async def read() -> tuple[RunRecord | None, list[EventRecord]]:
        store = await open_store(settings)
        try:
            return await store.get(run_id), await store.events(run_id, limit=1_000_000)
        finally:
            await store.close()

    run, events = asyncio.run(read())
    if run is None:
        make_console(stderr=True).print(
            f"[red]error:[/] no run {escape(run_id)}; `enigma runs` lists them"
        )
        return 2
    state = read_summary(settings, run_id)
    if as_json:
        body: dict[str, Any] = {
            "run": run.model_dump(),
            "summary": summarize(run, state),
            "state": state,
            "events": [e.model_dump() for e in events],
        }
        print(json.dumps(body, default=str))
        return 0
    out = make_console()
    out.print(
        f"[bold]{run.id}[/] {escape(now_doing(run))}  {run.fix_version} {run.release_type}"
        f"  by {escape(run.actor)}"
    )
    reason = summarize(run, state)["reason"]
    if reason and run.outcome is not None:
        out.print(f"  {escape(str(reason))}")
    for note in state.get("notes") or []:
        out.print(f"  - {escape(note['text'])}")
    out.print(f"  {len(events)} events")
    return 0

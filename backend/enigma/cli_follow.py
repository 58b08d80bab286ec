"""Follow a run in the terminal: live progress, prompts at decisions, a summary at the end.

Ctrl-C (counted by `Interrupts`, never a KeyboardInterrupt) pauses the run at its next step
boundary; from then on nothing is asked, and once the run stands still (paused, or waiting for
a decision it reached first) the summary says how to continue it. At a prompt a press leaves
the decision open. A second press stops waiting: this process stops executing the run at
once (it is left queued or running, and `enigma resume` takes it up again).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from typing import Any

from langchain_core.runnables import RunnableConfig
from rich.console import Console
from rich.markup import escape

from enigma.bootstrap import Runtime
from enigma.cli_prompt import ask_decision, show_decision
from enigma.cli_report import event_line, report
from enigma.cli_term import Interrupted, Interrupts
from enigma.runs.decisions import DecisionError
from enigma.runs.manager import build_snapshot_summary
from enigma.runs.models import EventRecord, RunRecord
from enigma.settings import Settings

__all__ = ["earliest_unreleased", "follow", "read_summary"]

_STILL = {"succeeded", "failed", "cancelled", "paused"}
INTERRUPTED = 130
"""Exit code after Ctrl-C (the shell's 128 + SIGINT)."""
UNANSWERED = 3
"""Exit code when the run waits for a decision nobody here gives."""


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


class _Follower:
    """One run followed to where it stands still (see the module docstring)."""

    def __init__(
        self,
        rt: Runtime,
        run_id: str,
        *,
        user: str,
        as_json: bool,
        console: Console,
        interrupts: Interrupts,
        resume_hint: str,
    ):
        self.rt, self.m, self.run_id, self.user = rt, rt.manager, run_id, user
        self.as_json, self.console, self.interrupts = as_json, console, interrupts
        self.resume_hint = resume_hint
        self.handled = 0  # Ctrl-C presses acted on
        self.pausing = False
        self.approved: set[str] = set()  # interrupts this person approved, waiting for others
        self.seen = 0

    def say(self, text: str) -> None:
        """A line for the person (stderr, also with --json)."""
        self.console.print(text)

    def show(self, event: EventRecord) -> None:
        """Print the event's line, once, if it is this run's and worth a line."""
        if event.run_id != self.run_id or event.id <= self.seen:
            return
        self.seen = event.id
        if not self.as_json and (text := event_line(event)):
            self.console.print(text)

    async def run(self) -> int:
        """Follow until the run stands still or waits for an answer nobody gives here."""
        async with self.m.subscribe() as queue:
            for event in await self.m.store.events(self.run_id, limit=1_000_000):
                self.show(event)
            while True:
                while not queue.empty():  # what happened so far, before anything is asked
                    item = queue.get_nowait()
                    if isinstance(item, EventRecord):
                        self.show(item)
                if self.interrupts.count > self.handled:
                    code = await self.on_interrupt()
                    if code is not None:
                        return code
                run = await self.m.get(self.run_id)
                executing = self.m.is_executing(self.run_id)
                if run.status == "waiting_for_approval" and not executing:
                    if self.pausing:
                        return await self.finish(run, INTERRUPTED)
                    code = await self.decide(run)
                    if code is not None:
                        return code
                elif run.status in _STILL and not executing:
                    return await self.finish(run, INTERRUPTED if self.pausing else None)
                if queue.empty():
                    await self.interrupts.wait(0.25)

    async def on_interrupt(self) -> int | None:
        """Ctrl-C: pause at the next boundary; pressed again, stop waiting for it."""
        first = self.handled == 0
        self.handled = self.interrupts.count
        if not first or self.handled > 1:
            self.say("\n[yellow]Ctrl-C again: stopping here; the run stays resumable.[/]")
            await self.m.shutdown(timeout=1.0)
            return await self.finish(await self.m.get(self.run_id), INTERRUPTED)
        run = await self.m.get(self.run_id)
        self.pausing = True
        if run.status not in ("queued", "running"):
            return None  # waiting or stopped: nothing runs that could be paused
        self.say(
            f"\n[yellow]Ctrl-C: pausing run {run.id} at the next step boundary…[/] "
            "[dim](Ctrl-C again to stop waiting)[/]"
        )
        # DecisionError: it reached a decision or its end meanwhile, and stands still anyway
        with contextlib.suppress(DecisionError):
            await self.m.pause(self.run_id, actor=self.user)
        return None

    async def decide(self, run: RunRecord) -> int | None:
        """Ask for the first pending decision this person has not answered; None: go on."""
        pending = next((p for p in run.pending if p.interrupt_id not in self.approved), None)
        if pending is None:
            return None  # approved here; others have yet to approve: keep following
        if not self.as_json:
            self.console.print()
        show_decision(pending, self.console)
        if not sys.stdin.isatty():
            self.say(
                "[yellow]The run waits for a decision[/]; there is no terminal to ask in "
                "(answer it in a terminal, or through the API)."
            )
            return await self.finish(run, UNANSWERED)
        prompt = asyncio.ensure_future(ask_decision(pending, self.console, self.interrupts))
        elsewhere = asyncio.ensure_future(self.answered_elsewhere(pending.interrupt_id))
        await asyncio.wait({prompt, elsewhere}, return_when=asyncio.FIRST_COMPLETED)
        if not prompt.done():  # someone else answered it (the web page, another terminal)
            prompt.cancel()
            with contextlib.suppress(asyncio.CancelledError, Interrupted):
                await prompt
            self.say(f"\n[magenta]{elsewhere.result()}[/]")
            return None
        elsewhere.cancel()
        try:
            answer = prompt.result()
        except Interrupted:
            self.handled = self.interrupts.count
            self.say(f"\n[yellow]Ctrl-C: the {_words(pending.kind)} is left unanswered.[/]")
            return await self.finish(await self.m.get(self.run_id), INTERRUPTED)
        if answer is None:
            self.say(f"\n[yellow]End of input: the {_words(pending.kind)} is left unanswered.[/]")
            return await self.finish(await self.m.get(self.run_id), UNANSWERED)
        try:
            after = await self.m.decide(
                self.run_id,
                answer.action,
                actor=self.user,
                comment=answer.comment,
                exclude=answer.exclude,
                interrupt_id=pending.interrupt_id,
                roles=None,  # the person at this terminal is trusted as the local user
            )
        except DecisionError as exc:
            self.say(f"[red]Not accepted:[/] {escape(exc.message)}")
            return None  # asked again (or moved on, if someone else answered first)
        still = next((p for p in after.pending if p.interrupt_id == pending.interrupt_id), None)
        if still is not None and after.status == "waiting_for_approval":
            self.approved.add(pending.interrupt_id)
            needed = int((still.payload.get("approval") or {}).get("approvers") or 1)
            got = still.payload.get("approved_by") or [self.user]
            self.say(
                f"[magenta]Approved ({len(got)} of {needed} approvals);[/] waiting for "
                f"{needed - len(got)} more (Ctrl-C leaves; the run waits on)."
            )
        return None

    async def answered_elsewhere(self, interrupt_id: str) -> str:
        """Return (with who answered) once the decision is no longer pending."""
        while True:
            await asyncio.sleep(0.5)
            run = await self.m.get(self.run_id)
            if any(p.interrupt_id == interrupt_id for p in run.pending):
                continue
            answers = await self.m.store.events(
                self.run_id, limit=1_000_000, types={"decision.made"}
            )
            by = [e for e in answers if e.data.get("interrupt_id") == interrupt_id]
            if by:
                return f"Answered meanwhile: {by[-1].actor} chose {by[-1].data.get('action')}."
            return f"No longer waiting for an answer (the run is {run.status})."

    async def finish(self, run: RunRecord, code: int | None) -> int:
        """Print the summary (with the resume command when the run can go on); the exit code."""
        snapshot = await self.m.graph.aget_state({"configurable": {"thread_id": run.id}})
        values = dict(snapshot.values)
        return report(run, values, self.as_json, self.console, code, self.resume_hint)


def _words(kind: str) -> str:
    return kind.replace("_", " ")


async def follow(
    rt: Runtime,
    run_id: str,
    *,
    user: str,
    as_json: bool,
    console: Console,
    interrupts: Interrupts,
    resume_hint: str,
) -> int:
    """Show progress until the run stands still or needs an answer nobody gives here."""
    follower = _Follower(
        rt,
        run_id,
        user=user,
        as_json=as_json,
        console=console,
        interrupts=interrupts,
        resume_hint=resume_hint,
    )
    return await follower.run()

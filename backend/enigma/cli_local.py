"""`enigma run` and `enigma resume` in this process: sandbox, runtime, the run, following it.

Ctrl-C is taken by the event loop from the first line on (`Interrupts`), so a press while the
sandbox or the runtime starts is no traceback either: before the run exists it ends the
command; after, the follow loop pauses the run (see `cli_follow`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rich.console import Console
from rich.markup import escape

from enigma.cli_follow import INTERRUPTED, follow
from enigma.cli_sandbox import SandboxError, sandbox_process
from enigma.cli_term import Interrupts, enigma_command, local_user
from enigma.runs.decisions import DecisionError, UnknownRun
from enigma.settings import Settings

__all__ = ["resume_local", "run_local"]


def _log_to_file(settings: Settings) -> None:
    """Warnings and errors of the run go to `<data_dir>/cli.log`, not between the progress lines.

    The terminal shows every failure as a step line already; Python's last-resort handler would
    print the same warning again (and a logged exception's traceback) in the middle of it.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(settings.data_dir / "cli.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)  # at the root's level: warnings and worse


_BUSY = re.compile(r"run (run-[0-9a-f]+) is already releasing (\S+) \((\w+)\)")


async def run_local(request: dict[str, Any], *, as_json: bool, console: Console) -> int:
    """Start a run from `request` (fix_version None: the earliest unreleased) and follow it."""
    from pydantic import ValidationError

    from enigma.bootstrap import open_runtime
    from enigma.cli_follow import earliest_unreleased
    from enigma.runs.models import RunRequest

    interrupts = Interrupts().install()
    settings = Settings()
    _log_to_file(settings)
    user = local_user()
    try:
        async with sandbox_process(settings), open_runtime(settings, recover=False) as rt:
            if interrupts.count:
                console.print("\nInterrupted before the run started; nothing was started.")
                return INTERRUPTED
            body = dict(request)
            body["fix_version"] = body["fix_version"] or earliest_unreleased(rt)
            body["repositories"] = (
                body["repositories"] or rt.default_repositories or rt.repositories
            )
            try:
                parsed = RunRequest.model_validate(body)
            except ValidationError as exc:
                for err in exc.errors():
                    field = ".".join(str(p) for p in err["loc"])
                    msg = err["msg"].removeprefix("Value error, ")
                    console.print(f"[red]error:[/] {field}: {escape(msg)}")
                return 2
            try:
                run, _ = await rt.manager.start(parsed, actor=user)
            except DecisionError as exc:
                console.print(_refusal(exc))
                return 2
            what = ", dry run" if parsed.dry_run else ""
            console.print(
                f"Run [bold]{run.id}[/] started (fix version {run.fix_version}{what}; "
                f"{', '.join(run.repositories)}) by {escape(user)}",
            )
            return await follow(
                rt,
                run.id,
                user=user,
                as_json=as_json,
                console=console,
                interrupts=interrupts,
                resume_hint=f"{enigma_command()} resume {run.id}",
            )
    except SandboxError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2


async def resume_local(run_id: str, *, as_json: bool, console: Console) -> int:
    """Continue a paused, failed, interrupted or waiting run and follow it."""
    from enigma.bootstrap import open_runtime

    interrupts = Interrupts().install()
    settings = Settings()
    _log_to_file(settings)
    user = local_user()
    try:
        async with sandbox_process(settings), open_runtime(settings, recover=False) as rt:
            try:
                run = await rt.manager.get(run_id)
                if interrupts.count:
                    console.print(f"Interrupted; run {run_id} was left as it was ({run.status}).")
                    return INTERRUPTED
                if run.status in ("paused", "failed"):
                    await rt.manager.resume(run_id, actor=user)
                    said = f"resumed by {escape(user)}"
                elif run.status in ("queued", "running"):
                    await rt.manager.adopt(run_id)
                    said = f"taken up by {escape(user)} where it was interrupted"
                elif run.status == "waiting_for_approval":
                    kinds = " and the ".join(p.kind.replace("_", " ") for p in run.pending)
                    said = f"waits for the {kinds}" if kinds else "waits for a decision"
                else:
                    said = "has ended"
            except UnknownRun:
                console.print(f"[red]error:[/] no run {escape(run_id)}; `enigma runs` lists them")
                return 2
            except DecisionError as exc:
                console.print(_refusal(exc))
                return 2
            console.print(f"Run [bold]{run_id}[/] ({run.fix_version}) {said}")
            return await follow(
                rt,
                run_id,
                user=user,
                as_json=as_json,
                console=console,
                interrupts=interrupts,
                resume_hint=f"{enigma_command()} resume {run_id}",
            )
    except SandboxError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2


def _refusal(exc: DecisionError) -> str:
    """The manager's refusal, with the command to use when another run has the version."""
    busy = _BUSY.search(exc.message)
    if busy is None:
        return f"[red]error:[/] {escape(exc.message)}"
    other, version, status = busy.groups()
    command = enigma_command()
    return (
        f"[red]error:[/] run {other} is already releasing {version} ({status}); "
        f"one run per version. Follow it with [bold]{command} resume {other}[/] "
        f"(or see it with {command} show {other})."
    )

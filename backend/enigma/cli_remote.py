"""`enigma run --url`: a release through a running Enigma service, followed over SSE.

Without `--url` the CLI runs the release in its own process on the data directory. With a
service running on that directory that would make two run managers share its files, so the
service's greeting points at this mode instead: the run is started with the REST API, its
events are read from the SSE stream (reconnecting with `Last-Event-ID` when the service
restarts), and decisions are asked here and answered through the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from rich.console import Console
from rich.markup import escape

from enigma.cli_prompt import ask_decision, show_decision
from enigma.cli_report import event_line, report
from enigma.cli_term import Interrupted, Interrupts
from enigma.runs.models import EventRecord, PendingDecision, RunRecord

__all__ = ["RemoteError", "run_remote", "run_remote_command"]

# The API route that gives a pending decision each answer the graph accepts.
_ROUTE = {
    "approve": "approve",
    "reject": "reject",
    "amend": "amend",
    "retry": "retry",
    "skip": "skip",
    "abort": "reject",
}
_STOPPED = {"succeeded", "failed", "cancelled", "paused"}


class RemoteError(Exception):
    """The service refused or could not be reached."""


def _check(answer: httpx.Response) -> dict[str, Any]:
    if answer.status_code >= 400:
        try:
            detail = answer.json().get("detail", answer.text)
        except ValueError:
            detail = answer.text
        raise RemoteError(f"{answer.request.method} {answer.request.url.path}: {detail}")
    body: dict[str, Any] = answer.json()
    return body


def run_remote_command(
    url: str, token: str | None, request: dict[str, Any], *, as_json: bool, console: Console
) -> int:
    """`enigma run --url`: the exit code (2 when the service refuses or cannot be reached)."""
    if not token:
        console.print("[red]error:[/] --url needs --token or ENIGMA_API_TOKEN")
        return 2
    try:
        return asyncio.run(run_remote(url, token, request, as_json=as_json, console=console))
    except RemoteError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2


async def run_remote(
    url: str, token: str, request: dict[str, Any], *, as_json: bool, console: Console
) -> int:
    """Start a run on the service and follow it to its end; the exit code.

    Ctrl-C (at a prompt too) detaches: the run goes on in the service.
    """
    interrupts = Interrupts().install()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        if not request.get("fix_version") or not request.get("repositories"):
            config = _check(await http.get("/api/config"))
            if not request.get("repositories"):
                request["repositories"] = config["repositories"]
            if not request.get("fix_version"):
                if not config["fix_versions"]:
                    raise RemoteError("no unreleased fix version; pass --fix-version")
                request["fix_version"] = min(config["fix_versions"], key=_version_key)
        run = _check(await http.post("/api/runs", json=request))
        console.print(
            f"Run [bold]{run['id']}[/] started (fix version {run['fix_version']}) on {url}"
        )
        following = asyncio.ensure_future(
            _follow(http, run["id"], as_json=as_json, console=console, interrupts=interrupts)
        )
        pressed = asyncio.ensure_future(interrupts.pressed.wait())
        await asyncio.wait({following, pressed}, return_when=asyncio.FIRST_COMPLETED)
        pressed.cancel()
        if not following.done():
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError, Interrupted):
                await following
        elif not isinstance(following.exception(), Interrupted):
            return following.result()
        console.print(
            f"\n[yellow]Detached from run {run['id']}[/]; it goes on in the service "
            f"({url}/, GET /api/runs/{run['id']})."
        )
        return 130


async def _follow(
    http: httpx.AsyncClient,
    run_id: str,
    *,
    as_json: bool,
    console: Console,
    interrupts: Interrupts,
) -> int:
    last = 0
    while True:
        try:
            async with aconnect_sse(
                http,
                "GET",
                f"/api/runs/{run_id}/events",
                headers={"Last-Event-ID": str(last)},
                timeout=httpx.Timeout(30, read=None),
            ) as source:
                async for sse in source.aiter_sse():
                    if not sse.id:  # pings, and the shutdown notice: reconnect below
                        continue
                    event = EventRecord.model_validate_json(sse.data)
                    last = event.id
                    if not as_json and (text := event_line(event)):
                        console.print(text)
                    if event.type != "run.status":
                        continue
                    code = await _on_status(
                        http, run_id, str(event.data.get("to")), as_json, console, interrupts
                    )
                    if code is not None:
                        return code
        except httpx.TransportError:
            if not as_json:
                console.print("[yellow]lost the service; reconnecting…[/]")
        await asyncio.sleep(1.0)


async def _on_status(
    http: httpx.AsyncClient,
    run_id: str,
    status: str,
    as_json: bool,
    console: Console,
    interrupts: Interrupts,
) -> int | None:
    """Ask for a pending decision, or report the end; None to keep following."""
    if status != "waiting_for_approval" and status not in _STOPPED:
        return None
    detail = _check(await http.get(f"/api/runs/{run_id}"))
    run = RunRecord.model_validate({k: v for k, v in detail.items() if k in RunRecord.model_fields})
    hint = f"POST /api/runs/{run_id}/resume"
    if run.status in _STOPPED:
        return report(run, detail.get("state") or {}, as_json, console, resume_hint=hint)
    if run.status != "waiting_for_approval" or not run.pending:
        return None  # an old event of the backlog; the run moved on since
    pending: PendingDecision = run.pending[0]
    console.print()
    show_decision(pending, console)
    answer = None
    if sys.stdin.isatty():
        answer = await ask_decision(pending, console, interrupts)
    else:
        console.print(
            "[yellow]The run waits for a decision[/]; there is no terminal to ask in "
            "(answer it on the web page or through the API)."
        )
    if answer is None:
        return report(run, detail.get("state") or {}, as_json, console, code=3)
    body: dict[str, Any] = {"comment": answer.comment, "interrupt_id": pending.interrupt_id}
    if answer.action == "amend":
        body["exclude"] = answer.exclude
    route = _ROUTE[answer.action]
    try:
        _check(await http.post(f"/api/runs/{run_id}/{route}", json=body))
    except RemoteError as exc:  # not allowed (ask again), or answered meanwhile (follow on)
        console.print(f"[red]Not accepted:[/] {escape(str(exc))}")
        return await _on_status(http, run_id, status, as_json, console, interrupts)
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in name.removeprefix("v").split("."))

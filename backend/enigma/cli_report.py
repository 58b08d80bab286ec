"""What the terminal shows of a run: one line per event worth a line, and how the run ended.

The summary says what happened in the run's own terms (`outcome` and `detail` of the run's
record, see `RunRecord.detail`): what was released, what was left out and why, which tickets
were not shipped, what was done by hand; who rejected or cancelled it and when; why it was
refused; where it failed and what the service said. `--json` prints the same as one line.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape

from enigma.runs.models import EventRecord, RunRecord

__all__ = ["event_line", "report", "summarize"]

_STOPS = {"pause", "shutdown"}
_QUIET_STATUSES = {"queued", "running", "succeeded", "failed", "cancelled"}


def event_line(event: EventRecord) -> str | None:
    """One terminal line for an event of the log (None: not worth a line)."""
    where = f" [cyan]{escape(event.repo)}[/]" if event.repo else ""
    data = event.data
    if event.type == "step.started":
        attempt = f" (attempt {data['attempt']})" if data.get("attempt", 1) > 1 else ""
        return f"[dim]…[/] {event.step}{where}{attempt}"
    if event.type == "step.finished":
        took = f"[dim]{data.get('duration_ms', 0):.0f} ms[/]"
        return f"[green]✓[/] {event.step}{where} {took} {escape(str(data.get('summary', '')))}"
    if event.type == "step.failed":
        error = str(data.get("error", ""))
        if error in _STOPS:  # not a failure: the step was stopped, and runs again on resume
            return f"[yellow]■[/] {event.step}{where} [dim]stopped ({error})[/]"
        return f"[red]✗[/] {event.step}{where}: {escape(error)}"
    if event.type == "decision.made":
        if data.get("partial"):
            got, needed = len(data.get("approvers") or []), data.get("required")
            return (
                f"[magenta]→[/] {escape(str(event.actor))} approved ({got} of {needed} approvals)"
            )
        return (
            f"[magenta]→[/] {escape(str(event.actor))} chose {data.get('action')} "
            f"({data.get('kind')})"
        )
    if event.type == "run.status":
        to, reason = str(data.get("to")), str(data.get("reason") or "")
        if to in _QUIET_STATUSES:
            return None  # decisions and steps say it; the summary says how it ended
        if to == "waiting_for_approval":
            return f"[yellow]⏸ waiting for {escape(reason.replace('_', ' ') or 'a decision')}[/]"
        said = f" [dim]— {escape(reason)}[/]" if reason and reason != to else ""
        return f"[bold]run {to}[/]{said}"
    if event.type == "run.blocked":
        return f"[yellow]blocked:[/] {escape(str(data.get('cause')))} [dim](waiting it out)[/]"
    if event.type == "run.unblocked":
        return "[green]unblocked[/]"
    if event.type == "run.pause_requested":
        return f"[yellow]pause requested[/] by {escape(str(event.actor))}"
    return None


def summarize(run: RunRecord, values: dict[str, Any]) -> dict[str, Any]:
    """How the run ended (or where it stands), from its record and its last state."""
    detail = dict(run.detail or values.get("outcome_detail") or {})
    prs = detail.get("pull_requests") or {
        repo: pr["html_url"] for repo, pr in (values.get("pull_requests") or {}).items()
    }
    tickets_done = detail.get("tickets_done")
    if tickets_done is None:
        tickets_done = (values.get("finalized") or {}).get("tickets", [])
    return {
        "run_id": run.id,
        "status": run.status,
        "outcome": run.outcome or values.get("outcome"),
        "reason": detail.get("reason") or values.get("outcome_reason") or run.error,
        "detail": detail,
        "fix_version": run.fix_version,
        "pull_requests": prs,
        "skipped": values.get("skipped") or [],
        "notes_url": detail.get("notes") or (values.get("release_notes") or {}).get("url"),
        "tickets_done": list(tickets_done),
        "waiting_for": [p.kind for p in run.pending]
        if run.status == "waiting_for_approval"
        else [],
        "blocked": run.blocked,
    }


def report(
    run: RunRecord,
    values: dict[str, Any],
    as_json: bool,
    console: Console,
    code: int | None = None,
    resume_hint: str | None = None,
) -> int:
    """Print how the run ended (one JSON line with --json); the exit code to use.

    `resume_hint`: the command that continues the run, shown (and put in the JSON as
    `resume`) when the run can be continued.
    """
    summary = summarize(run, values)
    open_ended = run.status in ("paused", "waiting_for_approval", "queued", "running", "failed")
    if resume_hint and open_ended and run.outcome is None:
        summary["resume"] = resume_hint
    if as_json:
        print(json.dumps(summary, default=str), flush=True)
    else:
        _print(summary, run, console)
    if code is not None:
        return code
    return 0 if run.status == "succeeded" else 1


def _print(summary: dict[str, Any], run: RunRecord, console: Console) -> None:
    outcome, detail = summary["outcome"], summary["detail"]
    head = outcome or run.status.replace("_", " ")
    console.print(f"\n[bold]Run {run.id} ({run.fix_version}): {_headline(head, summary)}[/]")
    for line in _detail_lines(outcome, detail, summary):
        console.print(f"  {line}")
    if summary.get("resume"):
        verb = "answer it" if run.status == "waiting_for_approval" else "continue"
        console.print(f"  {verb} with: [bold]{escape(summary['resume'])}[/]")


def _headline(head: str, summary: dict[str, Any]) -> str:
    detail = summary["detail"]
    if head == "succeeded":
        return f"released {summary['fix_version']}"
    if head == "partial":
        return f"released {summary['fix_version']} in part"
    if head == "planned":
        return "planned (dry run; nothing was changed)"
    if head == "rejected":
        return f"rejected ({detail.get('rejected', 'release')} rejected)"
    if head in ("queued", "running"):
        return "stopped mid-run (nothing is lost: it goes on from its last step)"
    if head == "waiting for approval":
        kinds = [k.replace("_", " ") for k in summary["waiting_for"]] or ["a decision"]
        return "waiting for the " + " and the ".join(kinds)
    return escape(head)


def _detail_lines(
    outcome: str | None, detail: dict[str, Any], summary: dict[str, Any]
) -> list[str]:
    lines: list[str] = []
    whole = [*(detail.get("left_out") or []), *summary["skipped"]]
    left_out = {item["repo"] for item in whole if not item.get("branch")}
    for repo, url in summary["pull_requests"].items():
        note = " [yellow](left out: not merged)[/]" if repo in left_out else ""
        lines.append(f"PR {escape(repo)}: {escape(str(url))}{note}")
    if summary["notes_url"]:
        lines.append(f"release notes: {escape(str(summary['notes_url']))}")
    if outcome in ("succeeded", "partial") and summary["tickets_done"]:
        n = len(summary["tickets_done"])
        done = escape(", ".join(summary["tickets_done"]))
        lines.append(f"{n} {'ticket' if n == 1 else 'tickets'} done: {done}")
    for item in detail.get("left_out") or []:
        branch = f" {item['branch']}" if item.get("branch") else ""
        lines.append(
            f"[yellow]left out[/] {escape(item['repo'] + branch)}: {escape(str(item['reason']))}"
        )
    if detail.get("not_shipped"):
        lines.append(f"[yellow]not shipped:[/] {escape(', '.join(detail['not_shipped']))}")
    for op in detail.get("done_by_hand") or []:
        note = f": {op['note']}" if op.get("note") else ""
        lines.append(
            f"[yellow]done by hand[/] {escape(str(op['operation']))} by {op.get('by')}{note}"
        )
    if outcome == "rejected":
        comment = f': "{detail["comment"]}"' if detail.get("comment") else ""
        lines.append(
            f"by {escape(str(detail.get('by')))} at {_when(detail.get('at'))}{escape(comment)}"
        )
    elif outcome == "refused":
        lines.append(f"refused: {escape(str(detail.get('reason') or summary['reason']))}")
    elif outcome == "cancelled":
        flight = detail.get("in_flight") or []
        during = f" while {', '.join(flight)} ran" if flight else ""
        lines.append(f"by {escape(str(detail.get('by')))} at {_when(detail.get('at'))}{during}")
    elif outcome == "failed" or (outcome is None and summary["status"] == "failed"):
        where = detail.get("where") or "?"
        what = detail.get("what") or summary["reason"] or "?"
        lines.append(f"[red]failed in {escape(str(where))}:[/] {escape(str(what))}")
    if summary["blocked"]:
        lines.append(f"[yellow]blocked:[/] {escape(summary['blocked'])}")
    return lines


def _when(at: Any) -> str:
    """`at` (epoch seconds or an ISO 8601 string) as local time."""
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at).timestamp()
        except ValueError:
            return escape(at)
    if isinstance(at, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    return "?"

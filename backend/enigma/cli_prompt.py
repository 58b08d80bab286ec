"""A pending decision on the terminal: what answering it does, then the question itself.

Each kind says what its choices mean in this run: the plan as a table; a conflict with the
branch it conflicts with and the compare link; an error with whether retrying can help; the
release approval with exactly what approving does (`payload.will`) and what it leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from enigma.cli_term import Interrupts, ask
from enigma.runs.models import PendingDecision

__all__ = ["Answer", "ask_decision", "show_decision"]


@dataclass(frozen=True)
class Answer:
    """What the person at the terminal chose."""

    action: str
    comment: str = ""
    exclude: dict[str, list[str]] = field(default_factory=dict)


def show_decision(pending: PendingDecision, console: Console) -> None:
    """Print what the decision is about and what each answer would do."""
    payload = pending.payload
    if pending.kind == "plan_approval":
        _show_plan(payload.get("plan") or {}, console)
    elif pending.kind == "conflict":
        _show_conflict(payload, console)
    elif pending.kind == "error":
        _show_error(payload, console)
    elif pending.kind == "release_approval":
        _show_release(payload, console)
    else:
        console.print(f"[yellow]The run asks: {escape(pending.kind)}[/]")
    _show_approvals(payload, console)


async def ask_decision(
    pending: PendingDecision, console: Console, interrupts: Interrupts
) -> Answer | None:
    """Ask for the answer (None: end of input); Interrupted when Ctrl-C is pressed."""
    choices, default = _choices(pending)
    action = await ask(console, "Your answer", interrupts, choices, default)
    if action is None:
        return None
    comment = await ask(console, "Comment (optional)", interrupts)
    if comment is None:
        return None
    exclude: dict[str, list[str]] = {}
    if action == "amend":
        for kind, example in (
            ("tickets", "ENG-101"),
            ("branches", "repo:branch"),
            ("repositories", "web-app"),
        ):
            raw = await ask(
                console, f"Leave out {kind} (comma-separated, e.g. {example})", interrupts
            )
            if raw is None:
                return None
            exclude[kind] = [x.strip() for x in raw.split(",") if x.strip()]
    return Answer(action, comment, exclude)


def _choices(pending: PendingDecision) -> tuple[list[str], str | None]:
    """The choices in the order to offer them, and the default (if one is safe)."""
    choices = list(pending.choices)
    if pending.kind == "error" and "retry" in choices:
        if pending.payload.get("retry_helps"):
            return choices, "retry"
        # retrying the same call fails the same way: offer it last, and never by default
        return [c for c in choices if c != "retry"] + ["retry"], None
    return choices, None


def _show_approvals(payload: dict[str, Any], console: Console) -> None:
    rule = payload.get("approval") or {}
    needed = int(rule.get("approvers") or 1)
    so_far = [str(a) for a in payload.get("approved_by") or []]
    if needed > 1 or so_far:
        who = f": {', '.join(so_far)}" if so_far else ""
        console.print(f"  needs {needed} approvals; {len(so_far)} of {needed} so far{who}")
    if rule.get("four_eyes"):
        console.print("  four-eyes rule: whoever started the run may not approve it")


def _show_plan(plan: dict[str, Any], console: Console) -> None:
    table = Table(
        "repository",
        "release branch",
        "from",
        "branch",
        "ticket",
        "prediction",
        title=f"Plan {plan.get('hash', '')} for {plan.get('fix_version', '')}",
    )
    for repo in plan.get("repositories", []):
        for b in repo["branches"] or [{"branch": "-", "ticket": "", "predicted": "no changes"}]:
            predicted = escape(str(b["predicted"]))
            table.add_row(
                escape(repo["repo"]),
                escape(repo["release_branch"]),
                escape(repo["base_ref"]),
                escape(b["branch"]),
                escape(b["ticket"] or ""),
                f"[red]{predicted}[/]" if b["predicted"] == "conflict" else predicted,
            )
    console.print(table)
    lines = [
        ("tickets without a branch (not shipped)", plan.get("tickets_without_branch")),
        ("branches without a ticket (not merged)", plan.get("branches_without_ticket")),
        ("nothing to release in", plan.get("repositories_without_changes")),
        ("already released in", plan.get("already_released")),
        ("look at", plan.get("flags")),
    ]
    for label, items in lines:
        if items:
            console.print(f"  {label}: {escape(', '.join(items))}")
    waves = plan.get("waves") or []
    if len(waves) > 1:
        console.print("  in waves: " + escape(" → ".join(", ".join(w) for w in waves)))
    console.print(
        "  [bold]approve[/] creates the release branches and merges; [bold]amend[/] leaves "
        "tickets, branches or repositories out and plans again; [bold]reject[/] ends the run"
    )


def _show_conflict(payload: dict[str, Any], console: Console) -> None:
    branch, into = payload.get("branch", "?"), payload.get("release_branch", "the release branch")
    ticket = f" ({payload['ticket']})" if payload.get("ticket") else ""
    console.print(
        f"[yellow]Merge conflict[/] in [cyan]{escape(str(payload.get('repo')))}[/]: "
        f"{escape(str(branch))}{escape(ticket)} does not merge into {escape(str(into))}"
    )
    others = payload.get("conflicts_with") or []
    if others:
        console.print(f"  conflicts with: {escape(', '.join(others))}")
    else:
        console.print(f"  conflicts with what {escape(str(into))} already has")
    if payload.get("files"):
        console.print(f"  files: {escape(', '.join(payload['files']))}")
    if payload.get("compare_url"):
        console.print(f"  compare: {escape(str(payload['compare_url']))}")
    left = f"{ticket.strip(' ()')} is not shipped" if ticket else "its changes are not shipped"
    console.print(f"  [bold]skip[/] leaves {escape(str(branch))} out of the release ({left})")
    console.print(
        f"  [bold]abort[/] {escape(str(payload.get('abort_means') or 'ends the release failed'))}"
    )


def _show_error(payload: dict[str, Any], console: Console) -> None:
    err = payload.get("error") or {}
    where = f" in [cyan]{escape(str(err['repo']))}[/]" if err.get("repo") else ""
    attempt = f" (attempt {err['attempt']})" if int(err.get("attempt") or 1) > 1 else ""
    console.print(
        f"[red]Step {escape(str(err.get('step')))} failed[/]{where}{attempt}: "
        f"{escape(str(err.get('message')))}"
    )
    if payload.get("retry_helps"):
        console.print("  retrying can help: the service's error looks temporary")
    else:
        console.print("  retrying will not help by itself: fix the cause first (or skip, or abort)")
    meaning = {
        "retry": "runs the step again",
        "skip": "goes on without it (what it would have done is left out)",
        "abort": "ends the release failed",
    }
    for choice in _choices_of(payload):
        console.print(f"  [bold]{choice}[/] {meaning.get(choice, '')}")


def _choices_of(payload: dict[str, Any]) -> list[str]:
    return [
        str(c) for c in payload.get("choices") or (payload.get("error") or {}).get("choices") or []
    ]


def _show_release(payload: dict[str, Any], console: Console) -> None:
    will = payload.get("will") or {}
    version = will.get("version") or {}
    console.print(f"[bold]Approving release {escape(str(version.get('name', '')))} will:[/]")
    for m in will.get("merge") or []:
        console.print(
            f"  merge [cyan]{escape(m['repo'])}[/] PR #{m['number']} into "
            f"{escape(str(m['into']))} ({escape(str(m['method']))}) {escape(str(m['url']))}"
        )
    for t in will.get("tag") or []:
        release = " and publish its release" if t.get("release") else ""
        console.print(f"  tag [cyan]{escape(t['repo'])}[/] {escape(t['tag'])}{release}")
    tickets = will.get("tickets") or []
    if tickets:
        moves = ", ".join(
            f"{t['key']} (already {t['to']})"
            if t["from"] == t["to"]
            else f"{t['key']} {t['from'] or '?'} → {t['to']}"
            for t in tickets
        )
        console.print(f"  move {len(tickets)} {_plural(len(tickets), 'ticket')}: {escape(moves)}")
    if version.get("release"):
        console.print(f"  mark the Jira version {escape(str(version.get('name')))} released")
    notes = (payload.get("release_notes") or {}).get("url")
    if notes:
        console.print(f"  release notes (published): {escape(str(notes))}")
    left_out = will.get("left_out") or []
    if left_out:
        console.print("[yellow]It leaves out:[/]")
        for item in left_out:
            branch = f" {item['branch']}" if item.get("branch") else ""
            console.print(f"  {escape(item['repo'] + branch)}: {escape(str(item['reason']))}")
    if will.get("not_shipped"):
        console.print(f"  tickets not shipped: {escape(', '.join(will['not_shipped']))}")
    console.print(
        "[bold]approve[/] does the above; [bold]reject[/] ends the run, and nothing is merged, "
        "tagged or moved"
    )


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"

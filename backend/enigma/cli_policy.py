"""`enigma policy`: check and show the release policy (enigma.toml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from enigma.policy import (
    LoadedPolicy,
    PolicyError,
    describe,
    example_text,
    format_duration,
    load_policy,
)
from enigma.policy.text import check_repository_name

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Check and show the release policy (enigma.toml), or print an example.",
)

FileArg = Annotated[
    Path | None,
    typer.Argument(help="Policy file (default: $ENIGMA_POLICY, else ./enigma.toml)"),
]
ReposOpt = Annotated[
    str | None,
    typer.Option(help="Comma-separated repository names that `after` may name besides the file's"),
]


def _repos(value: str | None) -> list[str]:
    names = [r.strip() for r in (value or "").split(",") if r.strip()]
    for name in names:
        try:
            check_repository_name(name)
        except ValueError as exc:
            typer.echo(f"error: --repos: {exc}", err=True)
            raise typer.Exit(2) from None
    return names


def _load(file: Path | None, known: list[str]) -> LoadedPolicy:
    try:
        return load_policy(file, known_repositories=known)
    except PolicyError as exc:
        # plain text on stderr, one problem a line, as compilers print them (editors jump to it)
        for problem in exc.problems:
            typer.echo(problem.render(exc.source), err=True)
        count = len(exc.problems)
        typer.echo(f"{count} problem{'s' if count != 1 else ''} in {exc.source}", err=True)
        raise typer.Exit(1) from None


@app.command()
def check(file: FileArg = None, repos: ReposOpt = None) -> None:
    """Validate the policy: `ok` and its hash, or each problem as file:line: key: reason."""
    loaded = _load(file, _repos(repos))
    typer.echo(f"ok: {loaded.source_label} (hash {loaded.hash})")


@app.command()
def show(
    file: Annotated[Path | None, typer.Option("--file", help="Policy file to show")] = None,
    repos: Annotated[
        str | None,
        typer.Option(help="Comma-separated repositories (default: ENIGMA_REPOSITORIES)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The effective policy as JSON")] = False,
) -> None:
    """The effective policy per repository, the waves and the hash."""
    from enigma.settings import Settings

    names = _repos(repos)
    loaded = _load(file, names)
    if not names:
        try:
            configured = Settings().repositories
        except ValueError as exc:  # a bad ENIGMA_* variable must not hide the policy itself
            typer.echo(f"warning: configured repositories not read: {exc}", err=True)
            configured = []
        names = list(dict.fromkeys([*configured, *loaded.policy.repositories]))
    described = describe(loaded.policy, names)
    if as_json:
        print(json.dumps({"source": loaded.source_label, "hash": loaded.hash, **described}))
        return
    _print(Console(), loaded, described)


@app.command()
def example() -> None:
    """Print the commented example policy (`enigma policy example > enigma.toml`)."""
    print(example_text(), end="")


def _seconds(value: float | None) -> str:
    return "-" if value is None else format_duration(value)


def _print(out: Console, loaded: LoadedPolicy, data: dict[str, Any]) -> None:
    out.print(f"[bold]policy[/] {escape(loaded.source_label)}  hash {loaded.hash}")
    wave_of = {name: i + 1 for i, wave in enumerate(data["waves"]) for name in wave}
    table = Table("repository", "wave", "ticket branches", "release branch", "base", "target")
    table.add_column("merge")
    table.add_column("checks")
    table.add_column("after")
    rows = [(name, rules) for name, rules in data["repositories"].items()]
    rows.append(("(any other)", data["defaults"]))
    for name, rules in rows:
        checks = rules["checks"]
        required = ", ".join(checks["required"]) or "all reported"
        table.add_row(
            escape(name),
            str(wave_of.get(name, "")),
            escape(rules["ticket_pattern"] or " ".join(rules["ticket_prefixes"])),
            escape(f"{rules['release_branch']['minor']}, {rules['release_branch']['hotfix']}"),
            escape(f"{rules['base_branch']} (else {rules['base_branch_fallback']})"),
            escape(rules["target_branch"] or "default branch"),
            rules["merge_method"],
            escape(
                f"{required}; {'+'.join(checks['sources'])}; no CI: {checks['when_none']}; "
                f"timeout {_seconds(checks['timeout'])}"
            ),
            escape(", ".join(rules["after"]) or "-"),
        )
    out.print(table)
    waves = "  ".join(f"{i}) {', '.join(w)}" for i, w in enumerate(data["waves"], 1))
    out.print(f"[bold]waves[/] {escape(waves) or '-'}")
    approvals = Table("decision", "approvers", "roles", "four-eyes", "remind", "expire", "by type")
    for kind, rule in data["approvals"].items():
        four_eyes = {None: "setting", True: "yes", False: "no"}[rule["four_eyes"]]
        special = ", ".join(f"{t}: {r['approvers']}" for t, r in rule["by_release_type"].items())
        approvals.add_row(
            kind,
            str(rule["approvers"]),
            ", ".join(rule["roles"]),
            four_eyes,
            _seconds(rule["remind_after"]),
            f"{_seconds(rule['expire_after'])} {rule['on_expire'] or ''}".strip(),
            special or "-",
        )
    out.print(approvals)
    steps = Table("step", "timeout", "tries", "backoff", "retry on")
    for step, limits in data["steps"].items():
        backoff = limits["backoff"]
        steps.add_row(
            step,
            _seconds(limits["timeout"]),
            str(limits["tries"]),
            f"{backoff['base']:g}s x{backoff['multiplier']:g} max {backoff['cap']:g}s"
            + (" jitter" if backoff["jitter"] else ""),
            ", ".join(limits["retry_on"]) or "-",
        )
    out.print(steps)
    tracker, notes = data["tracker"], data["notes"]
    out.print(
        f"[bold]run[/] deadline {_seconds(data['run']['deadline'])}  "
        f"[bold]tracker[/] done status {escape(tracker['done_status'])!r}, "
        f"comment {escape(tracker['comment'])!r}, release version {tracker['release_version']}"
    )
    sections = ", ".join(f"{s['title']} ({'/'.join(s['types'])})" for s in notes["sections"])
    out.print(
        f"[bold]notes[/] {escape(notes['title'])!r}: {escape(sections)}, "
        f"then {escape(notes['other_title'] or 'each other type under its plural')}"
    )
    for channel in data["notifications"]:
        where = channel.get("url") or channel.get("host") or "slack webhook"
        out.print(
            f"[bold]notify[/] {channel['type']} {escape(str(channel.get('name') or ''))} "
            f"{escape(str(where))}: {', '.join(channel['events'])}"
        )

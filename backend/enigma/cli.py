"""`enigma`: run releases from the terminal, serve the API, start the sandbox or Studio."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from enigma.cli_policy import app as policy_app
from enigma.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(policy_app, name="policy")
console = Console(stderr=True)


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one)")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Where the peers keep their data")] = None,
    seed: Annotated[
        Path | None, typer.Option(help="Seed file for a new data directory (default: the demo)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line")] = False,
) -> None:
    """Start the local Jira, GitHub and Confluence peers and wait for Ctrl-C."""
    from enigma.bootstrap import write_endpoint
    from enigma.sandbox.core import DEFAULT_SEED
    from enigma.sandbox.server import SandboxServer

    settings = Settings()
    base = data_dir or settings.data_dir
    server = SandboxServer(
        base / "sandbox",
        host=host,
        port=port,
        seed_file=seed or DEFAULT_SEED,
        settings={"check_delay_seconds": settings.sandbox_check_delay_seconds},
    ).start()
    write_endpoint(base, server.urls)
    urls = server.urls.as_dict()
    if as_json:
        print(json.dumps(urls), flush=True)
    else:
        for name, url in urls.items():
            print(f"{name:>10}: {url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    (base / "sandbox" / "endpoint.json").unlink(missing_ok=True)
    server.stop()


@app.command()
def run(
    fix_version: Annotated[str | None, typer.Option(help="Default: earliest unreleased")] = None,
    repos: Annotated[
        str | None, typer.Option(help="Comma-separated; default: all configured")
    ] = None,
    release_type: Annotated[
        str, typer.Option(help="major, minor, patch, hotfix or release")
    ] = "minor",
    sprint: Annotated[str | None, typer.Option(help="Only tickets of this sprint")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Stop after the plan")] = False,
    auto_approve: Annotated[
        bool,
        typer.Option("--auto-approve", help="Approve plan and release; policy decides conflicts"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON summary at the end")] = False,
    url: Annotated[
        str | None,
        typer.Option(envvar="ENIGMA_URL", help="Run it on this Enigma service (enigma serve)"),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="ENIGMA_API_TOKEN", help="API token for --url", show_default=False),
    ] = None,
) -> None:
    """Run a release with live progress; asks at each approval."""
    from enigma.runs.models import PolicyModel, RunRequest

    if url is not None:
        raise typer.Exit(
            _run_remote(
                url, token, fix_version, repos, release_type, sprint, dry_run, auto_approve, as_json
            )
        )

    async def main() -> int:
        from enigma.bootstrap import open_runtime
        from enigma.cli_follow import earliest_unreleased, follow

        async with open_runtime(Settings(), recover=False) as rt:
            version = fix_version or earliest_unreleased(rt)
            chosen = rt.default_repositories or rt.repositories
            repositories = [r.strip() for r in repos.split(",")] if repos else chosen
            policy = (
                PolicyModel(
                    auto_approve=True,
                    on_conflict="skip",
                    on_check_failure="abort",
                    on_error="abort",
                )
                if auto_approve
                else PolicyModel()
            )
            try:
                request = RunRequest.model_validate(
                    {
                        "fix_version": version,
                        "repositories": repositories,
                        "release_type": release_type,
                        "sprint_name": sprint,
                        "dry_run": dry_run,
                        "policy": policy,
                    }
                )
            except ValidationError as exc:
                _fail_validation(exc)
            from enigma.runs.manager import DecisionError

            try:
                started, _ = await rt.manager.start(request, actor=_actor())
            except DecisionError as exc:
                console.print(f"[red]error:[/] {exc.message}")
                return 2
            return await follow(rt, started.id, as_json=as_json, console=console)

    raise typer.Exit(asyncio.run(main()))


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The sandbox demo: release 2.4.0 of every sandbox repository, decisions by policy."""
    run(
        fix_version="2.4.0",
        repos=None,
        release_type="minor",
        sprint=None,
        dry_run=False,
        auto_approve=True,
        as_json=as_json,
    )


@app.command()
def resume(run_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Continue a paused, failed, interrupted or waiting run."""

    async def main() -> int:
        from enigma.bootstrap import open_runtime
        from enigma.cli_follow import follow
        from enigma.runs.manager import DecisionError, UnknownRun

        async with open_runtime(Settings(), recover=False) as rt:
            try:
                run = await rt.manager.get(run_id)
                if run.status in ("paused", "failed"):
                    await rt.manager.resume(run_id, actor=_actor())
                elif run.status in ("queued", "running"):
                    await rt.manager.adopt(run_id)
            except UnknownRun:
                console.print(f"[red]error:[/] no run {run_id}; `enigma runs` lists them")
                return 2
            except DecisionError as exc:
                console.print(f"[red]error:[/] {exc.message}")
                return 2
            return await follow(rt, run_id, as_json=as_json, console=console)

    raise typer.Exit(asyncio.run(main()))


@app.command("runs")
def list_runs(
    status: Annotated[str | None, typer.Option(help="Only runs with this status")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List runs, newest first."""
    from rich.table import Table

    from enigma.bootstrap import open_store

    async def read() -> tuple[list[Any], int]:
        store = await open_store(Settings())
        try:
            return await store.list_runs(status, None, 100, 0)
        finally:
            await store.close()

    runs, total = asyncio.run(read())
    if as_json:
        print(json.dumps([r.model_dump() for r in runs]))
        return
    table = Table("run", "status", "version", "type", "repositories", "by", "step")
    for r in runs:
        table.add_row(
            r.id,
            r.status,
            r.fix_version,
            r.release_type,
            ",".join(r.repositories),
            r.actor,
            r.current_step or "",
        )
    Console().print(table)
    console.print(f"{total} runs")


@app.command()
def show(run_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One run: status, pending decision, state summary and events."""
    from enigma.bootstrap import open_store
    from enigma.cli_follow import read_summary

    settings = Settings()

    async def read() -> tuple[Any, list[Any]]:
        store = await open_store(settings)
        try:
            return await store.get(run_id), await store.events(run_id, limit=1_000_000)
        finally:
            await store.close()

    run, events = asyncio.run(read())
    if run is None:
        console.print(f"[red]error:[/] no run {run_id}; `enigma runs` lists them")
        raise typer.Exit(2)
    summary = read_summary(settings, run_id)
    if as_json:
        print(
            json.dumps(
                {
                    "run": run.model_dump(),
                    "state": summary,
                    "events": [e.model_dump() for e in events],
                },
                default=str,
            )
        )
        return
    out = Console()
    out.print(
        f"[bold]{run.id}[/] {run.status}  {run.fix_version} {run.release_type}  by {run.actor}"
    )
    for p in run.pending:
        out.print(f"  waiting for [yellow]{p.kind}[/]: choices {', '.join(p.choices)}")
    for m in summary.get("messages", []):
        out.print(f"  - {m['content']}")
    out.print(f"  {len(events)} events")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one)")] = 8400,
) -> None:
    """Serve the REST API, SSE streams and the web page (with the sandbox if nothing is set).

    Prints the URL, the demo token (when no ENIGMA_API_TOKENS are set) and how to start a run.
    """
    from enigma.cli_serve import serve as run_server

    run_server(Settings(), host, port)


@app.command()
def studio(
    port: Annotated[int, typer.Option(help="Port for langgraph dev (0 picks a free one)")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line of URLs")] = False,
) -> None:
    """LangGraph Studio: `langgraph dev` against the sandbox (or the configured services)."""
    from enigma.studio import StudioError, start_studio

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    settings = Settings()
    try:
        running = start_studio(settings, port=port, stop=stop)
    except StudioError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    urls = {
        "studio": running.studio_url,
        "api": running.api_url,
        "docs": f"{running.api_url}/docs",
        "sandbox": running.sandbox_urls.admin if running.sandbox_urls else None,
        "threads": str(running.data_dir / "studio" / ".langgraph_api"),
    }
    if as_json:
        print(json.dumps(urls), flush=True)
    else:
        for name, url in urls.items():
            print(f"{name:>8}: {url or 'configured services (ENIGMA_*)'}", flush=True)
        console.print("Open the studio URL in a browser; Ctrl-C stops the server and the sandbox.")
    raise typer.Exit(running.wait(stop))


def _run_remote(
    url: str,
    token: str | None,
    fix_version: str | None,
    repos: str | None,
    release_type: str,
    sprint: str | None,
    dry_run: bool,
    auto_approve: bool,
    as_json: bool,
) -> int:
    """`enigma run --url`: the same release, started and followed through the service's API."""
    from enigma.cli_remote import RemoteError, run_remote

    if not token:
        console.print("[red]error:[/] --url needs --token or ENIGMA_API_TOKEN")
        return 2
    request: dict[str, Any] = {
        "fix_version": fix_version,
        "repositories": [r.strip() for r in repos.split(",")] if repos else [],
        "release_type": release_type,
        "sprint_name": sprint,
        "dry_run": dry_run,
    }
    if auto_approve:
        request["policy"] = {
            "auto_approve": True,
            "on_conflict": "skip",
            "on_check_failure": "abort",
            "on_error": "abort",
        }
    try:
        return asyncio.run(run_remote(url, token, request, as_json=as_json, console=console))
    except RemoteError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("detached; the run goes on in the service")
        return 130


def _fail_validation(exc: ValidationError) -> Any:
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        console.print(f"[red]error:[/] {field}: {err['msg'].removeprefix('Value error, ')}")
    raise typer.Exit(2)


def main() -> None:
    """Console script entry point."""
    with contextlib.suppress(BrokenPipeError):
        app()
    sys.stdout.flush()

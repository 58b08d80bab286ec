"""`enigma`: run releases from the terminal, serve the API, start the sandbox or Studio."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any


def _interrupted_while_starting(signum: int, frame: object) -> None:
    sys.stderr.write("\nInterrupted.\n")
    raise SystemExit(130)


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(130)


# Started as the `enigma` command: a Ctrl-C during the slow imports below (or before a run
# exists) ends it quietly instead of with a KeyboardInterrupt traceback. A command that follows
# a run takes SIGINT over in its event loop (`cli_term.Interrupts`); serve, studio and sandbox
# install their own handlers. Importing this module elsewhere (tests) changes nothing.
if Path(sys.argv[0]).name == "enigma":
    signal.signal(signal.SIGINT, _interrupted_while_starting)

import typer  # noqa: E402
from rich.markup import escape  # noqa: E402

from enigma.cli_policy import app as policy_app  # noqa: E402
from enigma.cli_term import make_console  # noqa: E402
from enigma.settings import Settings  # noqa: E402

# Plain help: the rich help panels print a `<bool>` type after every flag (--help included).
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, rich_markup_mode=None)
app.add_typer(policy_app, name="policy")
console = make_console(stderr=True)


@app.callback()
def _process() -> None:
    """Every command: owner-only files (umask 077), and logging as ENIGMA_LOG_* say.

    A command other than serve logs warnings and above unless ENIGMA_LOG_LEVEL is set: its
    own display already shows the run's progress, and INFO lines would break into prompts.
    """
    from pydantic import ValidationError

    from enigma.files import PRIVATE_UMASK
    from enigma.logs import configure_logging

    os.umask(PRIVATE_UMASK)
    try:
        settings = Settings()
    except ValidationError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    level = settings.log_level if "log_level" in settings.model_fields_set else "WARNING"
    configure_logging(level, settings.log_format)


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port (0: the data directory's last one if free, else any)")
    ] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Where the peers keep their data")] = None,
    seed: Annotated[
        Path | None, typer.Option(help="Seed file for a new data directory (default: the demo)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line")] = False,
    stop_with_parent: Annotated[
        bool, typer.Option("--stop-with-parent", hidden=True, help="Stop when the parent ends")
    ] = False,
) -> None:
    """Start the local Jira, GitHub and Confluence peers and wait for Ctrl-C."""
    from enigma.bootstrap import sandbox_port, write_endpoint
    from enigma.sandbox.core import DEFAULT_SEED
    from enigma.sandbox.server import SandboxServer

    settings = Settings()
    base = data_dir or settings.data_dir
    token = settings.sandbox_token.get_secret_value() if settings.sandbox_token else None
    server = SandboxServer(
        base / "sandbox",
        host=host,
        port=sandbox_port(base, host, port),
        token=token,
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
    parent = os.getppid()
    # the CLI that started it may be killed (SIGKILL): then it is reparented, and stops
    while not stop.wait(1.0):
        if stop_with_parent and os.getppid() != parent:
            break
    (base / "sandbox" / "endpoint.json").unlink(missing_ok=True)
    server.stop()


@app.command()
def run(
    fix_version: Annotated[str | None, typer.Option(help="Default: earliest unreleased")] = None,
    repos: Annotated[
        str | None, typer.Option(help="Comma-separated; default: the configured defaults")
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
    """Run a release with live progress; asks at each decision. Ctrl-C pauses it."""
    request: dict[str, Any] = {
        "fix_version": fix_version,
        "repositories": [r.strip() for r in repos.split(",") if r.strip()] if repos else [],
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
    if url is not None:
        from enigma.cli_remote import run_remote_command

        raise typer.Exit(run_remote_command(url, token, request, as_json=as_json, console=console))
    from enigma.cli_local import run_local

    raise typer.Exit(asyncio.run(run_local(request, as_json=as_json, console=console)))


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON summary at the end")] = False,
) -> None:
    """The sandbox demo: release 2.4.0 of the default sandbox repositories, decided by policy."""
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
def resume(
    run_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON summary at the end")] = False,
) -> None:
    """Continue a paused, failed, interrupted or waiting run (and answer what it waits for)."""
    from enigma.cli_local import resume_local

    raise typer.Exit(asyncio.run(resume_local(run_id, as_json=as_json, console=console)))


@app.command("runs")
def runs(
    status: Annotated[str | None, typer.Option(help="Only runs with this status")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The runs as a JSON list")] = False,
) -> None:
    """List runs, newest first, with what each waits for."""
    from enigma.cli_runs import list_runs

    list_runs(Settings(), status, as_json)


@app.command()
def show(
    run_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Run, summary, state and events")] = False,
) -> None:
    """One run: where it stands or how it ended, and its messages."""
    from enigma.cli_runs import show_run

    raise typer.Exit(show_run(Settings(), run_id, as_json))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one)")] = 8400,
) -> None:
    """Serve the REST API, SSE streams and the web page (with the sandbox if nothing is set).

    Prints the URL, the demo token (when no ENIGMA_API_TOKENS are set) and how to start a run.
    """
    from enigma.cli_serve import serve as run_server
    from enigma.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, access_log=True)
    # uvicorn takes SIGINT while it serves and raises it again once it has shut down cleanly
    signal.signal(signal.SIGINT, _exit_quietly)
    run_server(settings, host, port)


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
        console.print(f"[red]error:[/] {escape(str(exc))}")
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


def main() -> None:
    """Console script entry point."""
    try:
        with contextlib.suppress(BrokenPipeError):
            app()
    except KeyboardInterrupt:  # outside a run's follow loop (which takes Ctrl-C itself)
        raise SystemExit(130) from None
    sys.stdout.flush()


if __name__ == "__main__":  # `python -m enigma.cli` (the CLI starts its sandbox this way)
    main()

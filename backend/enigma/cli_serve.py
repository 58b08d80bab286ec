"""`enigma serve`: bind the port, run uvicorn, and greet the user once the service is ready.

The socket is bound here rather than by uvicorn so that `--port 0` works and the URL printed
is the one that answers. The greeting goes to stdout with `print`, once, never through
logging: it may carry the generated demo token, and log files are kept and shipped.
"""

from __future__ import annotations

import json
import shlex
import socket
from typing import Any

from enigma.bootstrap import Runtime
from enigma.cli_term import enigma_command
from enigma.settings import Settings

__all__ = ["bind", "greeting", "serve"]


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port (port 0: a free one)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    return sock


def greeting(url: str, runtime: Runtime, demo_token: str | None) -> str:
    """What a user needs to start: the URLs, a token, and a run started two ways."""
    token = demo_token or "<one of the tokens in ENIGMA_API_TOKENS>"
    version = "2.4.0" if runtime.sandbox_urls is not None else "<fix version>"
    body = json.dumps({"fix_version": version, "repositories": runtime.repositories})
    lines = [
        "",
        f"Enigma is ready at {url}",
        f"  web page   {url}/",
        f"  API docs   {url}/docs",
    ]
    if runtime.sandbox_urls is not None:
        sandbox = runtime.sandbox_urls
        lines.append(f"  sandbox    {sandbox.admin}  (Jira, GitHub and Confluence peers)")
    if demo_token is not None:
        where = runtime.settings.data_dir / "api_tokens.json"
        lines.append(f"  API token  a demo token with role admin (kept in {where}):")
    else:
        lines.append("  API token  one of ENIGMA_API_TOKENS:")
    lines += [
        "",
        f"  export ENIGMA_URL={url} ENIGMA_API_TOKEN={shlex.quote(token)}",
        "",
        "Start a release run:",
        '  curl -sS -X POST "$ENIGMA_URL/api/runs" -H "Authorization: Bearer $ENIGMA_API_TOKEN" \\',
        f"       -H 'Content-Type: application/json' -d {shlex.quote(body)}",
        f'  {enigma_command()} run --url "$ENIGMA_URL" --fix-version {version}',
        "",
        "Ctrl-C stops the service; runs in flight stop at a step boundary and continue at the",
        "next start.",
        "",
    ]
    return "\n".join(lines)


def serve(settings: Settings, host: str, port: int, **uvicorn_options: Any) -> None:
    """Run the service until SIGINT / SIGTERM."""
    import uvicorn

    from enigma.api.app import create_app
    from enigma.policy import PolicyError

    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"

    def ready(runtime: Runtime, demo_token: str | None) -> None:
        print(greeting(url, runtime, demo_token), flush=True)

    if settings.public_url is None:  # notifications link to the address we listen on
        settings = settings.model_copy(update={"public_url": url})
    try:
        app = create_app(settings, on_ready=ready)
    except PolicyError as exc:
        print(f"{exc}\nThe service does not start: fix the file (enigma policy check).")
        raise SystemExit(2) from None
    config = uvicorn.Config(
        app,
        log_config=None,  # the CLI configured logging (enigma.logs): its format, redaction
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
        **uvicorn_options,
    )
    uvicorn.Server(config).run(sockets=[sock])

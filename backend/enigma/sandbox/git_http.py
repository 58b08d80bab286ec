"""Git smart HTTP for the sandbox's bare repositories, through `git http-backend`.

`git http-backend` is git's own CGI program for the smart (and dumb) HTTP protocol, so clones
and pushes of the sandbox exercise the same protocol code as those of a real forge. This
module turns one HTTP request into the CGI environment and stdin, runs the program, and
parses the CGI answer back into status, headers and body.

Reading is open to anyone. Writing (`git-receive-pack`) happens only when the caller says
`allow_push=True`, which the GitHub peer does after checking the sandbox token and while it
holds the store's lock (see `github_push.py`); otherwise a push is refused before git is
started, and again by `-c http.receivepack=false`, so a bug in the first check cannot open a
write path.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from enigma.sandbox.gitrepo import git_env

__all__ = ["CgiResponse", "parse_cgi_output", "run_http_backend", "wants_push"]

# /<owner>/<repo>.git/<git's own path>: owner and repo are plain names, nothing that climbs.
_PATH = re.compile(
    r"^/[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*\.git(/[A-Za-z0-9._/-]*)?$"
)
_TIMEOUT_SECONDS = 120
# For pushes: check every object received (as GitHub does), and never start `git gc` in the
# background, which would outlive the request and race whoever reads the repository next.
_RECEIVE_OPTIONS = ("-c", "receive.fsckObjects=true", "-c", "receive.autogc=false")


@dataclass(frozen=True)
class CgiResponse:
    """The answer of `git http-backend`, ready to send as an HTTP response."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def run_http_backend(
    project_root: Path,
    path_info: str,
    method: str,
    query_string: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    remote_addr: str = "127.0.0.1",
    allow_push: bool = False,
    remote_user: str = "",
) -> CgiResponse:
    """Serve one smart-HTTP request for a repository under project_root.

    path_info is the part after the mount point, e.g. `/acme/payments-api.git/info/refs`;
    headers are the request's headers (case-insensitive names are fine). Pushes are served
    only with `allow_push` (the caller authenticated `remote_user`).
    """
    if not _PATH.match(path_info) or ".." in path_info:
        return _text(404, "Repository not found.")
    push = wants_push(path_info, query_string)
    if push and not allow_push:
        return _text(403, "Pushing to the sandbox over HTTP is not supported.")
    if method not in ("GET", "HEAD", "POST"):
        return _text(405, "Method not allowed.")
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    env = git_env() | {
        "GIT_PROJECT_ROOT": str(project_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": path_info,
        "QUERY_STRING": query_string,
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": lower.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": remote_addr,
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    if remote_user:
        env["REMOTE_USER"] = remote_user
    if "content-encoding" in lower:
        env["HTTP_CONTENT_ENCODING"] = lower["content-encoding"]
    if "git-protocol" in lower:  # protocol v2 is negotiated through this header
        env["GIT_PROTOCOL"] = lower["git-protocol"]
    options = ["-c", "http.receivepack=false", "-c", "http.uploadpack=true"]
    if push:  # the later value wins
        options += ["-c", "http.receivepack=true", *_RECEIVE_OPTIONS]
    proc = subprocess.run(
        ["git", *options, "http-backend"],
        input=body,
        env=env,
        capture_output=True,
        check=False,
        timeout=_TIMEOUT_SECONDS,
    )
    if not proc.stdout:
        return _text(500, proc.stderr.decode(errors="replace") or "git http-backend failed")
    return parse_cgi_output(proc.stdout)


def parse_cgi_output(output: bytes) -> CgiResponse:
    """Split a CGI answer into status (from `Status:`, default 200), headers and body."""
    head, sep, body = output.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = output.partition(b"\n\n")
    status = 200
    headers: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split(" ", 1)[0])
        elif name:
            headers.append((name.strip(), value.strip()))
    return CgiResponse(status, headers, body)


def wants_push(path_info: str, query_string: str) -> bool:
    """Whether a smart-HTTP request belongs to a push (advertisement or the pack itself)."""
    services = parse_qs(query_string).get("service", [])
    return path_info.endswith("/git-receive-pack") or "git-receive-pack" in services


def _text(status: int, message: str) -> CgiResponse:
    return CgiResponse(status, [("Content-Type", "text/plain; charset=utf-8")], message.encode())

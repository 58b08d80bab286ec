"""GitMirror over the sandbox's smart-HTTP clones: sync, read, and predict merges."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from enigma.integrations.base import RepoInfo
from enigma.integrations.errors import AuthError, InvalidInput, NotFound, TransientError
from enigma.integrations.git_mirror import GitMirror, check_branch_name
from enigma.integrations.github_host import GitHubHost
from enigma.sandbox.server import SandboxServer
from tests.integrations.conftest import SANDBOX_SETTINGS, SleepRecorder

PAYMENTS = [
    "feature/ENG-101-refunds",
    "feature/ENG-102-currency-rounding",
    "feature/ENG-105-partner-rate-limit",
    "feature/ENG-106-burst-limiter",
    "feature/cache-warmup",
]
HOSTILE = [
    "",
    "-x",
    "--upload-pack=touch /tmp/pwned",
    "a..b",
    "@{-1}",
    "a b",
    "x\ny",
    "x\0y",
    "HEAD",
    "x.lock",
    "refs/../../etc",
]


@dataclass(frozen=True)
class Shared:
    """One sandbox and one mirror per repository for the read-only tests of this module."""

    host: GitHubHost
    planner: GitMirror
    mirrors: dict[str, Path]


@pytest.fixture(scope="module")
def shared(seeded_sandbox_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    root = tmp_path_factory.mktemp("git-mirror")
    shutil.copytree(seeded_sandbox_data, root / "sandbox")
    server = SandboxServer(root / "sandbox", settings=SANDBOX_SETTINGS).start()
    urls = server.urls
    host = GitHubHost(urls.github, "acme", SecretStr(urls.token), pace_requests=False)
    planner = GitMirror(root / "mirrors")
    names = ["payments-api", "web-app", "notifications"]
    mirrors = {n: planner.sync(host.repository(n), host.git_auth_header()) for n in names}
    yield Shared(host, planner, mirrors)
    server.stop()


@pytest.fixture
def payments(code_host: GitHubHost, planner: GitMirror) -> tuple[RepoInfo, Path]:
    """payments-api's repository info and a synced mirror of it."""
    info = code_host.repository("payments-api")
    return info, planner.sync(info, code_host.git_auth_header())


def test_sync_clones_then_fetches(
    code_host: GitHubHost, planner: GitMirror, payments: tuple[RepoInfo, Path]
) -> None:
    info, mirror = payments
    develop = code_host.branch_sha("payments-api", "develop")
    assert develop is not None
    code_host.ensure_branch("payments-api", "release/2.4.0", develop)
    assert "release/2.4.0" not in planner.branches(mirror)
    assert planner.sync(info, code_host.git_auth_header()) == mirror
    assert planner.branches(mirror)["release/2.4.0"] == develop


def test_the_token_stays_out_of_argv_and_the_mirror_config(
    code_host: GitHubHost,
    planner: GitMirror,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_popen = subprocess.Popen

    def spy(argv: list[str], **kw: Any) -> Any:
        seen.append((list(argv), dict(kw.get("env") or {})))
        return real_popen(argv, **kw)

    monkeypatch.setattr(subprocess, "Popen", spy)
    info = code_host.repository("notifications")
    mirror = planner.sync(info, code_host.git_auth_header())
    planner.sync(info, code_host.git_auth_header())
    token = sandbox.urls.token
    header = code_host.git_auth_header()
    assert seen and all(token not in " ".join(argv) for argv, _ in seen)
    assert all(header.split()[-1] not in " ".join(argv) for argv, _ in seen)
    assert any(env.get("GIT_CONFIG_VALUE_1") == header for _, env in seen)
    config = (mirror / "config").read_text()
    assert header.split()[-1] not in config and "extraheader" not in config.lower()


def test_branches_tags_and_resolve(shared: Shared) -> None:
    code_host, planner, mirror = shared.host, shared.planner, shared.mirrors["payments-api"]
    branches = planner.branches(mirror)
    assert set(PAYMENTS) <= set(branches)
    assert branches["develop"] == code_host.branch_sha("payments-api", "develop")
    assert planner.last_release_tag(mirror) == "v2.3.0"
    assert planner.resolve(mirror, "develop") == branches["develop"]
    assert planner.resolve(mirror, "v2.3.0") == code_host.branch_sha("payments-api", "main")
    with pytest.raises(NotFound):
        planner.resolve(mirror, "no-such-branch")
    with pytest.raises(InvalidInput):
        planner.resolve(mirror, "--output=/tmp/x")


def test_predict_merges_finds_the_seeded_conflict(shared: Shared) -> None:
    planner, mirror = shared.planner, shared.mirrors["payments-api"]
    base = planner.resolve(mirror, "develop")
    predicted = {p["branch"]: p for p in planner.predict_merges(mirror, base, PAYMENTS)}
    assert [p["outcome"] for p in predicted.values()] == [
        "clean", "clean", "clean", "conflict", "clean",
    ]  # fmt: skip
    conflict = predicted["feature/ENG-106-burst-limiter"]
    assert conflict["files"] == ["config/limits.toml"]
    assert conflict["conflicts_with"] == ["feature/ENG-105-partner-rate-limit"]
    assert predicted["feature/ENG-101-refunds"]["files"] == ["src/refunds.py"]
    assert predicted["feature/ENG-105-partner-rate-limit"]["sha"] == planner.resolve(
        mirror, "feature/ENG-105-partner-rate-limit"
    )


def test_order_decides_which_side_conflicts(shared: Shared) -> None:
    planner, mirror = shared.planner, shared.mirrors["payments-api"]
    base = planner.resolve(mirror, "develop")
    order = ["feature/ENG-106-burst-limiter", "feature/ENG-105-partner-rate-limit"]
    outcomes = [
        (p["outcome"], p["conflicts_with"]) for p in planner.predict_merges(mirror, base, order)
    ]
    assert outcomes == [("clean", []), ("conflict", ["feature/ENG-106-burst-limiter"])]


def test_predict_merges_reports_already_merged_branches(
    code_host: GitHubHost, payments: tuple[RepoInfo, Path], planner: GitMirror
) -> None:
    info, _ = payments
    develop = code_host.branch_sha("payments-api", "develop")
    assert develop is not None
    code_host.ensure_branch("payments-api", "release/2.4.0", develop)
    code_host.merge("payments-api", "release/2.4.0", "feature/ENG-101-refunds", "Merge ENG-101")
    mirror = planner.sync(info, code_host.git_auth_header())
    base = planner.resolve(mirror, "release/2.4.0")
    predicted = planner.predict_merges(mirror, base, PAYMENTS[:2])
    assert [p["outcome"] for p in predicted] == ["already", "clean"]
    assert planner.resolve(mirror, "release/2.4.0") == base  # prediction moved no ref


@pytest.mark.parametrize("repo", ["web-app", "notifications"])
def test_other_repositories_merge_cleanly(shared: Shared, repo: str) -> None:
    planner, mirror = shared.planner, shared.mirrors[repo]
    features = [b for b in planner.branches(mirror) if b.startswith("feature/")]
    base = planner.resolve(mirror, "develop")
    assert {p["outcome"] for p in planner.predict_merges(mirror, base, features)} == {"clean"}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_branch_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_branch_name(name)


def test_predict_merges_refuses_hostile_names_before_running_git(shared: Shared) -> None:
    planner, mirror = shared.planner, shared.mirrors["payments-api"]
    base = planner.resolve(mirror, "develop")
    for name in HOSTILE:
        with pytest.raises(InvalidInput):
            planner.predict_merges(mirror, base, ["feature/ENG-101-refunds", name])


def test_names_git_accepts_are_kept_verbatim() -> None:
    assert check_branch_name("feature/ENG-101-refunds") == "feature/ENG-101-refunds"
    assert check_branch_name("weird$(id);`x`") == "weird$(id);`x`"  # no shell ever sees it


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/pwned",
        "file:///etc",
        "--upload-pack=x",
        "ssh://h/r.git",
        "https://user:secret@github.example/acme/r.git",
    ],
)
def test_only_http_clone_urls_are_accepted(planner: GitMirror, url: str) -> None:
    info = RepoInfo(name="r", full_name="acme/r", default_branch="main", clone_url=url, html_url="")
    with pytest.raises(InvalidInput):
        planner.sync(info, "")


def test_hostile_repository_names_are_refused(planner: GitMirror) -> None:
    info = RepoInfo(
        name="r",
        full_name="../../etc",
        default_branch="main",
        clone_url="http://127.0.0.1:1/x.git",
        html_url="",
    )
    with pytest.raises(InvalidInput):
        planner.sync(info, "")


class _Refuse(BaseHTTPRequestHandler):
    """Answers every request with the status the server was made with."""

    def do_GET(self) -> None:
        status = self.server.status  # type: ignore[attr-defined]
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def refusing_server() -> Iterator[Callable[[int], str]]:
    """Start loopback HTTP servers that refuse git with a given status; yields a URL maker."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
        server.status = status  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/acme/r.git"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "error", "tries"),
    [(401, AuthError, 1), (403, AuthError, 1), (404, NotFound, 1), (503, TransientError, 3)],
)
def test_git_http_failures_are_mapped(
    refusing_server: Callable[[int], str],
    planner: GitMirror,
    sleeps: SleepRecorder,
    status: int,
    error: type[Exception],
    tries: int,
) -> None:
    url = refusing_server(status)
    info = RepoInfo(name="r", full_name="acme/r", default_branch="main", clone_url=url, html_url="")
    with pytest.raises(error):
        planner.sync(info, "Authorization: Bearer wrong")
    assert len(sleeps.waits) == tries - 1
    assert [p.name for p in planner.cache_dir.iterdir()] == ["acme__r.lock"]  # no half mirror


def test_parallel_syncs_share_one_mirror(code_host: GitHubHost, planner: GitMirror) -> None:
    info = code_host.repository("web-app")
    header = code_host.git_auth_header()
    with ThreadPoolExecutor(max_workers=4) as pool:
        paths = list(pool.map(lambda _: planner.sync(info, header), range(4)))
    assert len(set(paths)) == 1
    assert "main" in planner.branches(paths[0])
    leftovers = [p.name for p in planner.cache_dir.iterdir()]
    assert sorted(leftovers) == ["acme__web-app.git", "acme__web-app.lock"]

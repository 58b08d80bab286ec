"""The release as teams script it today: one call after another, through Enigma's own clients.

The baseline of the headline row. It makes the side effects an auto-approved Enigma run
makes on the same seed (the benchmark compares the two effect logs, kind and key), through
the same clients built the same way (`enigma.integrations.factory.build_clients`: jira,
PyGithub and atlassian's Confluence over HTTP, and the git mirror that lists the branches),
but in a straight line: no plan, no checkpoints, no concurrency. Between operations it reads
the sandbox's request counter (an admin call, neither counted nor delayed by the latency
fault, and kept out of the timing), so each operation's number of peer calls is known; the
critical-path model (`bench/critical_path.py`) is built from those numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from enigma.integrations.base import Clients, PullRequestRecord
from enigma.nodes.finalize import ticket_marker
from enigma.policy import Policy

__all__ = ["ScriptResult", "straight_line_release"]

T = TypeVar("T")
PROJECT, SPACE, PARENT = "ENG", "REL", "Release Notes"


@dataclass
class ScriptResult:
    """Wall time of the operations and, per operation, how many peer calls it made."""

    seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    """Operation id (see `critical_path.py`) -> peer requests the sandbox received for it."""


@dataclass
class _Tracer:
    """Runs one operation at a time, timing it and counting the peer calls it made."""

    count: Callable[[], int]
    result: ScriptResult = field(default_factory=ScriptResult)

    def __call__(self, op: str, call: Callable[..., T], *args: Any) -> T:
        before = self.count()
        t0 = time.perf_counter()
        out = call(*args)
        self.result.seconds += time.perf_counter() - t0
        self.result.calls[op] = self.count() - before
        return out


def straight_line_release(
    clients: Clients, repos: list[str], version: str, poll: float, count: Callable[[], int]
) -> ScriptResult:
    """Release `version` of `repos`: branches, merges, PRs, CI, notes, merges, tickets."""
    run = _Tracer(count)
    tracker, host, wiki = clients.tracker, clients.code_host, clients.wiki
    branch = f"release/{version}"
    run("fetch:version", tracker.version, PROJECT, version)
    tickets = run("fetch:search", tracker.search_tickets, PROJECT, version, None)
    keys = {t["key"] for t in tickets}
    pulls: dict[str, PullRequestRecord] = {}
    merged: dict[str, list[tuple[str, str]]] = {}  # ticket -> (repo, merge sha)
    for repo in repos:
        info = run(f"repo:{repo}:info", host.repository, repo)
        mirror = run(f"repo:{repo}:sync", clients.planner.sync, info, host.git_auth_header())
        heads = clients.planner.branches(mirror)
        run(f"repo:{repo}:branch", host.ensure_branch, repo, branch, heads["develop"])
        for name in sorted(heads):
            key = name.removeprefix("feature/").rsplit("-", 2)[0]
            if not name.startswith("feature/") or key not in keys:
                continue
            message = f"Merge {name} into {branch}"
            done = run(f"repo:{repo}:merge:{name}", host.merge, repo, branch, name, message)
            merged.setdefault(key, []).append((repo, done["sha"] or ""))
        title = f"Release {version}"
        pulls[repo] = run(
            f"repo:{repo}:pr", host.get_or_create_pull_request, repo, branch, "main", title, title
        )
        _wait_green(run, clients, repo, pulls[repo]["number"], poll)
    title = f"{PROJECT} {version} release notes"
    body = "".join(f"<li>{t['key']} {t['summary']}</li>" for t in tickets)
    page = run("notes", wiki.ensure_page, SPACE, title, f"<ul>{body}</ul>", PARENT)
    for repo in repos:
        message = f"Release {version} [enigma release {version}]"
        number = pulls[repo]["number"]
        run(f"final:{repo}:merge", host.ensure_pull_request_merged, repo, number, message)
        tag = f"v{version}"
        run(f"final:{repo}:release", host.ensure_release, repo, tag, "main", version, page["url"])
    marker, words = (
        ticket_marker(PROJECT, version),
        Policy().tracker,
    )  # the built-in policy's words, as a run's
    for key in sorted(merged):
        run(f"ticket:{key}:status", tracker.ensure_status, key, "Done")
        links = ", ".join(f"{pulls[r]['html_url']} (merge {sha[:10]})" for r, sha in merged[key])
        text = f"{words.comment_for(version, links)} {marker}"  # the words Enigma posts
        run(f"ticket:{key}:comment", tracker.ensure_comment, key, marker, text)
        for repo, _ in merged[key]:
            url, label = pulls[repo]["html_url"], f"{repo} release PR"
            run(f"ticket:{key}:link", tracker.ensure_remote_link, key, url, label)
    today = datetime.now(UTC).date().isoformat()
    run("version", tracker.ensure_version_released, PROJECT, version, today)
    return run.result


def _wait_green(run: _Tracer, clients: Clients, repo: str, number: int, poll: float) -> None:
    """Poll the pull request's head and its checks until every check completed green.

    Only the last poll's calls stay in the trace: the critical path counts the read that
    saw CI finished, the earlier ones only waited for it.
    """
    host = clients.code_host
    for _ in range(10_000):
        head = run(f"repo:{repo}:checks", host.pull_request, repo, number)["head_sha"]
        found = run(f"repo:{repo}:checks+", host.checks, repo, head, ("check_runs",))
        run.result.calls[f"repo:{repo}:checks"] += run.result.calls.pop(f"repo:{repo}:checks+")
        if found and all(c["status"] == "completed" for c in found):
            bad = [c for c in found if c["conclusion"] != "success"]
            if bad:
                raise RuntimeError(f"CI failed on {repo}#{number}: {bad}")
            return
        t0 = time.perf_counter()
        time.sleep(poll)
        run.result.seconds += time.perf_counter() - t0
    raise TimeoutError(f"CI never finished on {repo}#{number}")

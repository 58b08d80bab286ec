"""What the CLI prints, without a release: run lists, summaries per outcome, help, the greeting.

`enigma runs` reads a store written here (no sandbox starts); summaries are rendered from run
records shaped as the run manager writes them at each outcome.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from enigma.cli_report import report
from enigma.cli_term import enigma_command
from enigma.runs.models import PendingDecision, RunRecord
from enigma.runs.sqlite_store import SqliteRunStore
from tests.e2e.terminal import Terminal

BIN = Path(sys.executable).parent / "enigma"
LONG_REPOS = ["payments-api", "web-app", "notifications", "billing-service", "search-indexer"]


def _record(run_id: str, version: str, **fields: Any) -> RunRecord:
    now = time.time()
    base: dict[str, Any] = {
        "id": run_id,
        "status": "running",
        "fix_version": version,
        "release_type": "minor",
        "repositories": LONG_REPOS,
        "actor": "alice",
        "created_at": now,
        "updated_at": now,
    }
    return RunRecord.model_validate(base | fields)


def _conflict() -> PendingDecision:
    return PendingDecision(
        interrupt_id="i-1",
        kind="conflict",
        choices=["skip", "abort"],
        payload={"repo": "payments-api", "branch": "feature/ENG-106-burst-limiter"},
    )


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A data directory with three runs: waiting on a conflict, blocked, and partial."""

    async def write() -> None:
        store = SqliteRunStore(tmp_path / "runs.sqlite3")
        try:
            waiting = _record(
                "run-c27d5c3a9b10",
                "2.4.0",
                status="waiting_for_approval",
                current_step="wait_for_checks",
                pending=[_conflict()],
            )
            blocked = _record("run-0f1e2d3c4b5a", "2.5.0", current_step="fetch_tickets")
            done = _record(
                "run-99aa88bb77cc",
                "2.3.0",
                status="succeeded",
                outcome="partial",
                finished_at=time.time(),
            )
            for run in (done, blocked, waiting):
                await store.create(run, None)
            await store.update(waiting.id, pending=[_conflict()])
            await store.update(blocked.id, blocked="jira unreachable")
        finally:
            await store.close()

    asyncio.run(write())
    return tmp_path


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")}
    return env | {"ENIGMA_DATA_DIR": str(data_dir)} | extra


def test_runs_at_80_columns_prints_whole_ids_and_fits(store_dir: Path) -> None:
    term = Terminal([str(BIN), "runs"], _env(store_dir, COLUMNS="80"), columns=80)
    try:
        assert term.wait(30) == 0
    finally:
        term.close()
    text = term.text
    for run_id in ("run-c27d5c3a9b10", "run-0f1e2d3c4b5a", "run-99aa88bb77cc"):
        assert run_id in text, text
    assert "…" not in text, text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80, text


def test_runs_through_a_pipe_says_what_each_run_waits_for_on_one_line(store_dir: Path) -> None:
    out = subprocess.run(
        [str(BIN), "runs"], env=_env(store_dir), capture_output=True, text=True, check=True
    )
    rows = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("run-")}
    assert len(rows) == 3, out.stdout
    assert all(", ".join(LONG_REPOS) in row for row in rows.values()), out.stdout
    assert "waits for conflict in payments-api" in rows["run-c27d5c3a9b10"]
    assert "wait_for_checks" not in rows["run-c27d5c3a9b10"]
    assert "blocked: jira unreachable" in rows["run-0f1e2d3c4b5a"]
    assert " partial " in rows["run-99aa88bb77cc"]
    assert out.stderr.strip() == "3 runs"


def test_help_shows_flags_without_a_type() -> None:
    out = subprocess.run([str(BIN), "run", "--help"], capture_output=True, text=True, check=True)
    assert "<bool>" not in out.stdout
    for flag in ("--dry-run ", "--auto-approve ", "--json "):
        assert flag in out.stdout, out.stdout


def _printed(run: RunRecord, values: dict[str, Any] | None = None) -> tuple[str, int]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=10_000, soft_wrap=True, no_color=True)
    code = report(run, values or {}, False, console, resume_hint="enigma resume RUN")
    return buffer.getvalue(), code


def test_summary_says_what_happened_for_each_outcome() -> None:
    at = time.mktime((2026, 3, 2, 14, 5, 0, 0, 0, -1))
    partial = _record(
        "run-1",
        "2.4.0",
        status="succeeded",
        outcome="partial",
        detail={
            "pull_requests": {"web-app": "http://x/pull/1", "notifications": "http://x/pull/2"},
            "tickets_done": ["ENG-101"],
            "left_out": [{"repo": "notifications", "branch": None, "reason": "checks failed"}],
            "not_shipped": ["ENG-107"],
            "done_by_hand": [{"operation": "publish release", "by": "bob", "note": "UI"}],
            "reason": "Released 2.4.0 in part",
        },
    )
    text, code = _printed(partial)
    assert code == 0
    assert "released 2.4.0 in part" in text
    assert "PR notifications: http://x/pull/2 (left out: not merged)" in text
    assert "left out notifications: checks failed" in text
    assert "not shipped: ENG-107" in text and "1 ticket done: ENG-101" in text
    assert "done by hand publish release by bob: UI" in text
    assert "enigma resume" not in text

    rejected = _record(
        "run-2",
        "2.4.0",
        status="cancelled",
        outcome="rejected",
        detail={"rejected": "plan", "by": "carol", "at": at, "comment": "too late"},
    )
    text, code = _printed(rejected)
    assert code == 1
    assert "rejected (plan rejected)" in text
    assert 'by carol at 2026-03-02 14:05:00: "too late"' in text

    refused = _record(
        "run-3",
        "9.9.9",
        status="cancelled",
        outcome="refused",
        detail={"reason": "fix version 9.9.9 does not exist in ENG"},
    )
    assert "refused: fix version 9.9.9 does not exist in ENG" in _printed(refused)[0]

    cancelled = _record(
        "run-4",
        "2.4.0",
        status="cancelled",
        outcome="cancelled",
        detail={"by": "dave", "at": at, "in_flight": ["merge_feature_branches"]},
    )
    assert (
        "by dave at 2026-03-02 14:05:00 while merge_feature_branches ran" in _printed(cancelled)[0]
    )

    failed = _record(
        "run-5",
        "2.4.0",
        status="failed",
        outcome="failed",
        detail={"where": "finalize", "what": "GitHub said 409: merge conflict"},
    )
    assert "failed in finalize: GitHub said 409: merge conflict" in _printed(failed)[0]

    paused = _record("run-6", "2.4.0", status="paused")
    text, _ = _printed(paused)
    assert "paused" in text and "continue with: enigma resume RUN" in text


def test_greeting_command_works_as_printed_from_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / ".venv" / "bin" / "enigma"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr(sys, "argv", [".venv/bin/enigma", "serve"])
    monkeypatch.chdir(tmp_path)
    assert enigma_command() == ".venv/bin/enigma"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(sys, "argv", [str(script), "serve"])
    assert enigma_command() == str(script)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    script.chmod(0o755)
    assert enigma_command() == "enigma"

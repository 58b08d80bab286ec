"""`enigma run` and `enigma resume` in a pseudo-terminal, pressed as a release manager does.

Each command starts its own sandbox process (as it does for a user) on the test's data
directory; the sandbox's admin API (its root is in `<data_dir>/sandbox/endpoint.json`)
slows merges down so that Ctrl-C lands while they run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.terminal import Terminal

BIN = Path(sys.executable).parent / "enigma"
BACKEND = Path(__file__).resolve().parents[2] / "backend"
RESUME = re.compile(r"enigma resume (run-[0-9a-f]{12})")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(BACKEND), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    return (
        env
        | {
            "ENIGMA_DATA_DIR": str(data_dir),
            "ENIGMA_USER": "alice",
            "ENIGMA_SANDBOX_CHECK_DELAY_SECONDS": "0.3",
            "ENIGMA_CHECK_POLL_SECONDS": "0.1",
            "ENIGMA_HTTP_BACKOFF_SECONDS": "0.05",
        }
        | extra
    )


@pytest.fixture
def terminals(tmp_path: Path) -> Iterator[list[Terminal]]:
    """Terminals opened by a test, killed at its end if still running."""
    opened: list[Terminal] = []
    yield opened
    for term in opened:
        term.close()


def _open(opened: list[Terminal], data_dir: Path, *args: str, **env: str) -> Terminal:
    log = data_dir.parent / "terminal.log"
    term = Terminal([str(BIN), *args], _env(data_dir, **env), log=log)
    opened.append(term)
    return term


def _show(data_dir: Path, run_id: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(BIN), "show", run_id, "--json"],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    body: dict[str, Any] = json.loads(out.stdout)
    return body


def _answer(term: Terminal, choice: str, comment: str = "") -> None:
    term.expect(r"Your answer \[[a-z/]+\]: ", 120)
    term.send(f"{choice}\r")
    term.expect(r"Comment \(optional\): ")
    term.send(f"{comment}\r")


def _port(data_dir: Path) -> str:
    return (data_dir / "sandbox" / "port").read_text().strip()


@pytest.mark.slow
def test_ctrl_c_at_the_plan_prompt_leaves_it_open_and_resume_answers_as_the_user(
    data_dir: Path, terminals: list[Terminal]
) -> None:
    first = _open(terminals, data_dir, "run", "--fix-version", "2.4.0")
    run_id = first.expect(r"Run (run-[0-9a-f]{12}) started \(fix version 2\.4\.0").group(1)
    first.expect(r"Plan \w+ for 2\.4\.0", 90)
    first.expect(r"Your answer \[approve/reject/amend\]: ")
    first.ctrl_c()
    assert first.wait(30) == 130
    assert "the plan approval is left unanswered" in first.text
    assert RESUME.findall(first.text) == [run_id]
    assert "Traceback" not in first.text
    assert _show(data_dir, run_id)["run"]["status"] == "waiting_for_approval"
    port = _port(data_dir)

    second = _open(terminals, data_dir, "resume", run_id)
    second.expect(rf"Run {run_id} \(2\.4\.0\) waits for the plan approval")
    _answer(second, "approve", "looks right")
    second.expect(r"Merge conflict in payments-api: feature/ENG-106-burst-limiter \(ENG-106\)", 120)
    second.expect(r"conflicts with: feature/ENG-105-partner-rate-limit")
    second.expect(rf"compare: http://127\.0\.0\.1:{port}/github/\S+/compare/")
    _answer(second, "skip")
    second.expect("Approving release 2.4.0 will:", 120)
    _answer(second, "approve")
    assert second.wait(60) == 0
    assert "Traceback" not in second.text
    second.expect(rf"Run {run_id} \(2\.4\.0\): released 2\.4\.0 in part")
    second.expect(rf"PR payments-api: http://127\.0\.0\.1:{port}/")  # the same sandbox port
    second.expect("left out payments-api feature/ENG-106-burst-limiter")

    shown = _show(data_dir, run_id)
    decisions = [e for e in shown["events"] if e["type"] == "decision.made"]
    assert [(e["data"]["kind"], e["actor"]) for e in decisions] == [
        ("plan_approval", "alice"),
        ("conflict", "alice"),
        ("release_approval", "alice"),
    ]
    assert shown["run"]["actor"] == "alice"
    assert shown["summary"]["outcome"] == "partial"


@pytest.mark.slow
def test_ctrl_c_while_merges_run_pauses_at_a_step_boundary(
    data_dir: Path, terminals: list[Terminal]
) -> None:
    term = _open(terminals, data_dir, "run", "--fix-version", "2.4.0", "--auto-approve")
    run_id = term.expect(r"Run (run-[0-9a-f]{12}) started").group(1)
    admin = json.loads((data_dir / "sandbox" / "endpoint.json").read_text())["admin"]
    port = _port(data_dir)
    fault = {"kind": "latency", "route": "/merges$", "latency_ms": 1500}
    requests.post(f"{admin}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    term.expect(r"… merge_feature_branches", 90)
    term.ctrl_c()
    term.expect(rf"Ctrl-C: pausing run {run_id} at the next step boundary")
    assert term.wait(60) == 130
    assert RESUME.findall(term.text) == [run_id]
    assert "Traceback" not in term.text
    shown = _show(data_dir, run_id)
    assert shown["run"]["status"] == "paused"
    asked = [e for e in shown["events"] if e["type"] == "run.pause_requested"]
    assert [e["actor"] for e in asked] == ["alice"]

    # no terminal this time: the --json summary of how the release ended
    done = subprocess.run(
        [str(BIN), "resume", run_id, "--json"],
        env=_env(data_dir),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["status"], summary["outcome"]) == ("succeeded", "partial")
    assert summary["detail"]["left_out"] == [
        {
            "repo": "payments-api",
            "branch": "feature/ENG-106-burst-limiter",
            "reason": "merge conflict in config/limits.toml",
        }
    ]
    assert summary["detail"]["not_shipped"] == ["ENG-106", "ENG-110"]
    assert "ENG-101" in summary["tickets_done"] and "ENG-106" not in summary["tickets_done"]
    assert summary["tickets_done"] == summary["detail"]["tickets_done"]
    assert all(f"127.0.0.1:{port}/" in url for url in summary["pull_requests"].values())


@pytest.mark.slow
def test_release_approval_lists_only_what_approving_merges(
    data_dir: Path, terminals: list[Terminal]
) -> None:
    term = _open(
        terminals,
        data_dir,
        "run",
        "--fix-version",
        "2.5.0",
        "--repos",
        "payments-api,notifications",
    )
    run_id = term.expect(r"Run (run-[0-9a-f]{12}) started").group(1)
    _answer(term, "approve")
    term.expect(r"Step wait_for_checks failed in notifications: ChecksFailed", 120)
    term.expect("retrying will not help by itself")
    term.expect(r"Your answer \[skip/abort/retry\]: ")  # retry offered last, not by default
    term.send("skip\r")
    term.expect(r"Comment \(optional\): ")
    term.send("CI is red\r")
    will = term.expect(r"(?s)Approving release 2\.5\.0 will:(.*?)Your answer", 120).group(1)
    merges = re.findall(r"merge (\S+) PR #\d+ into main", will)
    assert merges == ["payments-api"], will
    assert re.search(r"It leaves out:\s+notifications: wait_for_checks failed", will), will
    assert "tag payments-api v2.5.0" in will and "tag notifications" not in will
    term.send("reject\r")
    term.expect(r"Comment \(optional\): ")
    term.send("not this week\r")
    assert term.wait(60) == 1
    term.expect(rf"Run {run_id} \(2\.5\.0\): rejected \(release rejected\)")
    term.expect(r'by alice at [0-9-]+ [0-9:]+: "not this week"')
    assert "Traceback" not in term.text


@pytest.mark.slow
def test_a_plan_that_takes_two_approvers_waits_for_the_second(
    data_dir: Path, tmp_path: Path, terminals: list[Terminal]
) -> None:
    example = subprocess.run(
        [str(BIN), "policy", "example"], capture_output=True, text=True, check=True
    ).stdout
    plan_rule = "[approvals.plan_approval]\napprovers = 1"
    assert plan_rule in example
    policy = tmp_path / "enigma.toml"
    policy.write_text(example.replace(plan_rule, "[approvals.plan_approval]\napprovers = 2"))
    two = {"ENIGMA_POLICY": str(policy)}
    alice = _open(terminals, data_dir, "run", "--fix-version", "2.5.0", "--repos", "web-app", **two)
    run_id = alice.expect(r"Run (run-[0-9a-f]{12}) started").group(1)
    alice.expect("needs 2 approvals; 0 of 2 so far", 90)
    _answer(alice, "approve")
    alice.expect(r"Approved \(1 of 2 approvals\); waiting for 1 more")

    bob = _open(terminals, data_dir, "resume", run_id, ENIGMA_USER="bob", **two)
    bob.expect("needs 2 approvals; 1 of 2 so far: alice", 60)
    _answer(bob, "approve", "second pair of eyes")
    # the release approval is asked in both terminals; bob answers, alice's prompt goes away
    alice.expect("Approving release 2.5.0 will:", 120)
    _answer(bob, "approve")
    alice.expect("Answered meanwhile: bob chose approve.", 30)
    assert bob.wait(90) == 0
    bob.expect(rf"Run {run_id} \(2\.5\.0\): released 2\.5\.0")
    assert alice.wait(30) == 0
    alice.expect(rf"Run {run_id} \(2\.5\.0\): released 2\.5\.0")
    decisions = [e for e in _show(data_dir, run_id)["events"] if e["type"] == "decision.made"]
    assert [(e["actor"], e["data"].get("partial", False)) for e in decisions] == [
        ("alice", True),
        ("bob", False),
        ("bob", False),
    ]

"""Kill the CLI with SIGKILL at five points of one release; `enigma resume` finishes it.

The sandbox runs in its own process so it outlives the kills; each kill point is widened with
a latency fault on the route the step is using, and recognised from the sandbox's effect log
or the run store. At the end every effect of a release is in the log exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import PG_DSN, RELEASE_2_4_0_EFFECTS

BIN = Path(sys.executable).parent / "enigma"
EXPECTED = RELEASE_2_4_0_EFFECTS


STORES: dict[str, dict[str, str]] = {}


def _env(data_dir: Path) -> dict[str, str]:
    return (
        os.environ
        | STORES.get(str(data_dir), {})
        | {
            "ENIGMA_DATA_DIR": str(data_dir),
            "ENIGMA_SANDBOX_CHECK_DELAY_SECONDS": "0.3",
            "ENIGMA_CHECK_POLL_SECONDS": "0.1",
            "ENIGMA_HTTP_BACKOFF_SECONDS": "0.05",
        }
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run the same crash test on the embedded SQLite default and on PostgreSQL."""
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        STORES[str(tmp_path)] = {
            "ENIGMA_DATABASE_URL": PG_DSN,
            "ENIGMA_DATABASE_SCHEMA": schema,
            "ENIGMA_LEASE_SECONDS": "3",
            "ENIGMA_CLAIM_POLL_SECONDS": "0.2",
        }
    yield request.param
    STORES.pop(str(tmp_path), None)


@pytest.fixture
def sandbox_process(tmp_path: Path, store_env: str) -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(
        [str(BIN), "sandbox", "--json", "--data-dir", str(tmp_path)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    urls: dict[str, str] = json.loads(proc.stdout.readline())
    urls["root"] = urls["jira"].removesuffix("/jira")
    yield urls
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


def _effects(urls: dict[str, str]) -> list[dict[str, Any]]:
    return list(requests.get(f"{urls['root']}/_sandbox/effects", timeout=5).json()["effects"])


def _fault(urls: dict[str, str], **rule: Any) -> None:
    requests.delete(f"{urls['root']}/_sandbox/faults", timeout=5)
    if rule:
        requests.post(f"{urls['root']}/_sandbox/faults", json=rule, timeout=5).raise_for_status()


def _run_store(data_dir: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(BIN), "runs", "--json"], env=_env(data_dir), capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout))


def _wait(pred: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _kinds(urls: dict[str, str]) -> Counter[str]:
    return Counter(e["kind"] for e in _effects(urls))


def _step(data_dir: Path) -> str | None:
    runs = _run_store(data_dir)
    return runs[0]["current_step"] if runs else None


@pytest.mark.slow
def test_sigkill_at_five_points_then_resume(
    tmp_path: Path, sandbox_process: dict[str, str]
) -> None:
    urls, env = sandbox_process, _env(tmp_path)

    def launch(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(BIN), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )

    kills: list[str] = []

    def kill(proc: subprocess.Popen[str], point: str) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        kills.append(point)

    # 1. mid-fetch: the ticket search hangs for 5 s
    _fault(urls, kind="latency", route="/jira/rest/api/2/search", latency_ms=5000)
    proc = launch("run", "--fix-version", "2.4.0", "--auto-approve", "--json")
    _wait(lambda: _step(tmp_path) == "fetch_tickets", "fetch_tickets to start")
    time.sleep(0.5)
    kill(proc, "mid-fetch")
    assert _effects(urls) == []
    run_id = _run_store(tmp_path)[0]["id"]

    # 2. between merges: each merge takes 0.6 s
    _fault(urls, kind="latency", route="/merges$", latency_ms=600)
    proc = launch("resume", run_id, "--json")
    _wait(lambda: 1 <= _kinds(urls)["merge"] < 9, "the first merges")
    kill(proc, "between merges")

    # 3. right after the first pull request is created
    _fault(urls, kind="latency", route="/check-runs$", latency_ms=400)
    proc = launch("resume", run_id, "--json")
    _wait(lambda: _kinds(urls)["pull.create"] >= 1, "a pull request")
    kill(proc, "right after a PR")

    # 4. during the notes: creating the page hangs for 5 s
    _fault(
        urls,
        kind="latency",
        route="/confluence/rest/api/content",
        methods=["POST"],
        latency_ms=5000,
    )
    proc = launch("resume", run_id, "--json")
    _wait(lambda: _step(tmp_path) == "publish_release_notes", "the notes", timeout=90)
    time.sleep(0.5)
    kill(proc, "during notes")

    # 5. during finalize: transitions are slow, kill after the first one
    _fault(urls, kind="latency", route="/transitions$", methods=["POST"], latency_ms=300)
    proc = launch("resume", run_id, "--json")
    _wait(lambda: _kinds(urls)["transition"] >= 1, "the first transition", timeout=90)
    kill(proc, "during finalize")

    _fault(urls)
    done = subprocess.run(
        [str(BIN), "resume", run_id, "--json"], env=env, capture_output=True, text=True, timeout=180
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded", done.stderr[-2000:]
    assert kills == [
        "mid-fetch",
        "between merges",
        "right after a PR",
        "during notes",
        "during finalize",
    ]
    keys = Counter(e["key"] for e in _effects(urls))
    assert [k for k, n in keys.items() if n > 1] == []
    counts = _kinds(urls)
    assert {k: counts[k] for k in EXPECTED} == EXPECTED

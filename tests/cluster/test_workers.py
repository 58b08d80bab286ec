"""Three `enigma serve` workers on one PostgreSQL share thirty releases; one dies mid-run.

Each release is its own fix version (one live run per version is the rule).

Runs are started through different workers; some wait for approval and are approved through a
worker that is not executing them; one worker is killed with SIGKILL while it holds runs. Every
run still succeeds, the sandbox effect log shows each effect once, and an SSE client on a
surviving worker sees every event of a run that another worker executed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from enigma.sandbox.seeds import chaos_seed, chaos_version
from tests.cluster.conftest import AUTH, BIN, TOKEN, Worker
from tests.conftest import PG_DSN

AUTO = {"auto_approve": True, "on_conflict": "skip", "on_check_failure": "abort", "on_error": "ask"}
MANUAL = {
    "auto_approve": False,
    "on_conflict": "skip",
    "on_check_failure": "abort",
    "on_error": "ask",
}
TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture
def cluster(tmp_path: Path, pg_schema: str) -> Iterator[tuple[list[Worker], dict[str, str]]]:
    seed = chaos_seed(tmp_path / "seed.toml", runs=30)
    sandbox = subprocess.Popen(
        [str(BIN), "sandbox", "--json", "--data-dir", str(tmp_path / "sb"), "--seed", str(seed)],
        env=os.environ | {"ENIGMA_SANDBOX_CHECK_DELAY_SECONDS": "0.3"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sandbox.stdout is not None
    urls: dict[str, str] = json.loads(sandbox.stdout.readline())
    urls["root"] = urls["jira"].removesuffix("/jira")
    env = os.environ | {
        "ENIGMA_DATABASE_URL": PG_DSN,
        "ENIGMA_DATABASE_SCHEMA": pg_schema,
        "ENIGMA_SANDBOX_PORT": urls["root"].rsplit(":", 1)[1],
        "ENIGMA_SANDBOX_TOKEN": urls["token"],
        "ENIGMA_API_TOKENS": json.dumps({TOKEN: {"user": "rm", "roles": ["admin"]}}),
        "ENIGMA_CHECK_POLL_SECONDS": "0.1",
        "ENIGMA_LEASE_SECONDS": "3",
        "ENIGMA_CLAIM_POLL_SECONDS": "0.5",
        "ENIGMA_MAX_CONCURRENT_RUNS": "6",
    }
    workers = [Worker(f"w{i}", env, tmp_path) for i in range(3)]
    try:
        for worker in workers:
            worker.wait_ready()
        yield workers, urls
    finally:
        for worker in workers:
            worker.stop()
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=10)


def _claims(client: httpx.Client, run_id: str) -> list[str]:
    events = client.get(f"/api/runs/{run_id}/events", params={"format": "json"}).json()["events"]
    return [e["data"]["worker"] for e in events if e["type"] == "run.claimed"]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_three_workers_share_runs_and_survive_a_kill(
    cluster: tuple[list[Worker], dict[str, str]],
) -> None:
    workers, urls = cluster
    clients = [httpx.Client(base_url=w.url, headers=AUTH, timeout=30) for w in workers]
    run_ids: list[str] = []
    manual: list[str] = []
    for i in range(30):
        policy = MANUAL if i % 5 == 0 else AUTO
        body = {
            "fix_version": chaos_version(i),
            "repositories": ["payments-api", "web-app", "notifications"],
            "release_type": "minor",
            "policy": policy,
        }
        resp = clients[i % 3].post("/api/runs", json=body)
        assert resp.status_code == 201, resp.text
        run_ids.append(resp.json()["id"])
        if policy is MANUAL:
            manual.append(run_ids[-1])

    # an SSE client on w2 follows a manual run; we make sure it is executed elsewhere below
    watched = manual[0]
    seen: list[dict[str, Any]] = []
    done = threading.Event()

    def follow() -> None:
        timeout = httpx.Timeout(10, read=120)  # SSE: long reads between events
        with (
            httpx.Client(base_url=workers[2].url, headers=AUTH, timeout=timeout) as c,
            connect_sse(c, "GET", f"/api/runs/{watched}/events") as source,
        ):
            for sse in source.iter_sse():
                if sse.event == "shutdown":
                    return
                if not sse.data:  # keep-alive frames carry no event
                    continue
                seen.append(json.loads(sse.data))
                if sse.event == "run.finished":  # the run's last event
                    done.set()
                    return

    threading.Thread(target=follow, daemon=True).start()

    # kill w0 once it holds executing runs
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = (
            clients[1].get("/api/runs", params={"status": "running", "limit": 100}).json()["runs"]
        )
        if any(
            w.startswith(_worker_prefix(workers[0]))
            for r in running
            for w in _claims(clients[1], r["id"])[-1:]
        ):
            break
        time.sleep(0.1)
    workers[0].proc.send_signal(signal.SIGKILL)
    workers[0].proc.wait(timeout=10)
    survivors = clients[1:]

    approved_elsewhere = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = {
            r["id"]: r for r in survivors[0].get("/api/runs", params={"limit": 100}).json()["runs"]
        }
        if all(runs[r]["status"] in TERMINAL for r in run_ids):
            break
        for run_id in manual:
            run = runs[run_id]
            if run["status"] != "waiting_for_approval":
                continue
            executor = (_claims(survivors[0], run_id) or [""])[-1]
            other = next(
                c
                for c, w in zip(survivors, workers[1:], strict=True)
                if not executor.startswith(_worker_prefix(w))
            )
            for pending in run["pending"]:
                action = "approve" if pending["kind"].endswith("approval") else "retry"
                r = other.post(
                    f"/api/runs/{run_id}/{action}", json={"interrupt_id": pending["interrupt_id"]}
                )
                if r.status_code == 202:
                    approved_elsewhere += 1
        for run_id, run in runs.items():  # on-call answers error decisions with retry
            for pending in run["pending"]:
                if pending["kind"] == "error":
                    survivors[1].post(
                        f"/api/runs/{run_id}/retry", json={"interrupt_id": pending["interrupt_id"]}
                    )
        time.sleep(0.3)

    runs = {r["id"]: r for r in survivors[0].get("/api/runs", params={"limit": 100}).json()["runs"]}
    assert {runs[r]["status"] for r in run_ids} == {"succeeded"}, {
        r: runs[r]["status"] for r in run_ids
    }
    assert approved_elsewhere >= len(manual) * 2
    executors = {w.rsplit(":", 1)[0] for r in run_ids for w in _claims(survivors[0], r)}
    assert len(executors) == 3, executors  # every worker executed something, w0 included

    effects = httpx.get(f"{urls['root']}/_sandbox/effects", timeout=10).json()["effects"]
    keys = Counter(e["key"] for e in effects)
    assert [k for k, n in keys.items() if n > 1] == []
    assert Counter(e["kind"] for e in effects)["pull.create"] == 3 * len(run_ids)

    assert done.wait(30), "the SSE client on w2 did not see the watched run finish"
    stored = (
        survivors[1].get(f"/api/runs/{watched}/events", params={"format": "json"}).json()["events"]
    )
    assert [e["id"] for e in seen] == [e["id"] for e in stored]


def _worker_prefix(worker: Worker) -> str:
    return f"{socket.gethostname()}:{worker.proc.pid}:"

"""Two workers on a PostgreSQL of the test's own: the database goes away, a worker freezes.

- PostgreSQL stopped for 20 s in the middle of six releases: `/healthz` keeps answering,
  `/readyz` says 503 with the cause at once, the API answers 503 with Retry-After (never a
  500, never a hang), and once the database is back every run finishes by itself: none
  failed, none left `running` with nothing executing it, every side effect once.
- A worker frozen (SIGSTOP) past its lease while it executes a run: the other worker takes
  the run over and finishes it; the frozen one, woken up (SIGCONT), writes nothing more for
  it (no event of its own after the freeze) and starts no call (no side effect twice).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enigma.sandbox.seeds import chaos_seed, chaos_version
from tests.cluster.conftest import AUTH, BIN, TOKEN, Worker
from tests.conftest import PrivatePostgres

AUTO = {"auto_approve": True, "on_conflict": "skip", "on_check_failure": "abort", "on_error": "ask"}
REPOS = ["payments-api", "web-app", "notifications"]
TERMINAL = {"succeeded", "failed", "cancelled"}


class Cluster:
    """A sandbox process and workers on a private PostgreSQL."""

    def __init__(self, base: Path, postgres: PrivatePostgres, versions: int):
        seed = chaos_seed(base / "seed.toml", runs=versions)
        self.sandbox = subprocess.Popen(
            [str(BIN), "sandbox", "--json", "--data-dir", str(base / "sb"), "--seed", str(seed)],
            env=os.environ | {"ENIGMA_SANDBOX_CHECK_DELAY_SECONDS": "0.3"},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.sandbox.stdout is not None
        urls: dict[str, str] = json.loads(self.sandbox.stdout.readline())
        self.root = urls["jira"].removesuffix("/jira")
        self.base = base
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")} | {
            "ENIGMA_DATABASE_URL": postgres.dsn,
            "ENIGMA_SANDBOX_PORT": self.root.rsplit(":", 1)[1],
            "ENIGMA_SANDBOX_TOKEN": urls["token"],
            "ENIGMA_API_TOKENS": json.dumps({TOKEN: {"user": "rm", "roles": ["admin"]}}),
            "ENIGMA_CHECK_POLL_SECONDS": "0.1",
            "ENIGMA_HTTP_BACKOFF_SECONDS": "0.05",
            "ENIGMA_LEASE_SECONDS": "3",
            "ENIGMA_CLAIM_POLL_SECONDS": "0.5",
        }
        self.workers: list[Worker] = []

    def worker(self, name: str) -> Worker:
        started = Worker(name, self.env, self.base)
        started.wait_ready()
        self.workers.append(started)
        return started

    def effects(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.root}/_sandbox/effects", timeout=10).json()["effects"])

    def fault(self, **rule: Any) -> None:
        httpx.delete(f"{self.root}/_sandbox/faults", timeout=5)
        if rule:
            httpx.post(f"{self.root}/_sandbox/faults", json=rule, timeout=5).raise_for_status()

    def close(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGCONT)
            worker.stop()
        self.sandbox.send_signal(signal.SIGTERM)
        self.sandbox.wait(timeout=10)


@pytest.fixture
def cluster(tmp_path: Path, private_postgres: PrivatePostgres) -> Iterator[Cluster]:
    built = Cluster(tmp_path, private_postgres, versions=6)
    yield built
    built.close()


def _no_duplicates(effects: list[dict[str, Any]]) -> None:
    keys = Counter((e["peer"], e["kind"], e["key"]) for e in effects)
    assert [k for k, n in keys.items() if n > 1] == [], "a side effect happened twice"


def _start(client: httpx.Client, index: int) -> str:
    body = {"fix_version": chaos_version(index), "repositories": REPOS, "policy": AUTO}
    answer = client.post("/api/runs", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _claims(
    client: httpx.Client, run_id: str, count: int, timeout: float = 60
) -> list[dict[str, Any]]:
    """The run's `run.claimed` events, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        events = client.get(f"/api/runs/{run_id}/events", params={"format": "json"})
        claims = [e for e in events.json()["events"] if e["type"] == "run.claimed"]
        if len(claims) >= count:
            return claims
        assert time.monotonic() < deadline, f"{len(claims)} claims of {run_id}, wanted {count}"
        time.sleep(0.1)


def _runs(client: httpx.Client) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in client.get("/api/runs", params={"limit": 100}).json()["runs"]}


def _wait_all_finished(client: httpx.Client, ids: list[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            runs = _runs(client)
            if all(runs[r]["status"] in TERMINAL for r in ids):
                return runs
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        assert time.monotonic() < deadline, "runs did not finish"
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(400)
def test_postgres_stopped_for_twenty_seconds_under_two_workers(
    cluster: Cluster, private_postgres: PrivatePostgres
) -> None:
    w1, w2 = cluster.worker("w1"), cluster.worker("w2")
    client = httpx.Client(base_url=w1.url, headers=AUTH, timeout=30)
    cluster.fault(kind="latency", route="/merges$", methods=["POST"], latency_ms=300)
    ids = [_start(client, i) for i in range(6)]
    while sum(e["kind"] == "merge" for e in cluster.effects()) < 4:
        time.sleep(0.2)

    private_postgres.stop("fast")
    stopped = time.monotonic()
    seen_503 = {"readyz": 0, "api": 0}
    # "promptly" is the probe's own one second plus scheduling slack on two loaded cores;
    # waiting on the database would take its 3 s connect timeout, a hang longer still
    prompt = 2.5
    while time.monotonic() - stopped < 20:
        for worker in (w1, w2):
            began = time.monotonic()
            health = httpx.get(f"{worker.url}/healthz", timeout=5)
            assert health.status_code == 200 and time.monotonic() - began < prompt
            began = time.monotonic()
            ready = httpx.get(f"{worker.url}/readyz", timeout=5)
            if ready.status_code == 503:
                assert time.monotonic() - began < prompt
                assert "database" in ready.json()["cause"]
                seen_503["readyz"] += 1
            api = httpx.get(f"{worker.url}/api/runs", headers=AUTH, timeout=10)
            assert api.status_code in (200, 503), api.text  # never a 500, never a hang
            if api.status_code == 503:
                assert api.headers["retry-after"] and "database" in api.json()["detail"]
                seen_503["api"] += 1
        time.sleep(0.5)
    assert seen_503["readyz"] > 0 and seen_503["api"] > 0, seen_503
    private_postgres.start()
    cluster.fault()

    runs = _wait_all_finished(client, ids, timeout=240)
    assert {r: runs[r]["status"] for r in ids} == dict.fromkeys(ids, "succeeded")
    _no_duplicates(cluster.effects())
    assert httpx.get(f"{w2.url}/readyz", timeout=5).status_code == 200


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_a_frozen_worker_writes_nothing_once_another_took_its_run(cluster: Cluster) -> None:
    workers = [cluster.worker("w1"), cluster.worker("w2")]
    client = httpx.Client(base_url=workers[0].url, headers=AUTH, timeout=30)
    cluster.fault(kind="latency", route="/merges$", methods=["POST"], latency_ms=3000)
    run_id = _start(client, 0)
    claims = _claims(client, run_id, 1)
    holder = next(w for w in workers if claims[0]["worker"].split(":")[1] == str(w.proc.pid))
    w1, w2 = holder, next(w for w in workers if w is not holder)
    while not any(  # merges on the wire (each takes 3 s)
        e["type"] == "step.started" and e["step"] == "merge_feature_branches"
        for e in client.get(f"/api/runs/{run_id}/events", params={"format": "json"}).json()[
            "events"
        ]
    ):
        time.sleep(0.05)
    time.sleep(0.5)

    w1.proc.send_signal(signal.SIGSTOP)
    frozen_at = time.time()
    claims = _claims(httpx.Client(base_url=w2.url, headers=AUTH), run_id, 2, timeout=30)
    assert claims[-1]["worker"] != claims[0]["worker"], "the same worker claimed twice"
    time.sleep(2)
    w1.proc.send_signal(signal.SIGCONT)
    cluster.fault()

    other = httpx.Client(base_url=w2.url, headers=AUTH, timeout=30)
    runs = _wait_all_finished(other, [run_id], timeout=120)
    assert runs[run_id]["status"] == "succeeded", runs[run_id]["error"]
    stale = claims[0]["worker"]
    events = other.get(f"/api/runs/{run_id}/events", params={"format": "json"}).json()["events"]
    late = [e for e in events if e["worker"] == stale and e["at"] > frozen_at]
    assert late == [], f"the frozen worker wrote after its lease was taken: {late}"
    _no_duplicates(cluster.effects())

"""`enigma studio` end to end: the sandbox and `langgraph dev` on a free port, then a release
driven through the server's API with langgraph-sdk the way Studio drives it (same resume
payloads as the REST API), checked on the sandbox's effect log.

The server runs as `make dev` runs it, with outbound HTTP pointed at a trap: any attempt to
reach the internet (analytics, version check, tracing) fails the module at teardown.
"""

from __future__ import annotations

import collections
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from enigma.state import RELEASE_TYPES
from enigma.studio import free_port
from enigma.studio_graph import graph as release_graph

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

REPOS = ["payments-api", "web-app", "notifications"]
ANSWERS = {"plan_approval": "approve", "conflict": "skip", "release_approval": "approve"}
CONFLICTING_BRANCH = "feature/ENG-106-burst-limiter"  # seeded to conflict in payments-api


class OutboundTrap:
    """A proxy that answers nothing and remembers every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.hits: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    self.hits.append(conn.recv(200))
                except OSError:
                    self.hits.append(b"?")

    def close(self) -> None:
        self.sock.close()


@dataclass
class RunningStudio:
    """What `enigma studio --json` printed, and where its log and data are."""

    urls: dict[str, str]
    data_dir: Path
    log: Path
    client: SyncLangGraphClient = field(repr=False)

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


def _studio_env(data_dir: Path, trap: OutboundTrap) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")}
    env |= {
        "ENIGMA_DATA_DIR": str(data_dir),
        "ENIGMA_SANDBOX_CHECK_DELAY_SECONDS": "0.3",
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[name] = trap.url
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStudio]:
    """`enigma studio --port <free> --json` on its own data directory; stopped with SIGTERM."""
    data_dir = tmp_path_factory.mktemp("studio") / "data"
    log = data_dir.parent / "studio.log"
    trap = OutboundTrap()
    enigma = Path(sys.executable).parent / "enigma"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [str(enigma), "studio", "--port", str(free_port()), "--json"],
            env=_studio_env(data_dir, trap),
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
    try:
        line = _read_line(proc, timeout=90)
        assert line, f"enigma studio printed no URLs:\n{log.read_text(errors='replace')[-4000:]}"
        urls = json.loads(line)
        running = RunningStudio(urls, data_dir, log, get_sync_client(url=urls["api"]))
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        trap.close()
    tail = log.read_text(errors="replace")[-4000:]
    assert code == 0, f"enigma studio exited with {code} on SIGTERM:\n{tail}"
    assert not (data_dir / "sandbox" / "endpoint.json").exists(), "sandbox left announced"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{urls['api']}/ok", timeout=2)
    assert not trap.hits, f"langgraph dev tried to reach the internet: {trap.hits}"
    assert (data_dir / "studio" / ".langgraph_api").is_dir(), "threads not kept in the data dir"


def _assistant_id(client: SyncLangGraphClient) -> str:
    assistants = client.assistants.search(graph_id="enigma_release")
    assert [a["graph_id"] for a in assistants] == ["enigma_release"]
    return str(assistants[0]["assistant_id"])


def _effects(studio: RunningStudio) -> list[dict[str, Any]]:
    response = requests.get(f"{studio.urls['sandbox']}/_sandbox/effects", timeout=5)
    response.raise_for_status()
    return list(response.json()["effects"])


def test_studio_shows_the_graph_and_its_input_and_context_schemas(studio: RunningStudio) -> None:
    client = studio.client
    assistant = _assistant_id(client)

    drawn = client.assistants.get_graph(assistant, xray=True)
    expected = set(release_graph.get_graph(xray=True).nodes)
    assert {node["id"] for node in drawn["nodes"]} == expected
    assert {
        "approve_plan",
        "approve_release",
        "release_repository:merge_feature_branches",
        "release_repository:decide_conflict",
        "release_repository:wait_for_checks",
    } <= expected

    schemas = client.assistants.get_schemas(assistant)
    form, context = schemas["input_schema"], schemas["context_schema"]
    assert form is not None and context is not None
    assert {"fix_version", "repositories", "release_type"} <= set(form["required"])
    assert set(form["properties"]["release_type"]["enum"]) == set(RELEASE_TYPES)
    assert {"project", "wiki_space", "wiki_parent_title", "check_poll_seconds"} <= set(
        context["properties"]
    )
    assert not {"clients", "clock"} & set(context["properties"])
    assert context["properties"]["project"]["default"] == "ENG"
    assert "Jira project" in context["properties"]["project"]["description"]


def test_release_runs_to_the_end_through_studio_interrupts(studio: RunningStudio) -> None:
    client = studio.client
    assistant = _assistant_id(client)
    before = len(_effects(studio))
    thread = client.threads.create()["thread_id"]
    started = time.monotonic()

    # What a release manager types into Studio's input form; no workflow_id.
    start: dict[str, Any] = {"fix_version": "2.4.0", "repositories": REPOS, "release_type": "minor"}
    client.runs.wait(thread, assistant, input=start, context={"check_poll_seconds": 0.2})
    state = client.threads.get_state(thread)
    first = state["values"]
    assert isinstance(first, dict)
    assert [i["value"]["kind"] for i in state["interrupts"]] == ["plan_approval"], (
        f"{first.get('error')}\n{studio.log_tail()}"
    )
    plan = state["interrupts"][0]["value"]["plan"]
    assert [r["repo"] for r in plan["repositories"]] == REPOS
    assert len(_effects(studio)) == before, "the plan wrote to a service before approval"

    asked: list[str] = []
    for _ in range(6):
        pending = client.threads.get_state(thread)["interrupts"]
        if not pending:
            break
        asked += [i["value"]["kind"] for i in pending]
        answers = {
            i["id"]: {
                "action": ANSWERS[i["value"]["kind"]],
                "actor": "studio-test",
                "comment": "from the Studio test",
            }
            for i in pending
        }
        resume = next(iter(answers.values())) if len(answers) == 1 else answers
        client.runs.wait(
            thread, assistant, command={"resume": resume}, context={"check_poll_seconds": 0.2}
        )

    assert asked == ["plan_approval", "conflict", "release_approval"], studio.log_tail()
    final = client.threads.get_state(thread)
    values = final["values"]
    assert isinstance(values, dict)
    assert final["next"] == []
    # the conflict was skipped, so its branch and tickets are left out: released in part
    assert values["outcome"] == "partial", f"{values.get('outcome_reason')}\n{studio.log_tail()}"
    assert "1 left out" in values["outcome_reason"]
    assert values["repo_outcomes"] == dict.fromkeys(REPOS, "ready")
    assert [s["branch"] for s in values["skipped"]] == [CONFLICTING_BRANCH]
    assert [(a["kind"], a["actor"]) for a in values["approvals"]] == [
        ("plan_approval", "studio-test"),
        ("conflict", "studio-test"),
        ("release_approval", "studio-test"),
    ]
    assert [r["status"] for r in client.runs.list(thread)] == ["success"] * 4

    effects = _effects(studio)[before:]
    keys = [e["key"] for e in effects]
    assert [k for k, n in collections.Counter(keys).items() if n > 1] == []
    for repo in REPOS:
        assert f"github:ref:acme/{repo}:refs/heads/release/2.4.0" in keys
        assert f"github:pull:acme/{repo}:release/2.4.0->main" in keys
        assert f"github:release:acme/{repo}:v2.4.0" in keys
    assert "jira:version.release:2.4.0" in keys
    assert "confluence:page.create:REL:ENG 2.4.0 release notes" in keys
    assert not [k for k in keys if CONFLICTING_BRANCH in k]
    assert time.monotonic() - started < 60

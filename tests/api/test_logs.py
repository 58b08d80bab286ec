"""The service's logs: JSON lines naming run and step, secrets in URLs written as ***."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Stack, Tokens
from tests.api.harness import BIN, Api, SandboxProcess, base_env, free_port, wait_until

SECRETS = {
    "token": "tok-SEKRIT-1",
    "Access_Token": "tok-SEKRIT-2",
    "API_KEY": "tok-SEKRIT-3",
    "key": "tok-SEKRIT-4",
    "secret": "tok-SEKRIT-5",
    "password": "tok-SEKRIT-6",
    "sig": "tok-SEKRIT-7",
    "Signature": "tok-SEKRIT-8",
}


@dataclass
class JsonService:
    """`enigma serve` with ENIGMA_LOG_FORMAT=json, its stderr (the log) kept apart."""

    proc: subprocess.Popen[bytes]
    url: str
    stderr: Path

    def lines(self) -> list[dict[str, Any]]:
        """Every line of the log, each parsed as JSON (a line that is not JSON fails)."""
        text = self.stderr.read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def json_service(tmp_path: Path, seeded_sandbox: Path, tokens: Tokens) -> Iterator[JsonService]:
    """A sandbox process and a JSON-logging service over one data directory."""
    data_dir = tmp_path / "data"
    shutil.copytree(seeded_sandbox, data_dir / "sandbox")
    sandbox = SandboxProcess(data_dir).start()
    port = free_port()
    env = base_env(data_dir) | {
        "ENIGMA_API_TOKENS": tokens.env(),
        "ENIGMA_LOG_FORMAT": "json",
        "ENIGMA_LOG_LEVEL": "info",
    }
    stderr = tmp_path / "serve.stderr"
    with (tmp_path / "serve.stdout").open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [str(BIN / "enigma"), "serve", "--port", str(port)], env=env, stdout=out, stderr=err
        )
    service = JsonService(proc, f"http://127.0.0.1:{port}", stderr)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"enigma serve exited:\n{stderr.read_text()[-3000:]}")
        try:
            return httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 60, "enigma serve to be ready", every=0.1)
        yield service
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)
        sandbox.stop()


@pytest.mark.slow
def test_json_logs_name_the_run_and_the_step(json_service: JsonService, tokens: Tokens) -> None:
    client = httpx.Client(
        base_url=json_service.url, headers={"Authorization": f"Bearer {tokens.manager}"}
    )
    alice = Api(client)
    run_id = alice.start(fix_version="2.5.0", repositories=["web-app"], dry_run=True)["id"]
    alice.wait_status(run_id, "succeeded")
    json_service.proc.terminate()
    json_service.proc.wait(20)

    lines = json_service.lines()  # every line parses: nothing else is written to the log
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
    ours = [line for line in lines if line.get("run_id") == run_id]
    steps = {line["step"] for line in ours if "step" in line}
    assert {"fetch_tickets", "plan_release"} <= steps, ours
    finished = [line for line in ours if line["message"].startswith("finished in")]
    assert {line["step"] for line in finished} >= {"fetch_tickets", "plan_release"}
    # a git command a node ran names its run and step too (the context reaches its thread)
    assert any(line["message"].startswith("git ") and "step" in line for line in ours), ours
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any("POST /api/runs HTTP/1.1" in line["message"] for line in access)
    assert any(line["message"] == "Application shutdown complete." for line in lines)


def test_secret_query_parameters_never_reach_the_access_log(shared_stack: Stack) -> None:
    anonymous = shared_stack.service.client(None)
    alice = shared_stack.manager.http
    params = {"limit": "1", "marker": "redaction-check", **SECRETS}
    assert anonymous.get("/api/runs", params=params).status_code == 401
    assert alice.get("/api/runs", params=params).status_code == 422  # unknown parameters
    assert anonymous.get("/healthz", params=params).status_code == 200

    def logged() -> list[str]:
        lines = shared_stack.service.log_text().splitlines()
        return [line for line in lines if "redaction-check" in line or "/healthz?" in line]

    found = wait_until(lambda: len(logged()) >= 3 and logged(), 10, "the access log lines")
    log = shared_stack.service.log_text()
    for value in SECRETS.values():
        assert value not in log
    for name in SECRETS:
        assert all(f"{name}=***" in line for line in found), found
    assert all("limit=1&marker=redaction-check&token=***" in line for line in found)

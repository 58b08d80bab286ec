"""`enigma run --url`: a release started and followed through the service, as the greeting says."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.api.conftest import Stack
from tests.api.harness import BIN


def _enigma_run(stack: Stack, *args: str, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")}
    env["ENIGMA_URL"] = stack.service.url
    if token is not None:
        env["ENIGMA_API_TOKEN"] = token
    return subprocess.run(
        [str(BIN / "enigma"), "run", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_enigma_run_url_follows_a_run_to_its_end_and_stops_at_a_decision_without_a_terminal(
    shared_stack: Stack,
) -> None:
    token = shared_stack.tokens.manager
    done = _enigma_run(
        shared_stack,
        "--fix-version",
        "2.5.0",
        "--repos",
        "web-app",
        "--dry-run",
        "--json",
        token=token,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["status"], summary["outcome"]) == ("succeeded", "planned")
    run = shared_stack.manager.run(summary["run_id"])
    assert run["actor"] == "alice" and run["dry_run"] is True

    waiting = _enigma_run(
        shared_stack,
        "--fix-version",
        "2.3.1",
        "--release-type",
        "hotfix",
        "--repos",
        "web-app",
        token=token,
    )
    assert waiting.returncode == 3, waiting.stderr
    assert "The run waits for a decision; there is no terminal to ask in" in waiting.stderr
    assert "fetch_tickets" in waiting.stderr and "plan_release" in waiting.stderr
    started = re.search(r"Run (run-[0-9a-f]+) started \(fix version 2\.3\.1\)", waiting.stderr)
    assert started is not None, waiting.stderr
    run_id = started.group(1)
    assert "Plan " in waiting.stderr and "approve creates the release branches" in waiting.stderr
    assert shared_stack.manager.run(run_id)["status"] == "waiting_for_approval"
    shared_stack.manager.act(run_id, "cancel", expect=200)

    refused = _enigma_run(shared_stack, "--fix-version", "2.5.0", token="not-a-token")
    assert refused.returncode == 2 and "unknown API token" in refused.stderr
    missing = _enigma_run(shared_stack, "--fix-version", "2.5.0", token=None)
    assert missing.returncode == 2 and "needs --token or ENIGMA_API_TOKEN" in missing.stderr

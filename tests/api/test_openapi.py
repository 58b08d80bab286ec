"""Schemathesis over the live service's /openapi.json: no 500, no answer that breaks the schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import StackFactory

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    stack_factory: StackFactory, tmp_path: Path
) -> None:
    # its own stack: generated requests start runs (some auto-approved) on its sandbox
    stack = stack_factory("openapi", ENIGMA_MAX_CONCURRENT_RUNS="1")
    admin = stack.api(stack.tokens.admin)
    # a real run id, so the run routes get past 404 (a dry run: it ends on its own)
    run_id = admin.start(fix_version="2.5.0", repositories=["web-app"], dry_run=True)["id"]
    admin.wait_status(run_id, "succeeded")
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.run_id" = "{run_id}"\n')

    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{stack.service.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {stack.tokens.admin}",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "4",
            "--seed",
            "20261123",
            "--generation-database",
            "none",
            # the SSE streams never end; their JSON form and their behaviour have own tests
            "--exclude-path-regex",
            "/events$",
            "--request-timeout",
            "15",
            "--workers",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    summary = result.stdout[result.stdout.find("FAILURES") :] or result.stdout[-3000:]
    assert result.returncode == 0, summary + result.stderr[-2000:]
    assert "Server error" not in result.stdout
    assert stack.tokens.admin not in result.stdout  # schemathesis filters it; so do we
    assert "Traceback" not in stack.service.log_text()

"""A full data directory is waited out: runs say why they wait, then finish by themselves.

The service's data directory (checkpoints, run store, mirrors) is a small tmpfs of its own;
the sandbox lives elsewhere. In the middle of two releases the test fills the tmpfs to the
last byte and keeps it full for 30 seconds: `/readyz` answers 503 with the cause at once,
`/healthz` keeps answering, the runs show "data directory full", and once the space is back
they finish without a restart, every side effect once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Stack, Tokens
from tests.api.harness import SandboxProcess, Service, effect_keys, wait_until

AUTO = {"auto_approve": True, "on_conflict": "skip", "on_check_failure": "abort"}
FULL_FOR = 30.0


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path) -> Path:
    """Write until the file system is full, to the last block; the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_full_data_directory_is_waited_out(
    tmp_path: Path, seeded_sandbox: Path, tokens: Tokens
) -> None:
    shutil.copytree(seeded_sandbox, tmp_path / "sb" / "sandbox")
    sandbox = SandboxProcess(tmp_path / "sb").start()
    with _tmpfs(tmp_path / "disk", "64m") as disk:
        service = Service(
            disk / "data",
            {
                "ENIGMA_API_TOKENS": tokens.env(),
                "ENIGMA_SANDBOX_PORT": str(sandbox.port),
                "ENIGMA_SANDBOX_TOKEN": sandbox.token,
            },
            log_file=tmp_path / "serve.log",
        )
        stack = Stack(sandbox, service, tokens)
        try:
            service.start()
            _release_through_a_full_disk(stack, disk)
        finally:
            service.stop()
            sandbox.stop()


def _release_through_a_full_disk(stack: Stack, disk: Path) -> None:
    alice = stack.manager
    anonymous = stack.service.client(None)
    stack.sandbox.add_faults(
        {"kind": "latency", "route": "/merges$", "methods": ["POST"], "latency_ms": 500}
    )
    runs = [
        alice.start(fix_version="2.4.0", repositories=["web-app", "notifications"], policy=AUTO)[
            "id"
        ],
        alice.start(
            fix_version="2.3.1", release_type="hotfix", repositories=["payments-api"], policy=AUTO
        )["id"],
    ]
    wait_until(
        lambda: sum(e["kind"] == "merge" for e in stack.sandbox.effects()) >= 2,
        60,
        "merges to be under way",
    )
    filler = _fill(disk)
    full_since = time.monotonic()

    began = time.monotonic()
    ready = anonymous.get("/readyz")
    assert time.monotonic() - began < 1.0
    assert ready.status_code == 503 and ready.json()["cause"] == "data directory full"
    assert ready.headers["retry-after"]
    assert anonymous.get("/healthz").json() == {"status": "ok"}

    def waiting_causes() -> list[str] | None:
        causes = [alice.run(r)["blocked"] for r in runs]
        return causes if any(causes) else None

    causes = wait_until(waiting_causes, 30, "the runs to say why they wait", every=0.5)
    assert "data directory full" in causes, causes
    started = alice.http.post(
        "/api/runs", json={"fix_version": "2.5.0", "repositories": ["web-app"]}
    )
    assert started.status_code == 503, started.text
    assert "data directory full" in started.json()["detail"] and started.headers["retry-after"]

    time.sleep(max(0.0, FULL_FOR - (time.monotonic() - full_since)))
    assert all(alice.run(r)["status"] == "running" for r in runs)
    os.unlink(filler)
    stack.sandbox.clear_faults()

    for run_id in runs:
        done = alice.wait_status(run_id, {"succeeded", "failed", "cancelled"}, timeout=180)
        assert done["status"] == "succeeded", done["error"]
        assert done["outcome"] in ("succeeded", "partial")  # 2.4.0 leaves ENG-106 and ENG-110
        assert done["blocked"] is None
    assert httpx.get(f"{stack.service.url}/readyz", timeout=5).status_code == 200
    keys = Counter(effect_keys(stack.sandbox.effects()))
    assert [k for k, n in keys.items() if n > 1] == [], "a side effect happened twice"

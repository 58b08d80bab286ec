"""Threads are a budget: fifty releases waiting for CI hold none, so a dry run is not held up.

Fifty releases (each its own fix version, one repository) run until their pull requests wait
for CI that stays pending (the sandbox's checks take an hour). While all fifty wait, a dry run
of another version is started: it must finish while every one of the fifty still waits — an
ordering, not a timer. Then the fifty are cancelled: cancelling a run that waits returns at
once and nothing more reaches GitHub.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from enigma.runs.models import RunRequest
from enigma.sandbox.seeds import chaos_seed, chaos_version
from enigma.sandbox.server import SandboxServer
from tests.runs.conftest import open_manager, run_async

WAITING = 50
AUTO = {"auto_approve": True, "on_conflict": "skip", "on_check_failure": "abort"}


def _request(index: int, dry_run: bool = False) -> RunRequest:
    return RunRequest.model_validate(
        {
            "fix_version": chaos_version(index),
            "repositories": ["web-app"],
            "dry_run": dry_run,
            "policy": AUTO,
        }
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
@run_async
async def test_a_dry_run_finishes_while_fifty_releases_wait_for_ci(tmp_path: Path) -> None:
    seed = chaos_seed(tmp_path / "seed.toml", runs=WAITING + 1)
    server = SandboxServer(
        tmp_path / "sandbox", seed_file=seed, settings={"check_delay_seconds": 3600}
    ).start()
    try:
        async with open_manager(
            tmp_path / "enigma", server, max_concurrent=WAITING + 10, check_poll_seconds=1.0
        ) as manager:
            waiting = [(await manager.start(_request(i), "alice"))[0].id for i in range(WAITING)]

            async def all_wait_for_checks() -> bool:
                for run_id in waiting:
                    started = await manager.store.events(run_id, types={"step.started"})
                    if not any(e.step == "wait_for_checks" for e in started):
                        return False
                return True

            deadline = time.monotonic() + 400
            while not await all_wait_for_checks():
                assert time.monotonic() < deadline, "the fifty did not all reach their CI wait"
                await asyncio.sleep(0.5)

            dry, _ = await manager.start(_request(WAITING, dry_run=True), "bob")
            done = await manager.wait_for(dry.id, {"succeeded", "failed"}, timeout=120)
            assert (done.status, done.outcome) == ("succeeded", "planned"), done.error
            for run_id in waiting:  # ... while every one of the fifty still waits
                run = await manager.get(run_id)
                finished = await manager.store.events(run_id, types={"step.finished"})
                assert run.status == "running", (run_id, run.status)
                assert not any(e.step == "wait_for_checks" for e in finished), run_id

            before = len(server.sandbox.store.effects())
            began = time.monotonic()
            for run_id in waiting:
                assert (await manager.cancel(run_id, "alice")).status == "cancelled"
            assert time.monotonic() - began < 30, "cancelling waits took long"
            await asyncio.sleep(2)
            assert len(server.sandbox.store.effects()) == before, "a cancelled run acted"
    finally:
        server.stop()

"""Cancel reaches every call finalize fans out: none starts after the stop, no write lands.

finalize updates the tickets side by side, each call on an I/O thread of its own. A cancelled
asyncio task does not stop a thread, so the run's stop signal has to: each ticket's first
reads are slowed to 1.5 s, the run is cancelled while they are on the wire, and when their
answers come back none of those threads may send its write. Asserted on what Jira received
(the sandbox's request and effect logs).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from enigma.runs.models import RunRequest
from enigma.sandbox.core import FaultRule
from enigma.sandbox.server import SandboxServer
from tests.runs.conftest import open_manager, run_async

REPOS = ["payments-api", "web-app", "notifications"]
AUTO = {"auto_approve": True, "on_conflict": "skip", "on_check_failure": "abort"}
LATENCY = 1.5
TICKET_EFFECTS = {"transition", "comment", "remotelink", "version.release"}


def _ticket_reads(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return [r for r in sandbox.sandbox.requests.entries() if "/rest/api/2/issue/" in r["path"]]


@pytest.mark.slow
@run_async
async def test_cancel_stops_every_ticket_update_finalize_has_on_the_wire(
    tmp_path: Any, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.faults.add(
        [
            FaultRule(
                kind="latency",
                route="^/jira/rest/api/2/issue/",
                methods=["GET"],
                latency_ms=int(LATENCY * 1000),
            )
        ]
    )
    async with open_manager(tmp_path, sandbox) as manager:
        request = RunRequest.model_validate(
            {"fix_version": "2.4.0", "repositories": REPOS, "policy": AUTO}
        )
        run, _ = await manager.start(request, "alice")
        for _ in range(2400):  # until several tickets' reads are on the wire (2 min at most)
            if len(_ticket_reads(sandbox)) >= 6:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("finalize never read the tickets")
        cancelled = await manager.cancel(run.id, "alice")
        stopped_at = time.time()
        assert cancelled.status == "cancelled"
        await asyncio.sleep(LATENCY + 2.0)  # the reads have answered: a write would be sent
    late = [r for r in sandbox.sandbox.requests.entries() if r["start"] > stopped_at + 0.2]
    assert late == [], f"requests after the stop: {late}"
    landed = [e for e in sandbox.sandbox.store.effects() if e["kind"] in TICKET_EFFECTS]
    assert landed == [], landed

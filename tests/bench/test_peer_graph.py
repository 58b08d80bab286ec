"""Row 9's six-step graph through the run manager: a graph that is not the release graph.

Its `publish_notes` step returns `notes` as a string, where the release graph keeps a list of
narrative records under that key; the step tracker once read every `notes` as the latter and
failed such a run with a TypeError (and row 9 waited forever for its end).
"""

from __future__ import annotations

from pathlib import Path

from bench.engine import run_to_end
from bench.noop import noop_context
from bench.peer import STEPS, build_peer_graph

from enigma.bootstrap import open_sqlite_saver
from enigma.runs.manager import RunManager
from enigma.runs.models import RunRequest
from enigma.runs.sqlite_store import SqliteRunStore
from tests.runs.conftest import run_async


@run_async
async def test_the_peer_graph_runs_to_the_end_under_the_run_manager(tmp_path: Path) -> None:
    request = RunRequest.model_validate({"fix_version": "2.4.0", "repositories": ["a"]})
    async with open_sqlite_saver(tmp_path / "checkpoints.sqlite3") as saver:
        store = SqliteRunStore(tmp_path / "runs.sqlite3")
        manager = RunManager(build_peer_graph(saver), store, noop_context(), checkpointer=saver)
        try:
            assert await run_to_end(manager, request) == "succeeded"
            (run,), _ = await store.list_runs(None, None, 10, 0)
            finished = [e for e in await store.events(run.id) if e.type == "step.finished"]
            assert [e.step for e in finished] == [s.__name__ for s in STEPS]
            assert all(e.data["summary"] == "" for e in finished)
        finally:
            await manager.shutdown()
            await store.close()

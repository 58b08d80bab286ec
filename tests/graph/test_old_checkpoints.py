"""A run checkpointed by an older Enigma resumes: fields since dropped from the state are ignored,
and checkpoints written through the aiosqlite saver Enigma used before are read by today's.

Older versions kept the narrative as LangChain messages and also stored `steps_completed`,
`steps_failed`, `started_by` and `workflow_id`. A run paused by one of them sits in the data
directory's checkpoints with those channels; the new graph must resume it to the end, not crash
on them.
"""

from __future__ import annotations

from typing import Any

import aiosqlite
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import ChannelVersions
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from enigma.graph import build_graph
from tests.graph.conftest import REPOS, Release

LEGACY: dict[str, Any] = {
    "messages": [
        AIMessage(content="Found 9 tickets in ENG 2.4.0", name="fetch_tickets"),
        HumanMessage(content="alice chose approve (plan_approval)", name="alice"),
    ],
    "steps_completed": ["fetch_tickets", "plan_release"],
    "steps_failed": [],
    "started_by": "alice",
    "workflow_id": "run-test",
}


async def _age(release: Release) -> None:
    """Rewrite the paused run's latest checkpoint as an older version would have written it."""
    saved = await release.saver.aget_tuple(release.config)
    assert saved is not None and saved.parent_config is not None
    checkpoint = saved.checkpoint
    checkpoint["channel_values"] |= LEGACY
    versions: ChannelVersions = {k: release.saver.get_next_version(None, None) for k in LEGACY}
    checkpoint["channel_versions"] |= versions
    await release.saver.aput(saved.parent_config, checkpoint, saved.metadata, versions)


def test_a_run_paused_by_an_older_version_resumes_to_the_end(release: Release) -> None:
    policy = {
        "auto_approve": False,
        "on_conflict": "skip",  # the sandbox's one conflicting branch is left out by policy
        "on_check_failure": "ask",
        "on_error": "ask",
        "auto_retries": 2,
    }
    paused = release.start(policy=policy)
    assert [i.value["kind"] for i in paused["__interrupt__"]] == ["plan_approval"]
    release.loop.run(_age(release))
    stored = release.loop.run(release.saver.aget_tuple(release.config))
    assert stored is not None and "messages" in stored.checkpoint["channel_values"]

    release.answer("plan_approval", "approve")
    final = release.answer("release_approval", "approve")

    assert final["outcome"] == "partial"  # the conflicting branch's ticket did not ship
    assert not set(LEGACY) & set(final)
    assert [n["step"] for n in final["notes"]][-1] == "finalize"
    merged = [e for e in release.effects() if e["kind"] == "pull.merge"]
    assert len(merged) == 3
    release.assert_no_duplicate_effects()


def test_a_run_paused_under_the_aiosqlite_saver_resumes_under_this_one(release: Release) -> None:
    # Enigma checkpointed through LangGraph's AsyncSqliteSaver before it ran SqliteSaver on a
    # thread of its own: same tables, so a data directory written then must resume now
    async def pause_under_aiosqlite() -> dict[str, Any]:
        async with aiosqlite.connect(release.data_dir / "checkpoints.sqlite3") as conn:
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
            request = {"fix_version": "2.4.0", "repositories": REPOS, "release_type": "minor"}
            return dict(
                await build_graph(saver).ainvoke(
                    request | {"policy": {"auto_approve": False, "on_conflict": "skip"}},
                    release.config,
                    context=release.context,
                    durability="sync",
                )
            )

    paused = release.loop.run(pause_under_aiosqlite())
    assert [i.value["kind"] for i in paused["__interrupt__"]] == ["plan_approval"]

    release.answer("plan_approval", "approve")
    final = release.answer("release_approval", "approve")

    assert final["outcome"] == "partial"
    assert len([e for e in release.effects() if e["kind"] == "pull.merge"]) == 3
    release.assert_no_duplicate_effects()

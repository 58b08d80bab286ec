"""The PostgreSQL checkpointer, fenced by the run's lease.

A worker that was frozen (stopped, swapped out, cut off) past its lease must not write a
checkpoint into a thread another worker now continues. Run rows and events are fenced in the
database by the lease's token; checkpoints are written by LangGraph's saver, so they are
fenced here, by time: before each write the run's scope is asked whether its lease surely
still holds (`RunScope.check`, renewed with a margin by the lease loop) and whether the run
was stopped. A write that is refused raises `RunStopped`, and the execution ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from enigma.integrations.scope import current_scope

__all__ = ["FencedPostgresSaver"]


class FencedPostgresSaver(AsyncPostgresSaver):
    """`AsyncPostgresSaver` whose writes first check the run's lease and stop signal."""

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Write a checkpoint, unless the run may no longer act."""
        current_scope().check()
        return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Write a task's pending writes, unless the run may no longer act."""
        current_scope().check()
        await super().aput_writes(config, writes, task_id, task_path)

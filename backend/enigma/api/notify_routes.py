"""GET /api/notifications: what was sent to whom, and what could not be delivered."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from enigma.api.deps import CurrentUser, Manager, require
from enigma.api.routes import get_run_or_404, known_query
from enigma.api.schemas import ErrorOut

__all__ = ["router"]

router = APIRouter(
    prefix="/api",
    tags=["notifications"],
    responses={code: {"model": ErrorOut} for code in (401, 403, 404, 422)},
    dependencies=[Depends(known_query)],
)


class NotificationOut(BaseModel):
    """One notification on one channel (its body is the event; it carries no secret)."""

    id: str = Field(..., description="Event id and channel label")
    run_id: str
    event_id: int
    type: str = Field(..., description="decision.requested, run.finished, …")
    channel: str = Field(..., description="The channel's name")
    created_at: float
    attempts: int
    status: Literal["pending", "delivered", "undeliverable"]
    last_error: str | None = None
    delivered_at: float | None = None
    next_at: float | None = Field(None, description="Pending: when the next try is due")
    kind: str | None = Field(None, description="decision.*: plan_approval, release_approval, …")


class NotificationsOut(BaseModel):
    """Notifications, newest first, and the count of every status (of that run, if one)."""

    items: list[NotificationOut]
    counts: dict[str, int]
    channels: list[str] = Field(..., description="Channels configured in this process")


@router.get("/notifications", summary="Notifications sent, pending and undeliverable")
async def list_notifications(
    manager: Manager,
    user: CurrentUser,
    run_id: Annotated[str | None, Query(max_length=64, description="One run's only")] = None,
    status: Annotated[
        Literal["pending", "delivered", "undeliverable"] | None, Query(description="Only these")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> NotificationsOut:
    """Every notification (or one run's), newest first: when, channel, delivered or not."""
    require(user, "read")
    if run_id is not None:
        await get_run_or_404(manager, run_id)
    rows: list[dict[str, Any]] = await manager.store.notifications(run_id, status, limit)
    delivery = manager.delivery
    channels = [c.label for c in delivery.notifications.channels] if delivery else []
    return NotificationsOut(
        items=[NotificationOut(**r) for r in rows],
        counts=await manager.store.outbox_counts(run_id),
        channels=channels,
    )

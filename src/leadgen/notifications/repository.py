"""Reading the recorded messages, a page at a time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.models import Notification

# What became of a message, as the tasks record it: held for the person's contact window, taken by
# a sweep to send, sent, failed, or blocked by a rule.
NotificationStatus = Literal["scheduled", "sending", "sent", "failed", "blocked"]
# A message's place in the listing's order: newest first, the id deciding between those of one instant.
Position = tuple[datetime, uuid.UUID]


async def position(session: AsyncSession, notification_id: uuid.UUID) -> Position | None:
    """Where the message stands in the listing's order; None when there is no such message."""
    query = select(Notification.created_at, Notification.id).where(Notification.id == notification_id)
    found = (await session.execute(query)).first()
    return None if found is None else (found.created_at, found.id)


async def listing(
    session: AsyncSession,
    limit: int,
    before: Position | None = None,
    *,
    agent_id: uuid.UUID | None = None,
    lead_id: uuid.UUID | None = None,
    status: NotificationStatus | None = None,
) -> list[Notification]:
    """Up to ``limit`` messages, newest first, older than ``before`` when given, of the agent, the
    lead and the status when given. The row comparison after (created_at, id) is a range of the
    filter's index (see the model), so a page deep in the list costs what the first one does."""
    exact = [(Notification.agent_id, agent_id), (Notification.lead_id, lead_id), (Notification.status, status)]
    query = select(Notification).where(*(column == value for column, value in exact if value is not None))
    if before is not None:
        query = query.where(tuple_(Notification.created_at, Notification.id) < before)
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    return list(await session.scalars(query))

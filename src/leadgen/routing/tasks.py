"""The SLA sweep: offers not accepted in time move on to the next agent."""

from __future__ import annotations

import uuid

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.models.base import utcnow
from leadgen.routing import repository, service

BATCH = 200


@shared_task(name="routing.expire_offers")
def expire_offers() -> int:
    """Deadlines live in the database, so a restart of any process loses no timer."""
    runtime = task_runtime()
    now = utcnow()

    async def overdue(session: AsyncSession) -> list[str]:
        return [str(i) for i in await repository.overdue(session, now, BATCH)]

    expired = 0
    for assignment_id in runtime.in_transaction(overdue):

        async def one(session: AsyncSession, aid: str = assignment_id) -> bool:
            return await service.expire(session, runtime.settings, uuid.UUID(aid), now)

        expired += runtime.in_transaction(one)
    TASKS.labels("routing.expire_offers", "ok").inc()
    return expired

"""The SLA sweep: offers not accepted in time move on to the next agent."""

from __future__ import annotations

import uuid

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.models.base import utcnow
from leadgen.pipeline.service import expire_offer, pipeline_for
from leadgen.routing import repository

BATCH = 200


@shared_task(name="routing.expire_offers")
def expire_offers() -> int:
    """Deadlines live in the database, so a restart of any process loses no timer."""
    runtime = task_runtime()
    pipe = pipeline_for(runtime.resources)
    now = utcnow()

    async def overdue(session: AsyncSession) -> list[uuid.UUID]:
        return await repository.overdue(session, now, BATCH)

    expired = 0
    for assignment_id in runtime.in_transaction(overdue):

        async def expire(session: AsyncSession, aid: uuid.UUID = assignment_id) -> bool:
            return await expire_offer(session, pipe, aid, now)

        # One transaction per offer: one failure does not hold back the others.
        expired += runtime.in_transaction(expire)
    TASKS.labels("routing.expire_offers", "ok").inc()
    return expired

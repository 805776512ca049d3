"""The SLA sweep: offers not accepted in time move on to the next agent."""

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.models.base import utcnow
from leadgen.pipeline.service import expire_offer, pipeline_for
from leadgen.routing import repository

log = logging.getLogger(__name__)
BATCH = 200


@shared_task(name="routing.expire_offers")
def expire_offers() -> int:
    """Deadlines live in the database, so a restart of any process loses no timer."""
    runtime = task_runtime()
    pipe = pipeline_for(runtime.resources)
    now = utcnow()

    async def overdue(session: AsyncSession) -> list[uuid.UUID]:
        return await repository.overdue(session, now, BATCH)

    expired = failed = 0
    for assignment_id in runtime.in_transaction(overdue):

        async def expire(session: AsyncSession, aid: uuid.UUID = assignment_id) -> bool:
            # The time of this offer's round, not of the sweep's start: its new offers' deadlines
            # and shift checks count from when they are made.
            return await expire_offer(session, pipe, aid, utcnow())

        # One transaction per offer: one failure does not hold back the others; the next sweep
        # finds the offer still overdue and tries again.
        try:
            expired += runtime.in_transaction(expire)
        except Exception:
            failed += 1
            log.exception("offer %s could not be timed out; the next sweep tries again", assignment_id)
    TASKS.labels("routing.expire_offers", "ok" if not failed else "error").inc()
    return expired

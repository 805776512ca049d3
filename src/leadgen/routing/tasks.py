"""The SLA sweep: offers not accepted in time move on to the next agent; a deactivated agent's
offers not yet answered are withdrawn."""

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox
from leadgen.pipeline.service import expire_offer, pipeline_for
from leadgen.routing import repository, service

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


@shared_task(name="routing.withdraw_agent_offers")
def withdraw_agent_offers(event_key: str) -> int:
    """An agent was deactivated (outbox ``agent.deactivated``): each of their offers not yet
    answered is withdrawn in a transaction of its own, which locks the lead and then the offer.
    The event is finished only once every offer was; otherwise the relay hands it on again, and
    the offers withdrawn meanwhile are skipped."""
    runtime = task_runtime()
    agent_id = service.deactivated_agent(event_key)

    async def pending(session: AsyncSession) -> list[uuid.UUID]:
        return await service.offers_to_withdraw(session, agent_id)

    withdrawn = failed = 0
    for offer_id in runtime.in_transaction(pending):

        async def withdraw(session: AsyncSession, oid: uuid.UUID = offer_id) -> bool:
            return await service.withdraw_agent_offer(session, agent_id, oid, utcnow())

        try:
            withdrawn += runtime.in_transaction(withdraw)
        except Exception:
            failed += 1
            log.exception("offer %s of a deactivated agent could not be withdrawn; tried again later", offer_id)
    if failed:
        TASKS.labels("routing.withdraw_agent_offers", "error").inc()
        return withdrawn

    async def finish(session: AsyncSession) -> None:
        await outbox.mark_processed(session, outbox.AGENT_DEACTIVATED_TOPIC, event_key)

    runtime.in_transaction(finish)
    TASKS.labels("routing.withdraw_agent_offers", "ok").inc()
    return withdrawn

"""The SLA sweep: offers not accepted in time move on to the next agent; a deactivated agent's
offers not yet answered are withdrawn."""

from __future__ import annotations

import uuid

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox
from leadgen.pipeline.service import expire_offer, pipeline_for
from leadgen.routing import repository, service

BATCH = 200


@shared_task(name="routing.expire_offers")
def expire_offers() -> int:
    """Deadlines live in the database, so a restart of any process loses no timer."""
    runtime = task_runtime()
    pipe = pipeline_for(runtime.resources)
    now = utcnow()

    async def overdue(session: AsyncSession) -> list[uuid.UUID]:
        return await repository.overdue(session, now, BATCH)

    # The time of each offer's round, not of the sweep's start: its new offers' deadlines and
    # shift checks count from when they are made.
    expired, failed = runtime.each_in_transaction(
        runtime.in_transaction(overdue),
        lambda session, assignment_id: expire_offer(session, pipe, assignment_id, utcnow()),
        "timing out offer",
    )
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

    withdrawn, failed = runtime.each_in_transaction(
        runtime.in_transaction(pending),
        lambda session, offer_id: service.withdraw_agent_offer(session, agent_id, offer_id, utcnow()),
        "withdrawing the deactivated agent's offer",
    )
    if failed:
        TASKS.labels("routing.withdraw_agent_offers", "error").inc()
        return withdrawn

    async def finish(session: AsyncSession) -> None:
        await outbox.mark_processed(session, outbox.AGENT_DEACTIVATED_TOPIC, event_key)

    runtime.in_transaction(finish)
    TASKS.labels("routing.withdraw_agent_offers", "ok").inc()
    return withdrawn

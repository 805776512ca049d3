"""The SLA sweep: offers not accepted in time move on to the next agent; offers not yet answered
of an agent deactivated or no longer licensed for their leads are withdrawn."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from celery import shared_task
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import PIPELINE_FAILED_LEADS, TASKS
from leadgen.core.runtime import TaskRuntime, task_runtime
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox
from leadgen.pipeline.service import SLA_SWEEP_TASK, end_stuck_offer, expire_offer, pipeline_for
from leadgen.pipeline.tasks import gives_up
from leadgen.routing import repository, service

log = logging.getLogger(__name__)
BATCH = 200
# How long the sweep passes over an offer after its n-th failed try to time it out: soon at first
# (a lock timeout, a store restarting), then doubling; every try after the last wait keeps it.
EXPIRY_RETRY_WAITS = tuple(timedelta(minutes=minutes) for minutes in (1, 2, 4, 8, 15))
# From this many failed tries on, each is logged as an error, and the offer counted once as stuck.
# Once the pipeline would give a lead up (``pipeline.tasks.gives_up``: five tries, half an hour past
# the deadline here), the offer is timed out without a next round and its lead ends UNASSIGNED.
EXPIRY_FAILURES_STUCK = 5
PIPELINE_FAILED_LEADS.labels(SLA_SWEEP_TASK)  # counted from 0, as the pipeline's tasks are
OFFERS_STUCK = Counter(
    "leadgen_sla_offers_stuck_total",
    f"Overdue offers the SLA sweep failed to time out {EXPIRY_FAILURES_STUCK} times (their lead's next "
    "round keeps failing), each counted once then; the sweep keeps trying them until their leads are ended.",
)


@shared_task(name="routing.expire_offers")
def expire_offers() -> int:
    """Deadlines live in the database, so a restart of any process loses no timer. Each offer is
    timed out in a transaction of its own; one that fails is recorded in another (``_failed_try``)."""
    runtime = task_runtime()
    now = utcnow()

    async def overdue(session: AsyncSession) -> list[uuid.UUID]:
        return await repository.overdue(session, now, BATCH)

    expired = failed = 0
    for offer_id in runtime.in_transaction(overdue):
        # The time of each offer's round, not of the sweep's start: its new offers' deadlines and
        # shift checks count from when they are made. The pipeline is built under the try, so that
        # one that cannot be (its model file broke) counts as the offer's failed try.
        async def expire(session: AsyncSession, offer_id: uuid.UUID = offer_id) -> bool:
            return await expire_offer(session, pipeline_for(runtime.resources), offer_id, utcnow())

        try:
            expired += runtime.in_transaction(expire)
        except Exception as error:
            failed += 1
            _failed_try(runtime, offer_id, error)
    TASKS.labels("routing.expire_offers", "ok" if not failed else "error").inc()
    return expired


def _failed_try(runtime: TaskRuntime, offer_id: uuid.UUID, error: Exception) -> None:
    """Count a failed try on the offer, its own transaction having rolled back, and set when the
    sweep tries it again; meanwhile the sweep passes it over for the other overdue offers."""

    async def record(session: AsyncSession) -> tuple[int, timedelta, datetime] | None:
        offer = await repository.pending_offer(session, offer_id)
        if offer is None:  # answered or timed out since
            return None
        offer.expiry_failures += 1
        wait = EXPIRY_RETRY_WAITS[min(offer.expiry_failures, len(EXPIRY_RETRY_WAITS)) - 1]
        offer.expiry_retry_at = utcnow() + wait
        return offer.expiry_failures, wait, offer.expires_at

    try:
        recorded = runtime.in_transaction(record)
    except Exception:
        # Not recorded: the next sweep tries the offer again at once.
        log.error("timing out offer %s failed; the next sweep tries again", offer_id, exc_info=error)
        log.exception("recording the failed try to time out offer %s failed", offer_id)
        return
    if recorded is None:
        log.warning("timing out offer %s failed; it was answered or timed out since", offer_id, exc_info=error)
        return
    failures, wait, deadline = recorded
    if failures == EXPIRY_FAILURES_STUCK:
        OFFERS_STUCK.inc()
    if gives_up(failures, deadline, utcnow()):
        _give_up(runtime, offer_id, failures, error)
        return
    level = logging.ERROR if failures >= EXPIRY_FAILURES_STUCK else logging.WARNING
    log.log(
        level,
        "timing out offer %s failed (try %d); the sweep tries it again in %s",
        offer_id,
        failures,
        wait,
        exc_info=error,
    )


def _give_up(runtime: TaskRuntime, offer_id: uuid.UUID, failures: int, error: Exception) -> None:
    """End the lead of an offer the sweep kept failing to move on (``end_stuck_offer``)."""
    cause = type(error).__name__  # only the class: a message may quote the lead's data

    async def end(session: AsyncSession) -> bool:
        return await end_stuck_offer(session, offer_id, utcnow(), cause)

    try:
        ended = runtime.in_transaction(end)
    except Exception:
        log.error("timing out offer %s failed (try %d)", offer_id, failures, exc_info=error)
        log.exception("ending the lead of offer %s failed; the sweep tries again", offer_id)
        return
    log.error(
        "timing out offer %s failed (try %d); %s",
        offer_id,
        failures,
        "its lead was ended UNASSIGNED" if ended else "it was answered, or its round is still open",
        exc_info=error,
    )


@shared_task(name="routing.withdraw_agent_offers")
def withdraw_agent_offers(event_key: str) -> int:
    """An agent was deactivated or their licences changed (outbox ``agent.deactivated``): each of
    their offers not yet answered that they may no longer take is withdrawn in a transaction of its
    own, which locks the lead and then the offer. The event is finished only once every offer was;
    otherwise the relay hands it on again, and the offers withdrawn meanwhile are skipped."""
    runtime = task_runtime()
    agent_id = service.agent_of_withdrawal(event_key)

    async def pending(session: AsyncSession) -> list[uuid.UUID]:
        return await service.offers_to_withdraw(session, agent_id, utcnow())

    withdrawn, failed = runtime.each_in_transaction(
        runtime.in_transaction(pending),
        lambda session, offer_id: service.withdraw_agent_offer(session, agent_id, offer_id, utcnow()),
        "withdrawing the agent's offer",
    )
    if failed:
        TASKS.labels("routing.withdraw_agent_offers", "error").inc()
        return withdrawn

    async def finish(session: AsyncSession) -> None:
        await outbox.mark_processed(session, outbox.AGENT_DEACTIVATED_TOPIC, event_key)

    runtime.in_transaction(finish)
    TASKS.labels("routing.withdraw_agent_offers", "ok").inc()
    return withdrawn

"""Celery entry points of the pipeline: each reloads by id and is safe to run twice.

The tasks that move a lead on (its pipeline, a reroute, a reopened round) claim their outbox event
first, so that another delivery of it (the relay's, the queue's) does nothing while one works on
the lead, and count each try that fails on the event; a try whose worker was killed in it (an OOM
kill, a segfault) counts too, as the next delivery finds it claimed and never finished. A lead they
keep failing on is not retried forever: it ends UNASSIGNED and admins are alerted
(``service.end_failed``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import PIPELINE_FAILED_LEADS, TASKS
from leadgen.core.runtime import TaskRuntime, task_runtime
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox
from leadgen.pipeline import service
from leadgen.pipeline.service import Pipeline

T = TypeVar("T")
log = logging.getLogger(__name__)
# Duplicates released per sweep; the next sweep, a minute later, takes the rest.
RELEASE_BATCH = 200
# How long one delivery holds its event: a lead's stages take well under a second, a remote notes
# reader up to a minute (LEADGEN_LLM_TIMEOUT_SECONDS at most). The relay hands on the event of a
# delivery that died a lease after this.
DELIVERY_CLAIM = timedelta(minutes=2)
# A lead's task is given up once it failed this many times AND its event was written this long
# ago. The count keeps one unlucky try (a restart, a deadlock run out of tries) from ending a lead;
# the time waits out an outage: while Qdrant or Neo4j is down every lead fails, and a pod of theirs
# is back within minutes, so only a fault outlasting half an hour ends leads. The relay tries again
# each lease (30 s): some sixty tries by then. Tries whose worker died count too; they come further
# apart (their event is handed on once the dead delivery's claim ran out, each time a little later).
GIVE_UP_AFTER_TRIES = 5
GIVE_UP_AFTER = timedelta(minutes=30)
# Counted from 0, so that the first lead one of them ends is an increase an alert sees.
for task_moving_leads_on in ("pipeline.process_lead", "pipeline.reroute", "pipeline.reopen"):
    PIPELINE_FAILED_LEADS.labels(task_moving_leads_on)


def gives_up(failed_tries: int, written_at: datetime, now: datetime) -> bool:
    """Whether a lead's task whose event has now failed ``failed_tries`` times is given up."""
    return failed_tries >= GIVE_UP_AFTER_TRIES and now - written_at >= GIVE_UP_AFTER


def _run(name: str, work: Callable[[AsyncSession, Pipeline], Awaitable[T]]) -> T:
    runtime = task_runtime()
    try:
        pipe = service.pipeline_for(runtime.resources)
        result = runtime.in_transaction(lambda session: work(session, pipe))
    except Exception:
        TASKS.labels(name, "error").inc()
        raise
    TASKS.labels(name, "ok").inc()
    return result


def _move_lead_on(
    name: str, topic: str, lead_id: str, work: Callable[[TaskRuntime, Pipeline], LeadStatus | None]
) -> str | None:
    """Run ``work`` for the lead's event of ``topic`` under a claim on it; a try that fails is
    counted on the event, in a transaction of its own once the work's rolled back, and the lead is
    ended if it was the last (``gives_up``, counting the tries whose worker died in them). The
    error is raised again: the relay hands the event on a lease later. When the try before this one
    killed its worker and was the last, the work is not run again (it would most likely kill this
    one too): the lead is ended at once. Returns the lead's status, None when there is nothing to
    do (the event finished, or another delivery holds it)."""
    runtime = task_runtime()
    now = utcnow()
    held = runtime.in_transaction(lambda session: outbox.claim(session, topic, lead_id, now, now + DELIVERY_CLAIM))
    if held is None:
        TASKS.labels(name, "ok").inc()
        return None
    if held.last_lost and gives_up(held.tries, held.written_at, now):
        ended = _end_failed(runtime, name, topic, lead_id, held, outbox.WORKER_LOST, tried=False)
        TASKS.labels(name, "ok").inc()
        return LeadStatus.UNASSIGNED.value if ended else None
    try:
        # Built under the count: a pipeline that cannot be (its model file broke) fails the lead's
        # tries like any other fault, up to the alert, rather than leave it RECEIVED unnoticed.
        status = work(runtime, service.pipeline_for(runtime.resources))
    except Exception as exc:
        TASKS.labels(name, "error").inc()
        error = type(exc).__name__
        failed_at = utcnow()
        if gives_up(held.tries + 1, held.written_at, failed_at):
            _end_failed(runtime, name, topic, lead_id, held, error, tried=True)
        else:
            runtime.in_transaction(lambda session: outbox.hold_off_relay(session, held, failed_at, error))
        raise
    TASKS.labels(name, "ok").inc()
    return status.value if status else None


def _end_failed(
    runtime: TaskRuntime, name: str, topic: str, lead_id: str, held: outbox.Claim, error: str, *, tried: bool
) -> bool:
    """Give up the lead's event after its last try (``tried``, which failed with ``error``), or
    instead of one after tries that killed their worker (``error`` is WORKER_LOST), and end the
    lead (``service.end_failed``): admins are alerted. False when another delivery took the event
    over meanwhile, or the lead no longer waits for the work."""

    async def end(session: AsyncSession) -> bool:
        gave_up = await outbox.give_up(session, held, utcnow(), error, failed=tried)
        return gave_up and await service.end_failed(session, topic, uuid.UUID(lead_id), name, error)

    ended = runtime.in_transaction(end)
    if ended:
        log.error(
            "%s failed %d times (%s): the lead is ended UNASSIGNED",
            name,
            held.tries + 1 if tried else held.tries,
            error,
            extra={"lead_id": lead_id},
        )
    return ended


@shared_task(name="pipeline.process_lead")
def process_lead(lead_id: str) -> str | None:
    lead = uuid.UUID(lead_id)

    def work(runtime: TaskRuntime, pipe: Pipeline) -> LeadStatus | None:
        asked = runtime.in_transaction(lambda s: service.notes_to_read(s, lead)) if pipe.insights.remote else None
        insight = runtime.run(service.read_notes(pipe, asked)) if asked else None
        if insight is not None:
            runtime.in_transaction(lambda s: service.keep_insight(s, lead, insight))
        return runtime.in_transaction(lambda s: service.process_lead(s, pipe, lead, utcnow(), insight))

    return _move_lead_on("pipeline.process_lead", service.TOPIC, lead_id, work)


@shared_task(name="pipeline.reroute")
def reroute(lead_id: str) -> str | None:
    def work(runtime: TaskRuntime, pipe: Pipeline) -> LeadStatus | None:
        return runtime.in_transaction(lambda s: service.reroute(s, pipe, uuid.UUID(lead_id), utcnow()))

    return _move_lead_on("pipeline.reroute", service.REROUTE_TOPIC, lead_id, work)


@shared_task(name="pipeline.reopen")
def reopen(lead_id: str) -> str | None:
    def work(runtime: TaskRuntime, pipe: Pipeline) -> LeadStatus | None:
        return runtime.in_transaction(lambda s: service.reopen(s, pipe, uuid.UUID(lead_id), utcnow()))

    return _move_lead_on("pipeline.reopen", outbox.REOPENED_TOPIC, lead_id, work)


@shared_task(name="pipeline.sync_outcome")
def sync_outcome(lead_id: str) -> None:
    _run("pipeline.sync_outcome", lambda s, p: service.sync_outcome(s, p, uuid.UUID(lead_id)))


@shared_task(name="pipeline.forget")
def forget(lead_id: str) -> None:
    _run("pipeline.forget", lambda s, p: service.forget(s, p, uuid.UUID(lead_id)))


@shared_task(name="pipeline.release_duplicates")
def release_duplicates() -> int:
    """Periodic: duplicates whose original no longer counts as one go through the pipeline again
    (``service.release_duplicate``), one transaction per lead."""
    runtime = task_runtime()
    settings = runtime.settings

    async def due(session: AsyncSession) -> list[uuid.UUID]:
        return await service.duplicates_to_release(session, settings, utcnow(), RELEASE_BATCH)

    released, failed = runtime.each_in_transaction(
        runtime.in_transaction(due),
        lambda session, lead_id: service.release_duplicate(session, settings, lead_id, utcnow()),
        "releasing duplicate",
    )
    TASKS.labels("pipeline.release_duplicates", "ok" if not failed else "error").inc()
    return released

"""Celery entry points of the pipeline: each reloads by id and is safe to run twice."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.insights.schemas import Insight
from leadgen.models.base import utcnow
from leadgen.pipeline import service
from leadgen.pipeline.service import Pipeline

T = TypeVar("T")
# Duplicates released per sweep; the next sweep, a minute later, takes the rest.
RELEASE_BATCH = 200


def _run(name: str, work: Callable[[AsyncSession, Pipeline], Awaitable[T]]) -> T:
    runtime = task_runtime()
    pipe = service.pipeline_for(runtime.resources)
    result = runtime.in_transaction(lambda session: work(session, pipe))
    TASKS.labels(name, "ok").inc()
    return result


@shared_task(name="pipeline.process_lead")
def process_lead(lead_id: str) -> str | None:
    runtime = task_runtime()
    pipe = service.pipeline_for(runtime.resources)
    lead = uuid.UUID(lead_id)

    async def read(session: AsyncSession) -> Insight | None:
        return await service.read_notes(session, pipe, lead)

    insight = runtime.in_transaction(read) if pipe.insights.remote else None
    status = _run("pipeline.process_lead", lambda s, p: service.process_lead(s, p, lead, utcnow(), insight))
    return status.value if status else None


@shared_task(name="pipeline.reroute")
def reroute(lead_id: str) -> str | None:
    status = _run("pipeline.reroute", lambda s, p: service.reroute(s, p, uuid.UUID(lead_id), utcnow()))
    return status.value if status else None


@shared_task(name="pipeline.reopen")
def reopen(lead_id: str) -> str | None:
    status = _run("pipeline.reopen", lambda s, p: service.reopen(s, p, uuid.UUID(lead_id), utcnow()))
    return status.value if status else None


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

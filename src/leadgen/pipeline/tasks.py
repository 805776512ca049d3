"""Celery entry points of the pipeline."""

from __future__ import annotations

import uuid

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.models.base import utcnow
from leadgen.pipeline import service


@shared_task(name="pipeline.process_lead")
def process_lead(lead_id: str) -> str | None:
    runtime = task_runtime()

    async def work(session: AsyncSession) -> str | None:
        status = await service.process_lead(session, runtime.settings, uuid.UUID(lead_id), utcnow())
        return status.value if status else None

    status = runtime.in_transaction(work)
    TASKS.labels("pipeline.process_lead", status or "already-done").inc()
    return status

"""What the do-not-contact list makes a worker do after a commit: bar the leads of a person whom a
screened lead linked to a listed phone or e-mail (outbox ``person.linked``)."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance import repository, service
from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.models.base import utcnow

BAR_LINKED_TASK = "compliance.bar_linked"


@shared_task(name=BAR_LINKED_TASK)
def bar_linked(lead_id: str) -> int:
    """Bar the leads by what the screening of ``lead_id`` listed, and finish its events, which
    forget it (``repository.finish_links``), in one transaction: a worker that dies between leaves
    the events for the relay to hand on again."""

    async def work(session: AsyncSession) -> int:
        events = await repository.unfinished_links(session, lead_id)
        if not events:
            return 0  # done by an earlier delivery
        hashes = sorted({str(value) for event in events for value in event.payload.get("hashes", [])})
        numbers = sorted({str(value) for event in events for value in event.payload.get("numbers", [])})
        barred = await service.bar_linked(session, hashes, numbers)
        repository.finish_links(events, utcnow())
        return len(barred)

    try:
        barred: int = task_runtime().in_transaction(work)
    except Exception:
        TASKS.labels(BAR_LINKED_TASK, "error").inc()
        raise
    TASKS.labels(BAR_LINKED_TASK, "ok").inc()
    return barred

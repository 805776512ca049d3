"""What the do-not-contact list makes a worker do after a commit: bar the leads of a person whom a
screened lead linked to a listed phone or e-mail (outbox ``person.linked``)."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance import service
from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.outbox import repository as outbox

BAR_LINKED_TASK = "compliance.bar_linked"


@shared_task(name=BAR_LINKED_TASK)
def bar_linked(lead_id: str) -> int:
    """Bar the leads by what the screening of ``lead_id`` listed, and finish the event, in one
    transaction: a worker that dies between leaves the event for the relay to hand on again."""

    async def work(session: AsyncSession) -> int:
        event = await outbox.unfinished(session, outbox.PERSON_LINKED_TOPIC, lead_id)
        if event is None:
            return 0  # done by an earlier delivery
        hashes = [str(value) for value in event.payload.get("hashes", [])]
        barred = await service.bar_linked(session, hashes, [str(value) for value in event.payload.get("numbers", [])])
        await outbox.mark_processed(session, outbox.PERSON_LINKED_TOPIC, lead_id)
        return len(barred)

    try:
        barred: int = task_runtime().in_transaction(work)
    except Exception:
        TASKS.labels(BAR_LINKED_TASK, "error").inc()
        raise
    TASKS.labels(BAR_LINKED_TASK, "ok").inc()
    return barred

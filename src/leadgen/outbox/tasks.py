"""The relay: hands the queue every outbox event whose lease ran out (lost message, dead worker)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.outbox import repository

log = logging.getLogger(__name__)
BATCH = 500


@shared_task(name="outbox.relay")
def relay() -> int:
    runtime = task_runtime()
    lease = timedelta(seconds=runtime.settings.worker.outbox_lease_seconds)

    async def work(session: AsyncSession) -> list[tuple[str, str]]:
        events = await repository.due_for_dispatch(session, lease, BATCH)
        unknown = sorted({e.topic for e in events} - repository.TASK_FOR_TOPIC.keys())
        if unknown:
            # A newer release's events, met during a rolling upgrade: its own relay hands them on.
            log.warning("outbox events of topics this release does not consume: %s", ", ".join(unknown))
        return [(repository.TASK_FOR_TOPIC[e.topic], e.key) for e in events if e.topic not in unknown]

    due = runtime.in_transaction(work)
    for task, key in due:
        runtime.run(runtime.resources.dispatch(task, key))
    if due:
        log.info("relayed %d outbox events whose lease ran out", len(due))
    TASKS.labels("outbox.relay", "ok").inc()
    return len(due)

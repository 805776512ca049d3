"""The relay: hands the queue every outbox event whose lease ran out (lost message, dead worker),
and exports how much work waits in the outbox and for how long; and the pruning of processed events."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import OUTBOX_OLDEST_UNPROCESSED, OUTBOX_UNPROCESSED, TASKS
from leadgen.core.runtime import make_way_for_waiting_writers, task_runtime
from leadgen.models.base import utcnow
from leadgen.outbox import repository

log = logging.getLogger(__name__)
BATCH = 500
# Processed events deleted per transaction, and per run at most: a run every 10 minutes keeps up
# with 1.5 million events an hour (at 100 leads a second a lead's two or three events are under a
# million), each transaction holding its rows for a fraction of a second.
PRUNE_BATCH = 5_000
PRUNE_BATCHES = 50
# The label of topics this release does not consume (a newer release's, during a rolling
# upgrade): counted together, so that the gauges' labels stay a known few.
OTHER_TOPICS = "other"
# Counted from 0 in every worker, so that a relay that stopped running (the scheduler down) is an
# increase of nothing an alert sees, rather than no series at all.
TASKS.labels("outbox.relay", "ok")


@shared_task(name="outbox.relay")
def relay() -> int:
    runtime = task_runtime()
    lease = timedelta(seconds=runtime.settings.worker.outbox_lease_seconds)

    async def work(session: AsyncSession) -> tuple[list[tuple[str, str]], dict[str, repository.Backlog]]:
        events = await repository.due_for_dispatch(session, lease, BATCH)
        unknown = sorted({e.topic for e in events} - repository.TASK_FOR_TOPIC.keys())
        if unknown:
            # A newer release's events, met during a rolling upgrade: its own relay hands them on.
            log.warning("outbox events of topics this release does not consume: %s", ", ".join(unknown))
        due = [(repository.TASK_FOR_TOPIC[e.topic], e.key) for e in events if e.topic not in unknown]
        return due, await repository.backlog(session)

    due, backlog = runtime.in_transaction(work)
    for topic, (events, age) in backlog_by_label(backlog, utcnow()).items():
        OUTBOX_UNPROCESSED.labels(topic).set(events)
        OUTBOX_OLDEST_UNPROCESSED.labels(topic).set(age)
    for task, key in due:
        runtime.run(runtime.resources.dispatch(task, key))
    if due:
        log.info("relayed %d outbox events whose lease ran out", len(due))
    TASKS.labels("outbox.relay", "ok").inc()
    return len(due)


def backlog_by_label(backlog: dict[str, repository.Backlog], now: datetime) -> dict[str, tuple[int, float]]:
    """The gauges' values: for each topic this release consumes, and ``OTHER_TOPICS``, the events
    not yet processed and the seconds the oldest of them has waited (0 and 0 for none, so that a
    topic whose backlog cleared reads 0 rather than its last count)."""
    values = {topic: (0, 0.0) for topic in (*repository.TASK_FOR_TOPIC, OTHER_TOPICS)}
    for topic, waiting in backlog.items():
        label = topic if topic in repository.TASK_FOR_TOPIC else OTHER_TOPICS
        events, age = values[label]
        values[label] = (events + waiting.events, max(age, (now - waiting.oldest).total_seconds()))
    return values


@shared_task(name="outbox.prune")
def prune() -> int:
    """Periodic: delete the events processed more than LEADGEN_WORKER_OUTBOX_KEEP_PROCESSED_DAYS
    ago, a batch per transaction, so that the table holds days of events rather than every one ever
    written (two or three per lead). Returns how many were deleted."""
    runtime = task_runtime()
    before = utcnow() - timedelta(days=runtime.settings.worker.outbox_keep_processed_days)
    deleted = 0
    try:
        for number in range(PRUNE_BATCHES):
            if number:
                runtime.run(make_way_for_waiting_writers(runtime.resources))
            batch = runtime.in_transaction(lambda session: repository.prune_processed(session, before, PRUNE_BATCH))
            deleted += batch
            if batch < PRUNE_BATCH:
                break
    except Exception:
        TASKS.labels("outbox.prune", "error").inc()  # what was deleted stays deleted; the next run goes on
        raise
    if deleted:
        log.info("deleted %d outbox events processed before %s", deleted, before.isoformat(timespec="seconds"))
    TASKS.labels("outbox.prune", "ok").inc()
    return deleted

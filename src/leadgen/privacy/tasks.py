"""The retention purge: people inactive longer than ``LEADGEN_PRIVACY_RETENTION_DAYS`` are
anonymised as an erasure does, a batch an hour (``leadgen privacy purge`` runs every batch due)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.core.metrics import TASKS
from leadgen.core.resources import Resources
from leadgen.core.runtime import run_in_transaction, task_runtime
from leadgen.models.base import utcnow
from leadgen.privacy import repository, rules, service

log = logging.getLogger(__name__)
# People (their oldest lead found) looked at per batch: each in a transaction of its own.
BATCH = 200


@dataclass(frozen=True)
class Purged:
    people: int
    leads: int
    failed: int  # people whose transaction failed: found again by the next run


async def purge(
    resources: Resources, retention_days: int, now: datetime, actor: str, *, every_batch: bool, dry_run: bool = False
) -> Purged:
    """Anonymise the people due (``service.purge_person``), oldest first: one batch, or with
    ``every_batch`` every one until none is left. A run that anonymised anyone, or failed to, is
    audited by counts alone; a dry run changes nothing and counts what a run would anonymise."""
    cutoff = rules.retention_cutoff(now, retention_days)
    done: set[uuid.UUID] = set()  # leads anonymised by this run (dry: that it would anonymise)
    people = failed = 0
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        found = await run_in_transaction(
            resources, partial(repository.due_leads, cutoff=cutoff, limit=BATCH, after=after)
        )
        for _, lead_id in found:
            if lead_id in done:  # a lead of someone this run anonymised already
                continue
            work = partial(service.purge_person, lead_id=lead_id, cutoff=cutoff, dry_run=dry_run)
            try:
                leads = {lead.id for lead in await run_in_transaction(resources, work)}
            except Exception:
                failed += 1
                log.exception("the retention purge of lead %s's person failed; the next run tries again", lead_id)
                continue
            # A dry run leaves the leads of people counted before as they are: not counted twice.
            if leads - done:
                people += 1
                done |= leads
        if not every_batch or len(found) < BATCH:
            break
        # Onwards from the last lead looked at: one whose person was not due, or failed, is not looked at again.
        after = found[-1]
    purged = Purged(people, len(done), failed)
    if not dry_run and (people or failed):

        async def record(session: AsyncSession) -> None:
            data = {"people": people, "leads": len(done), "failed": failed, "retention_days": retention_days}
            await audit.record(session, actor, "privacy.purged", "person", None, data)

        await run_in_transaction(resources, record)
    return purged


@shared_task(name="privacy.purge")
def purge_inactive_people() -> int:
    """Hourly (the beat schedule): a batch of the people due, when the purge is on."""
    runtime = task_runtime()
    retention_days = runtime.settings.privacy.retention_days
    if not retention_days:
        return 0
    purged = runtime.run(purge(runtime.resources, retention_days, utcnow(), service.RETENTION, every_batch=False))
    TASKS.labels("privacy.purge", "ok" if not purged.failed else "error").inc()
    return purged.people

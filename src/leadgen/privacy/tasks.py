"""The retention purge: people inactive longer than ``LEADGEN_PRIVACY_RETENTION_DAYS`` are
anonymised as an erasure does, a bounded stretch of the leads an hour (``leadgen privacy purge``
walks them all). And, whatever that setting, the evidence anonymised leads' consent records kept
until they were five years old is cleared once they are."""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.core.metrics import TASKS
from leadgen.core.resources import Resources
from leadgen.core.runtime import make_way_for_waiting_writers, run_in_transaction, task_runtime
from leadgen.models.base import utcnow
from leadgen.privacy import repository, rules, service

log = logging.getLogger(__name__)
JOB = "privacy.purge"
CONSENT_JOB = "privacy.consent_evidence"
# Consent records cleared per transaction.
CONSENT_BATCH = 500
# People (their oldest lead found) an hourly run tries at most: each in a transaction of its own.
BATCH = 200
# Leads read per query, their people looked at in the same query: about 30 ms on PostgreSQL however
# large the book (bench/retention/run.py; a query asking of every lead older than the cutoff first
# took about 6 s on 600,000 leads).
WINDOW = 1000
# Windows an hourly run reads at most (3.6 s on PostgreSQL): where the old leads' people are mostly
# still active, the run stops after these, and the next goes on from there.
WINDOWS = 100


@dataclass(frozen=True)
class Purged:
    people: int
    leads: int
    failed: int  # people whose transaction failed: tried again when the purge next comes by them


async def purge(
    resources: Resources, retention_days: int, now: datetime, actor: str, *, every_batch: bool, dry_run: bool = False
) -> Purged:
    """Anonymise the people due (``service.purge_person``), walking the leads not anonymised oldest
    first, a window at a time. The hourly run goes on after the lead its last run stopped at, reads
    ``WINDOWS`` windows and tries ``BATCH`` people at most, and keeps its place; past the newest
    lead, the next run starts from the oldest again, and finds whoever became due behind it. With
    ``every_batch`` (the command) every lead, from the oldest. A run that anonymised anyone, or
    failed to, is audited by counts alone; a dry run changes nothing and counts what a run would."""
    cutoff = rules.retention_cutoff(now, retention_days)
    limit = None if every_batch else BATCH  # people to try: the command tries every one due
    windows: Iterable[int] = itertools.count() if every_batch else range(WINDOWS)
    position = None if every_batch else await run_in_transaction(resources, partial(repository.cursor, job=JOB))
    done: set[uuid.UUID] = set()  # leads anonymised by this run (dry: that it would anonymise)
    people = failed = tried = 0
    ended = False
    for _ in windows:
        window = await run_in_transaction(
            resources, partial(repository.candidates, cutoff=cutoff, size=WINDOW, after=position)
        )
        for candidate in window:
            if tried == limit:
                break
            position = candidate.position
            if not candidate.due or candidate.id in done:  # kept, or of someone this run anonymised
                continue
            tried += 1
            leads = await _purge_person(resources, candidate.id, cutoff, dry_run)
            if leads is None:
                failed += 1
            # A dry run leaves the leads of people counted before as they are: not counted twice.
            elif leads - done:
                people += 1
                done |= leads
        else:
            ended = len(window) < WINDOW
        if ended or tried == limit:
            break
    if not dry_run:

        async def record(session: AsyncSession) -> None:
            if not every_batch:
                await repository.move_cursor(session, JOB, None if ended else position)
            if people or failed:
                data = {"people": people, "leads": len(done), "failed": failed, "retention_days": retention_days}
                await audit.record(session, actor, "privacy.purged", "person", None, data)

        await run_in_transaction(resources, record)
    return Purged(people, len(done), failed)


async def _purge_person(
    resources: Resources, lead_id: uuid.UUID, cutoff: datetime, dry_run: bool
) -> set[uuid.UUID] | None:
    """The leads of the person anonymised (dry: that would be), or None when their transaction failed."""
    work = partial(service.purge_person, lead_id=lead_id, cutoff=cutoff, dry_run=dry_run)
    try:
        return {lead.id for lead in await run_in_transaction(resources, work)}
    except Exception:
        log.exception("the retention purge of lead %s's person failed; it is tried again next time", lead_id)
        return None


@shared_task(name=JOB)
def purge_inactive_people() -> int:
    """Hourly (the beat schedule): the people due in the next stretch of the leads, when the purge is on."""
    runtime = task_runtime()
    retention_days = runtime.settings.privacy.retention_days
    if not retention_days:
        return 0
    purged = runtime.run(purge(runtime.resources, retention_days, utcnow(), service.RETENTION, every_batch=False))
    TASKS.labels(JOB, "ok" if not purged.failed else "error").inc()
    return purged.people


async def clear_consent_evidence_due(resources: Resources, now: datetime, actor: str) -> int:
    """Clear the evidence of every consent record kept until ``now`` or before (``rules.CONSENT_KEPT``),
    a batch a transaction; audited by count. Returns how many."""

    async def batch(session: AsyncSession) -> int:
        records = await repository.consent_evidence_due(session, now, CONSENT_BATCH)
        for record in records:
            service.clear_consent_evidence(record)
        if records:
            cleared = {"records": len(records)}
            await audit.record(session, actor, "privacy.consent_evidence_cleared", "consent", None, cleared)
        return len(records)

    cleared = 0
    while (done := await run_in_transaction(resources, batch)) == CONSENT_BATCH:
        cleared += done
        await make_way_for_waiting_writers(resources)
    return cleared + done


@shared_task(name=CONSENT_JOB)
def clear_expired_consent_evidence() -> int:
    """Hourly (the beat schedule): consent records of anonymised leads that have turned five years old."""
    runtime = task_runtime()
    cleared = runtime.run(clear_consent_evidence_due(runtime.resources, utcnow(), service.RETENTION))
    TASKS.labels(CONSENT_JOB, "ok").inc()
    return cleared

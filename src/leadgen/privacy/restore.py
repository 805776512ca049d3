"""Erasures carried over a restore from a backup. An erasure is recorded only in the database, so a
database restored from a backup holds again the people erased after it, and lacks the
do-not-contact entries their erasures added. ``erasures`` lists both from the database being
replaced, while it can still be read; ``reapply`` erases those leads again in the restored one, and
lists those entries again."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import get_args

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.compliance import repository as dnc
from leadgen.core.resources import Resources
from leadgen.core.runtime import make_way_for_waiting_writers, run_in_transaction
from leadgen.models import Lead
from leadgen.models.base import utcnow
from leadgen.privacy import repository
from leadgen.privacy.schemas import AnonymisedFor, AnonymisedLead, ErasureEntry, Erasures
from leadgen.privacy.service import ERASURE_REQUEST, anonymise

# The audit action of each transaction of ``reapply`` that changed anything.
REAPPLIED_ACTION = "privacy.reapplied"
# Leads anonymised per transaction (each committed on its own): the purge tries as many people a run.
BATCH = 200


@dataclass(frozen=True)
class Reapplied:
    anonymised: int
    already_anonymised: int  # in the backup already, or by a run before
    missing: int  # not in the restored database: received after the backup, and gone with it
    listed: int  # do-not-contact entries added
    already_listed: int


async def erasures(session: AsyncSession, since: datetime | None) -> Erasures:
    """The leads anonymised and the do-not-contact entries erasures added at ``since`` or after (all
    of them, without). Reads only and audits nothing: it runs against the database a restore
    replaces, which may be a read-only standby, or failing."""
    anonymised: dict[uuid.UUID, AnonymisedLead] = {}
    for lead_id, at, reason in await repository.anonymised_since(session, since):
        # An event without a reason is of the release before reasons were recorded: an erasure, as
        # the unsubscribe link reads it (``compliance.router``).
        said = reason if reason in get_args(AnonymisedFor) else ERASURE_REQUEST
        anonymised.setdefault(lead_id, AnonymisedLead(lead_id=lead_id, at=at, reason=said))
    entries = [
        ErasureEntry(kind=entry.kind, value_hash=entry.value_hash, at=entry.created_at)
        for entry in await repository.listed_since(session, since, ERASURE_REQUEST)
    ]
    return Erasures(since=since, listed_at=utcnow(), anonymised=list(anonymised.values()), do_not_contact=entries)


async def reapply(resources: Resources, erased: Erasures, actor: str) -> Reapplied:
    """List the entries again, then anonymise the leads again as they were (``service.anonymise``,
    for the reason each was), ``BATCH`` a transaction. Idempotent: leads anonymised already and
    entries listed already are counted and left as they are, and a run stopped part-way is
    completed by running it again. Each transaction that changed anything is audited."""
    entries = [(entry.kind, entry.value_hash) for entry in erased.do_not_contact]
    listed = await run_in_transaction(resources, partial(_list_again, entries=entries, actor=actor))
    anonymised = already = missing = 0
    leads = erased.anonymised
    for start in range(0, len(leads), BATCH):
        await make_way_for_waiting_writers(resources)
        work = partial(_anonymise_again, leads=leads[start : start + BATCH], actor=actor)
        done, skipped, gone = await run_in_transaction(resources, work)
        anonymised, already, missing = anonymised + done, already + skipped, missing + gone
    return Reapplied(anonymised, already, missing, listed, len(entries) - listed)


async def _list_again(session: AsyncSession, entries: list[tuple[str, str]], actor: str) -> int:
    """The entries not on the list, added; how many."""
    added = len(await dnc.add_many(session, entries, ERASURE_REQUEST))
    if added:
        await audit.record(session, actor, REAPPLIED_ACTION, "do_not_contact", None, {"added": added})
    return added


async def _anonymise_again(session: AsyncSession, leads: list[AnonymisedLead], actor: str) -> tuple[int, int, int]:
    """The batch's leads anonymised again, as their erasure (its person's own entries listed again
    too, as ``service.erase`` lists them) or the retention purge did: (anonymised now, anonymised
    already, missing)."""
    found = {lead.id: lead for lead in await repository.leads_by_id(session, {listed.lead_id for listed in leads})}
    due: dict[str, list[Lead]] = defaultdict(list)
    for listed in leads:
        lead = found.get(listed.lead_id)
        if lead is not None and lead.anonymised_at is None:
            due[listed.reason].append(lead)
    erased = due.get(ERASURE_REQUEST, [])
    await dnc.add_many(session, sorted({entry for lead in erased for entry in dnc.own_hashes(lead)}), ERASURE_REQUEST)
    for reason, of_reason in due.items():
        await anonymise(session, of_reason, reason)
    done = [str(lead.id) for of_reason in due.values() for lead in of_reason]
    if done:
        await audit.record(session, actor, REAPPLIED_ACTION, "person", None, {"lead_ids": done})
    return len(done), len(found) - len(done), len(leads) - len(found)

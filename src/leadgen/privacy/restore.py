"""Erasures and opt-outs carried over a restore from a backup. Both are recorded only in the
database, so a database restored from a backup holds again the people erased after it, lacks the
do-not-contact entries their erasures added, and lacks the opt-outs (a STOP, an unsubscribe link,
staff, an imported list) taken since: the platform would contact people who had opted out.
``erasures`` lists them from the database being replaced, while it can still be read; ``reapply``
erases those leads again in the restored one, and lists those entries again.

What can be carried of an opt-out taken back since is carried: the list keeps no record of what was
taken off it (the removal's audit entry says nothing of the person, on purpose), but one taken off
as listed by mistake leaves a ``lead.opt_out_withdrawn`` event on each of its leads, whose hashes
the old database no longer lists. Taken off after a new written consent, it stays listed in the
restored database: the person is not contacted until they are taken off again, the side a mistake
may fall on."""

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
from leadgen.compliance.rules import BARRED_BECAUSE, DO_NOT_CONTACT
from leadgen.core.resources import Resources
from leadgen.core.runtime import make_way_for_waiting_writers, run_in_transaction
from leadgen.models import Lead, LeadEvent
from leadgen.models.base import utcnow
from leadgen.privacy import repository
from leadgen.privacy.schemas import (
    LISTING_VERSION,
    SAID_BY,
    AnonymisedFor,
    AnonymisedLead,
    ErasureEntry,
    Erasures,
    OptOutEntry,
    OptOutEvent,
    TakenOffEntry,
)
from leadgen.privacy.service import ERASURE_REQUEST, anonymise
from leadgen.routing import service as routing

# The audit action of each transaction of ``reapply`` that changed anything.
REAPPLIED_ACTION = "privacy.reapplied"
# Leads anonymised per transaction (each committed on its own): the purge tries as many people a run.
BATCH = 200
# Opt-out entries and events per transaction: an imported list may hold 300,000 (as
# ``compliance.service.IMPORT_BATCH``, whose measurements hold here).
OPT_OUT_BATCH = 1_000


@dataclass(frozen=True)
class Reapplied:
    anonymised: int
    already_anonymised: int  # in the backup already, or by a run before
    missing: int  # not in the restored database: received after the backup, and gone with it
    listed: int  # do-not-contact entries added
    already_listed: int
    opt_outs_listed: int = 0  # opt-outs' and imports' entries added
    already_opted_out: int = 0
    taken_off: int = 0  # entries taken off as listed by mistake since
    opt_out_events: int = 0  # leads' opt-out events added
    already_opt_out_events: int = 0
    opt_out_events_missing: int = 0  # of leads not in the restored database


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
    opted_out = [
        OptOutEntry(kind=entry.kind, value_hash=entry.value_hash, reason=entry.reason, at=entry.created_at)
        for entry in await repository.listed_since_except(session, since, ERASURE_REQUEST)
    ]
    events = await repository.events_since(session, since, SAID_BY)
    return Erasures(
        version=LISTING_VERSION,
        since=since,
        listed_at=utcnow(),
        anonymised=list(anonymised.values()),
        do_not_contact=entries,
        opted_out=opted_out,
        taken_off=await _taken_off(session, [event for event in events if event.name == dnc.OPT_OUT_WITHDRAWN_EVENT]),
        opt_out_events=[
            OptOutEvent(
                lead_id=event.lead_id,
                name=event.name,
                said=str(event.data.get(SAID_BY[event.name], "")),
                at=event.created_at,
            )
            for event in events
        ],
    )


async def _taken_off(session: AsyncSession, withdrawals: list[LeadEvent]) -> list[TakenOffEntry]:
    """The hashes of the leads whose opt-outs were withdrawn that the list no longer holds: taken off
    as listed by mistake (``compliance.service.take_off_list``). An anonymised lead has none left."""
    leads = {lead.id: lead for lead in await repository.leads_read(session, {event.lead_id for event in withdrawals})}
    of_lead = {event.lead_id: event.created_at for event in withdrawals}
    hashes = {value: (kind, of_lead[lead.id]) for lead in leads.values() for kind, value in dnc.identity_hashes(lead)}
    still_listed = await dnc.listed_among(session, sorted(hashes))
    return [
        TakenOffEntry(kind=kind, value_hash=value, at=at)
        for value, (kind, at) in sorted(hashes.items(), key=lambda item: (item[1][1], item[0]))
        if value not in still_listed
    ]


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
    opted_out = await _opt_outs_again(resources, erased, actor)
    return Reapplied(anonymised, already, missing, listed, len(entries) - listed, *opted_out)


async def _opt_outs_again(resources: Resources, erased: Erasures, actor: str) -> tuple[int, int, int, int, int, int]:
    """The opt-outs' entries listed again, those taken off since taken off, and the leads' opt-out
    events recorded again: (listed, listed already, taken off, events added, held already, of
    leads not here)."""
    listed = events = held = gone = 0
    for start in range(0, len(erased.opted_out), OPT_OUT_BATCH):
        await make_way_for_waiting_writers(resources)
        batch = erased.opted_out[start : start + OPT_OUT_BATCH]
        listed += await run_in_transaction(resources, partial(_list_opt_outs_again, entries=batch, actor=actor))
    taken_off = await run_in_transaction(resources, partial(_take_off_again, entries=erased.taken_off, actor=actor))
    for start in range(0, len(erased.opt_out_events), OPT_OUT_BATCH):
        batch_events = erased.opt_out_events[start : start + OPT_OUT_BATCH]
        added, already, missing = await run_in_transaction(
            resources, partial(_record_events_again, events=batch_events, actor=actor)
        )
        events, held, gone = events + added, held + already, gone + missing
    return listed, len(erased.opted_out) - listed, taken_off, events, held, gone


async def _list_opt_outs_again(session: AsyncSession, entries: list[OptOutEntry], actor: str) -> int:
    """The entries not on the list, added as they were listed (reason and time); the leads they bar
    now lose their open offers, as the opt-out withdrew them (``compliance.service.opt_out``)."""
    hashes = sorted({entry.value_hash for entry in entries})
    # The leads are locked before the list grows, in the order an opt-out takes the same locks; only
    # those of hashes not listed yet, so a second run locks nothing.
    leads = await dnc.leads_with_any(session, sorted(set(hashes) - await dnc.listed_among(session, hashes)))
    listed_before = await dnc.listed_among(session, [value for lead in leads for _, value in dnc.identity_hashes(lead)])
    as_listed = [(entry.kind, entry.value_hash, entry.reason, entry.at) for entry in entries]
    added = await repository.list_as_it_was(session, as_listed)
    barred = [
        lead
        for lead in leads
        if lead.anonymised_at is None
        and listed_before.isdisjoint(owned := {value for _, value in dnc.identity_hashes(lead)})
        and not added.isdisjoint(owned)
    ]
    for lead in barred:
        await routing.withdraw_offers(session, lead, BARRED_BECAUSE[DO_NOT_CONTACT])
    if added:
        audited = {"added": len(added), "leads": len(barred)}
        await audit.record(session, actor, REAPPLIED_ACTION, "opt_out", None, audited)
    return len(added)


async def _take_off_again(session: AsyncSession, entries: list[TakenOffEntry], actor: str) -> int:
    """The entries taken off the list as listed by mistake since the backup, taken off again; how many."""
    if not entries:
        return 0
    removed = await dnc.remove(session, sorted({entry.value_hash for entry in entries}))
    if removed:
        await audit.record(session, actor, REAPPLIED_ACTION, "opt_out_removal", None, {"removed": removed})
    return len(removed)


async def _record_events_again(session: AsyncSession, events: list[OptOutEvent], actor: str) -> tuple[int, int, int]:
    """The events of the leads the database holds that it lacks, recorded as they were (name, what
    they said, time): (added, held already, of leads not here)."""
    present = await repository.existing_leads(session, {event.lead_id for event in events})
    held = await repository.events_of(session, present, SAID_BY)
    new = [event for event in events if event.lead_id in present and (event.lead_id, event.name, event.at) not in held]
    for event in new:
        data = {SAID_BY[event.name]: event.said}
        session.add(LeadEvent(lead_id=event.lead_id, name=event.name, data=data, created_at=event.at))
    if new:
        await audit.record(session, actor, REAPPLIED_ACTION, "lead_events", None, {"added": len(new)})
    missing = sum(event.lead_id not in present for event in events)
    return len(new), len(events) - len(new) - missing, missing


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

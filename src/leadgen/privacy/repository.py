"""What the retention purge reads and keeps: the leads of people due, what each of their leads did
last, and where its last run stopped; the consent records whose evidence is due to go; the audit
entries naming a person's leads, for their export; and what was erased and listed since a time,
for a database restored from a backup."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, delete, exists, func, literal, or_, select, tuple_, type_coerce
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from leadgen.core.db import insert_for
from leadgen.dedupe.rules import phones_match_clause
from leadgen.models import AuditEntry, ConsentRecord, DoNotContact, Lead, LeadEvent, SweepCursor
from leadgen.models.base import utcnow
from leadgen.privacy.rules import LeadActivity

# A lead's place in the order the purge walks the leads in: (received_at, id).
Position = tuple[datetime, uuid.UUID]
# One event of a lead, as ``reapply`` tells whether it holds it already: (lead, name, time).
EventKey = tuple[uuid.UUID, str, datetime]
_OF_THE_PERSON = aliased(Lead, name="of_the_person")


def _active_since(lead: type[Lead], cutoff: datetime) -> ColumnElement[bool]:
    """``rules.due``'s test of one lead, in SQL: active at or after ``cutoff``."""
    return or_(
        lead.received_at >= cutoff,
        exists().where(LeadEvent.lead_id == lead.id, LeadEvent.created_at >= cutoff),
    )


class Candidate(NamedTuple):
    """A lead the purge looks at, and whether its person is due."""

    received_at: datetime
    id: uuid.UUID
    due: bool

    @property
    def position(self) -> Position:
        return self.received_at, self.id


async def candidates(
    session: AsyncSession, cutoff: datetime, size: int, after: Position | None = None
) -> list[Candidate]:
    """The next ``size`` leads not anonymised received before ``cutoff``, oldest first, after
    ``after`` if given; each says whether its person (``dedupe.rules.same_person``: every lead with
    its e-mail, or its phone with an extension that does not tell them apart, the lead itself among
    them) is due.

    The window is read first, from the partial index of leads not anonymised by receipt, and only
    its leads' people are looked at: a query costs the same however many leads are older and however
    many of their people are active. Asking of every lead before the cutoff first, then taking the
    oldest due, took about 6 s a query on 600,000 leads (a sequential scan), and grew with the book."""
    window = (
        select(Lead.received_at, Lead.id, Lead.phone_hash, Lead.phone_extension, Lead.email_hash)
        .where(Lead.anonymised_at.is_(None), Lead.received_at < cutoff)
        .order_by(Lead.received_at, Lead.id)
        .limit(size)
    )
    if after is not None:
        window = window.where(tuple_(Lead.received_at, Lead.id) > after)
    candidate = window.subquery("candidate")
    same_phone = and_(
        _OF_THE_PERSON.phone_hash == candidate.c.phone_hash,
        phones_match_clause(_OF_THE_PERSON.phone_extension, candidate.c.phone_extension),
    )
    same_person = or_(same_phone, _OF_THE_PERSON.email_hash == candidate.c.email_hash)
    due = (~exists().where(same_person, _active_since(_OF_THE_PERSON, cutoff))).label("due")
    query = select(candidate.c.received_at, candidate.c.id, due).order_by(candidate.c.received_at, candidate.c.id)
    return [Candidate(received_at, lead_id, is_due) for received_at, lead_id, is_due in await session.execute(query)]


async def cursor(session: AsyncSession, job: str) -> Position | None:
    """Where ``job`` stopped last (``move_cursor``); None: at the start."""
    found = await session.get(SweepCursor, job)
    return None if found is None else (found.received_at, found.lead_id)


async def move_cursor(session: AsyncSession, job: str, position: Position | None) -> None:
    """Keep ``position`` as where ``job`` stopped; None starts it from the oldest lead again."""
    if position is None:
        await session.execute(delete(SweepCursor).where(SweepCursor.job == job))
        return
    insert = insert_for(session)
    place = {"received_at": position[0], "lead_id": position[1], "updated_at": utcnow()}
    # An upsert: two runs at once (one overran its hour) both write, the later one's place stays.
    await session.execute(
        insert(SweepCursor).values(job=job, **place).on_conflict_do_update(index_elements=[SweepCursor.job], set_=place)
    )


async def activity(session: AsyncSession, leads: list[Lead]) -> list[LeadActivity]:
    """What ``rules.due`` reads of each of the leads."""
    ids = [lead.id for lead in leads]
    if not ids:
        return []
    last_events: dict[uuid.UUID, datetime] = {
        lead_id: at
        for lead_id, at in await session.execute(
            select(LeadEvent.lead_id, func.max(LeadEvent.created_at))
            .where(LeadEvent.lead_id.in_(ids))
            .group_by(LeadEvent.lead_id)
        )
    }
    return [LeadActivity(lead.received_at, last_events.get(lead.id)) for lead in leads]


async def consent_evidence_due(session: AsyncSession, now: datetime, limit: int) -> list[ConsentRecord]:
    """Up to ``limit`` consent records of anonymised leads whose evidence was kept until ``now`` or
    before, locked; those another transaction holds are left to it."""
    query = (
        select(ConsentRecord)
        .where(ConsentRecord.evidence_kept_until <= now)
        .order_by(ConsentRecord.evidence_kept_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(await session.scalars(query))


async def consent_records_with_any(
    session: AsyncSession, hashes: list[str]
) -> list[tuple[ConsentRecord, datetime | None]]:
    """The consent records given for one of the phone or e-mail ``hashes`` (those of erased leads
    too, until their evidence goes), oldest first, each with when its lead was anonymised."""
    query = (
        select(ConsentRecord, Lead.anonymised_at)
        .join(Lead, Lead.id == ConsentRecord.lead_id)
        .where(or_(ConsentRecord.phone_hash.in_(hashes), ConsentRecord.email_hash.in_(hashes)))
        .order_by(ConsentRecord.captured_at, ConsentRecord.id)
    )
    return [(record, anonymised_at) for record, anonymised_at in await session.execute(query)]


async def anonymised_for(session: AsyncSession, lead_id: uuid.UUID) -> str | None:
    """Why the lead was anonymised (``service.ERASURE_REQUEST`` or ``service.RETENTION``), from its
    ``lead.anonymised`` event; None when it was not."""
    query = select(LeadEvent.data).where(LeadEvent.lead_id == lead_id, LeadEvent.name == "lead.anonymised")
    said = await session.scalar(query.order_by(LeadEvent.created_at.desc()).limit(1))
    return None if said is None else str(said.get("reason"))


async def anonymised_since(session: AsyncSession, since: datetime | None) -> list[tuple[uuid.UUID, datetime, str]]:
    """Each lead anonymised at ``since`` or after (every one, without): its id, when and why
    (``anonymised_for``), from its ``lead.anonymised`` event, oldest first. An erasure and the
    retention purge both write one per lead; the purge's audit entries count the leads, not name them.

    No index serves it (the events are indexed by lead): a scan of ``lead_events``, once a restore."""
    query = select(LeadEvent.lead_id, LeadEvent.created_at, LeadEvent.data).where(LeadEvent.name == "lead.anonymised")
    if since is not None:
        query = query.where(LeadEvent.created_at >= since)
    rows = await session.execute(query.order_by(LeadEvent.created_at, LeadEvent.id))
    return [(lead_id, at, str(data.get("reason"))) for lead_id, at, data in rows]


async def listed_since(session: AsyncSession, since: datetime | None, reason: str) -> list[DoNotContact]:
    """The do-not-contact entries added for ``reason`` at ``since`` or after (every one, without),
    oldest first."""
    query = select(DoNotContact).where(DoNotContact.reason == reason)
    if since is not None:
        query = query.where(DoNotContact.created_at >= since)
    return list(await session.scalars(query.order_by(DoNotContact.created_at, DoNotContact.id)))


async def leads_by_id(session: AsyncSession, lead_ids: Collection[uuid.UUID]) -> list[Lead]:
    """The leads with these ids that exist, locked in the order of their ids (as
    ``compliance.repository.leads_with_any`` locks a person's: two requests cannot deadlock) and
    read afresh under the lock."""
    query = (
        select(Lead)
        .where(Lead.id.in_(sorted(lead_ids)))
        .order_by(Lead.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(query))


async def audited_naming(
    session: AsyncSession,
    action: str,
    lead_ids: Collection[uuid.UUID],
    since: datetime,
    agents: Collection[uuid.UUID] | None = None,
) -> list[AuditEntry]:
    """The ``action`` entries written since ``since`` that name one of the leads among their
    ``lead_ids``, oldest first; given ``agents``, only those about one of these agents.

    The database picks them out: an agent's inbox is audited on every visit, and loading every
    read of the agents to look for the leads in Python took 14 to 30 s an export once one of them
    had 200,000 reads, and under a second so (PostgreSQL, no index on the leads an entry names)."""
    names = _names_any(session, sorted(str(lead_id) for lead_id in lead_ids))
    query = select(AuditEntry).where(AuditEntry.action == action, AuditEntry.created_at >= since, names)
    if agents is not None:
        query = query.where(
            AuditEntry.subject_type == "agent", AuditEntry.subject_id.in_(sorted(str(agent) for agent in agents))
        )
    return list(await session.scalars(query.order_by(AuditEntry.created_at)))


def _names_any(session: AsyncSession, lead_ids: list[str]) -> ColumnElement[bool]:
    """An audit entry's ``lead_ids`` holds one of ``lead_ids``: PostgreSQL's ``?|`` on the JSONB
    array, SQLite's ``json_each`` over the JSON text."""
    if session.get_bind().dialect.name == "postgresql":
        holds_one: ColumnElement[bool] = type_coerce(AuditEntry.data, JSONB)["lead_ids"].has_any(array(lead_ids))
        return holds_one
    named = func.json_each(AuditEntry.data, "$.lead_ids").table_valued("value")
    return select(literal(1)).select_from(named).where(named.c.value.in_(lead_ids)).exists()


async def listed_since_except(session: AsyncSession, since: datetime | None, reason: str) -> list[DoNotContact]:
    """The do-not-contact entries added for any reason but ``reason`` at ``since`` or after (every
    one, without), oldest first."""
    query = select(DoNotContact).where(DoNotContact.reason != reason)
    if since is not None:
        query = query.where(DoNotContact.created_at >= since)
    return list(await session.scalars(query.order_by(DoNotContact.created_at, DoNotContact.id)))


async def events_since(session: AsyncSession, since: datetime | None, names: Collection[str]) -> list[LeadEvent]:
    """The leads' events of these names at ``since`` or after (every one, without), oldest first.
    A scan of ``lead_events`` as ``anonymised_since``'s, once a restore."""
    query = select(LeadEvent).where(LeadEvent.name.in_(sorted(names)))
    if since is not None:
        query = query.where(LeadEvent.created_at >= since)
    return list(await session.scalars(query.order_by(LeadEvent.created_at, LeadEvent.id)))


async def list_as_it_was(session: AsyncSession, entries: list[tuple[str, str, str, datetime]]) -> set[str]:
    """List each (kind, hash, reason, when) not listed yet, with the reason and time it was listed
    by first; the hashes that were new."""
    insert = insert_for(session)
    rows = [
        {"kind": kind, "value_hash": value, "reason": reason, "created_at": at} for kind, value, reason, at in entries
    ]
    if not rows:
        return set()
    statement = (
        insert(DoNotContact)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[DoNotContact.value_hash])
        .returning(DoNotContact.value_hash)
    )
    return set(await session.scalars(statement))


async def events_of(session: AsyncSession, lead_ids: Collection[uuid.UUID], names: Collection[str]) -> set[EventKey]:
    """The (lead, name, time) of the leads' events of these names."""
    query = select(LeadEvent.lead_id, LeadEvent.name, LeadEvent.created_at).where(
        LeadEvent.lead_id.in_(sorted(lead_ids)), LeadEvent.name.in_(sorted(names))
    )
    return {(lead_id, name, at) for lead_id, name, at in await session.execute(query)}


async def existing_leads(session: AsyncSession, lead_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of the leads the database holds (read without locking: events are only added to them)."""
    return set(await session.scalars(select(Lead.id).where(Lead.id.in_(sorted(lead_ids)))))


async def leads_read(session: AsyncSession, lead_ids: Collection[uuid.UUID]) -> list[Lead]:
    """The leads with these ids that exist, read without locking (a read-only standby serves)."""
    if not lead_ids:
        return []
    return list(await session.scalars(select(Lead).where(Lead.id.in_(sorted(lead_ids)))))

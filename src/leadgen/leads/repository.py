"""Queries for leads, their consent and their assignments."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, bindparam, exists, false, literal, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from leadgen.dedupe.rules import IN_FLIGHT_STATUSES, TAKEN_STATUSES, phones_match_clause
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus, Line
from leadgen.leads.visibility import AGENT_READS_WITH
from leadgen.models import Agent, Assignment, Lead

# The pipeline runs these for every lead: built once, they cost only their parameters per call.
_LEAD = select(Lead).where(Lead.id == bindparam("lead_id"))
# Locked, and read afresh: the session may hold the lead as it was before another transaction's
# commit, and a lock taken over a stale copy would act on the old status.
_LOCKED_LEAD = _LEAD.with_for_update().execution_options(populate_existing=True)
_WAITING_MATCHES = select(Lead.id).where(
    Lead.id != bindparam("lead_id"),
    Lead.status == LeadStatus.RECEIVED,
    Lead.line == bindparam("line"),
    Lead.received_at >= bindparam("since"),
    Lead.received_at <= bindparam("received_at"),
    # A missing hash is NULL here, and NULL equals nothing.
    or_(Lead.phone_hash == bindparam("phone"), Lead.email_hash == bindparam("email")),
)


async def get(session: AsyncSession, lead_id: uuid.UUID, lock: bool = False) -> Lead | None:
    return await session.scalar(_LOCKED_LEAD if lock else _LEAD, {"lead_id": lead_id})


_BY_EXTERNAL_ID = select(Lead).where(
    Lead.source_id == bindparam("source_id"), Lead.external_id == bindparam("external_id")
)
# Rows another transaction holds are skipped, not waited for.
_BY_EXTERNAL_ID_LOCKED = _BY_EXTERNAL_ID.with_for_update(skip_locked=True)


async def by_external_id(
    session: AsyncSession, source_id: uuid.UUID, external_id: str, lock: bool = False
) -> Lead | None:
    """The source's lead with this id of the source's own (unique per source)."""
    params = {"source_id": source_id, "external_id": external_id}
    return await session.scalar(_BY_EXTERNAL_ID_LOCKED if lock else _BY_EXTERNAL_ID, params)


async def waiting_matches(
    session: AsyncSession, lead: Lead, hashes: list[tuple[str, str]], since: datetime
) -> list[uuid.UUID]:
    """Earlier leads still waiting for the pipeline (so not yet linked in the graph) that share a
    phone or e-mail hash with this one: like the graph's links, candidates that
    ``earliest_original`` narrows by the phones' extensions."""
    by_kind = dict(hashes)
    if not (by_kind.get("phone") or by_kind.get("email")):
        return []
    params = {
        "lead_id": lead.id,
        "line": lead.line,
        "since": since,
        "received_at": lead.received_at,
        "phone": by_kind.get("phone"),
        "email": by_kind.get("email"),
    }
    return list(await session.scalars(_WAITING_MATCHES, params))


def counts_as_original(original: type[Lead]) -> ColumnElement[bool]:
    """Whether the lead makes a later one of the person a duplicate (``dedupe.rules``): live, not
    erased, and still in flight, or taken and held by an active agent (an ACCEPTED offer of one)."""
    held = exists().where(
        Assignment.lead_id == original.id,
        Assignment.status == AssignmentStatus.ACCEPTED,
        Agent.id == Assignment.agent_id,
        Agent.active.is_(True),
    )
    return and_(
        # Never a test lead: one waiting for the pipeline matches by its hashes, and one sent
        # before test leads were kept out of the graph may still be linked there.
        original.is_test.is_(False),
        original.anonymised_at.is_(None),
        or_(original.status.in_(IN_FLIGHT_STATUSES), and_(original.status.in_(TAKEN_STATUSES), held)),
    )


async def earliest_original(session: AsyncSession, lead: Lead, linked: list[uuid.UUID]) -> Lead | None:
    """Among leads the graph links to this one, of its line and counting as an original
    (``counts_as_original``), the one it repeats: a lead already screened, whenever it was received,
    else the earliest received before it still waiting for the pipeline.

    ``received_at`` is stamped before the insert commits: a lead whose commit was slow may reach
    the pipeline after a later lead of the person was screened without seeing it, and is then that
    lead's duplicate. A later lead still waiting is not this one's original: screened after it, it
    finds this one."""
    if not linked:
        return None
    waiting = Lead.status == LeadStatus.RECEIVED
    query = (
        select(Lead)
        .where(
            Lead.id.in_(linked),
            _same_person_as(lead),
            Lead.line == lead.line,
            or_(not_(waiting), Lead.received_at <= lead.received_at),
            counts_as_original(Lead),
        )
        # A screened lead first: a waiting one may yet be screened out, or be that lead's duplicate.
        .order_by(waiting, Lead.received_at, Lead.id)
        .limit(1)
    )
    return await session.scalar(query)


def _same_person_as(lead: Lead) -> ColumnElement[bool]:
    """Whether a lead linked to ``lead`` names its person (``dedupe.rules.same_person``): the graph
    links leads by a phone number alone, which two people at one switchboard share."""
    matches = []
    if lead.email_hash is not None:
        matches.append(Lead.email_hash == lead.email_hash)
    if lead.phone_hash is not None:
        extension = literal(lead.phone_extension, String)
        matches.append(and_(Lead.phone_hash == lead.phone_hash, phones_match_clause(Lead.phone_extension, extension)))
    return or_(false(), *matches)


async def duplicates_to_release(
    session: AsyncSession, since_by_line: Mapping[Line, datetime], limit: int
) -> list[uuid.UUID]:
    """DUPLICATE leads received since their line's time in ``since_by_line`` (every line's) whose
    original no longer counts as one, oldest first. An erased duplicate stays as it is: nobody may
    be offered it."""
    original = aliased(Lead)
    received_within = [and_(Lead.line == line, Lead.received_at >= since) for line, since in since_by_line.items()]
    query = (
        select(Lead.id)
        .join(original, original.id == Lead.duplicate_of_id)
        .where(
            Lead.status == LeadStatus.DUPLICATE,
            # The earliest bounds the scan of ix_leads_status_received_at; each line's is then checked.
            Lead.received_at >= min(since_by_line.values()),
            or_(*received_within),
            Lead.anonymised_at.is_(None),
            not_(counts_as_original(original)),
        )
        .order_by(Lead.received_at, Lead.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


# The offers an agent accepted: still held, or returned since.
_TAKEN = select(Assignment.status, Assignment.outcome).where(
    Assignment.lead_id == bindparam("lead_id"),
    Assignment.status.in_([AssignmentStatus.ACCEPTED, AssignmentStatus.RETURNED]),
)


async def taken_offers(session: AsyncSession, lead_id: uuid.UUID) -> list[tuple[AssignmentStatus, LeadStatus | None]]:
    """Each accepted offer of the lead (returned ones too): its status and the outcome its agent
    recorded, read as columns so the session's copies of the offers cannot be stale."""
    rows = await session.execute(_TAKEN, {"lead_id": lead_id})
    return [(AssignmentStatus(status), LeadStatus(outcome) if outcome else None) for status, outcome in rows]


async def credited_agent(session: AsyncSession, lead_id: uuid.UUID) -> uuid.UUID | None:
    """The agent search and best match credit the lead to: the one who converted it (on a shared
    lead, the first of its agents to), else the agent of its latest round (``current_assignment``)."""
    converted = (
        select(Assignment.agent_id)
        .where(Assignment.lead_id == lead_id, Assignment.outcome == LeadStatus.CONVERTED)
        .order_by(Assignment.outcome_at, Assignment.slot)
        .limit(1)
    )
    if (agent_id := await session.scalar(converted)) is not None:
        return agent_id
    current = await current_assignment(session, lead_id)
    return current[0].agent_id if current else None


async def current_assignment(
    session: AsyncSession, lead_id: uuid.UUID, agent_id: uuid.UUID | None = None
) -> tuple[Assignment, Agent] | None:
    """The lead's offer of its latest round (of ``agent_id``'s, when given): on a shared lead the
    accepted one first, then by slot."""
    query = select(Assignment, Agent).join(Agent, Agent.id == Assignment.agent_id).where(Assignment.lead_id == lead_id)
    if agent_id is not None:
        query = query.where(Assignment.agent_id == agent_id)
    accepted_first = (Assignment.status == AssignmentStatus.ACCEPTED).desc()
    row = (
        await session.execute(query.order_by(Assignment.attempt.desc(), accepted_first, Assignment.slot).limit(1))
    ).first()
    return (row[0], row[1]) if row else None


async def listing(
    session: AsyncSession, agent_id: uuid.UUID | None, status: LeadStatus | None, limit: int, offset: int
) -> list[Lead]:
    query = select(Lead).order_by(Lead.received_at.desc(), Lead.id.desc()).limit(limit).offset(offset)
    if agent_id is not None:
        query = query.where(Lead.id.in_(select(Assignment.lead_id).where(_read_by(agent_id))))
    if status is not None:
        query = query.where(Lead.status == status)
    return list(await session.scalars(query))


async def not_anonymised(session: AsyncSession, lead_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of the leads that exist and are not anonymised, in one query. The vector and graph
    stores forget an erased lead after the erasure commits (``lead.erased`` in the outbox), so
    what they answer is checked here first."""
    if not lead_ids:
        return set()
    return set(await session.scalars(select(Lead.id).where(Lead.id.in_(lead_ids), Lead.anonymised_at.is_(None))))


async def offered_to(session: AsyncSession, lead_id: uuid.UUID, agent_id: uuid.UUID) -> bool:
    """Whether the agent may read the lead: an offer of theirs is open or was taken."""
    found = await session.scalar(
        select(Assignment.id).where(_read_by(agent_id), Assignment.lead_id == lead_id).limit(1)
    )
    return found is not None


def _read_by(agent_id: uuid.UUID) -> ColumnElement[bool]:
    return and_(Assignment.agent_id == agent_id, Assignment.status.in_(list(AGENT_READS_WITH)))

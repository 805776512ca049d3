"""What routing reads about agents and writes about offers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import ScalarSelect, Select, and_, bindparam, exists, func, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.db import InList
from leadgen.core.settings import Settings
from leadgen.leads import repository as leads
from leadgen.leads.lifecycle import OPEN_ASSIGNMENT, OPEN_LEAD_STATUSES, AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, Lead, Licence, RoutingPolicy, Shift
from leadgen.models.base import UTCDateTime
from leadgen.routing.policy import Policy, specificity
from leadgen.routing.rules import Candidate, LicenceFact, ShiftWindow
from leadgen.routing.strategies import Strategy


def _open_count() -> ScalarSelect[int]:
    """Per agent row: offers still open on leads still being worked, by the agent itself for the
    leads it accepted (another taker of a shared lead may have converted or lost it)."""
    return (
        select(func.count())
        .select_from(Assignment)
        .join(Lead, Lead.id == Assignment.lead_id)
        .where(
            Assignment.agent_id == Agent.id,
            Assignment.status.in_(list(OPEN_ASSIGNMENT)),
            # An accepted offer is closed when its agent converts or loses the lead: then it leaves
            # the partial index too.
            Assignment.closed_at.is_(None),
            or_(Assignment.status == AssignmentStatus.ACCEPTED, Lead.status.in_(OPEN_LEAD_STATUSES)),
        )
        .correlate(Agent)
        .scalar_subquery()
    )


# Routing runs these for every lead; built once, they cost only their parameters per call.
_AGENT_COLUMNS = select(
    Agent.id,
    Agent.name,
    Agent.active,
    Agent.timezone,
    Agent.daily_cap,
    Agent.open_cap,
    Agent.last_assigned_at,
    Agent.weight,
    _open_count().label("open_leads"),
    # The latest expiry of the agent's licences for the lead's state and line, if any.
    select(func.max(Licence.expires_on))
    .where(Licence.agent_id == Agent.id, Licence.state == bindparam("state"), Licence.line == bindparam("line"))
    .correlate(Agent)
    .scalar_subquery()
    .label("licence_expires_on"),
    exists()
    .where(Assignment.agent_id == Agent.id, Assignment.lead_id == bindparam("lead_id"))
    .correlate(Agent)
    .label("already_offered"),
)
_AGENT_FACTS = _AGENT_COLUMNS.where(InList(Agent.id, "ids")).order_by(Agent.id)
_SHIFTS = select(Shift.agent_id, Shift.weekday, Shift.starts_at, Shift.ends_at).where(
    InList(Shift.agent_id, "ids"), InList(Shift.weekday, "weekdays")
)
# FOR NO KEY UPDATE, the lock of an update that keeps the key (routing's of last_assigned_at): it
# waits for other routings and for admins' changes (FOR UPDATE), not for a row being written about
# the agent elsewhere (a notification, whose foreign key share-locks the agent's row).
_AGENT_ROW = select(Agent.id).where(Agent.id == bindparam("agent_id"))
_LOCK_AGENT = _AGENT_ROW.with_for_update(key_share=True)
_LOCK_AGENT_UNLESS_HELD = _AGENT_ROW.with_for_update(key_share=True, skip_locked=True)


async def candidates(session: AsyncSession, lead: Lead, now: datetime, agent_ids: list[uuid.UUID]) -> list[Candidate]:
    """The given agents as routing sees them: licences, shifts and current load.

    Plain rows, not ORM objects: an agency's agents have dozens of shifts and licences, and this
    runs for every lead.
    """
    if not agent_ids:
        return []
    params = {"ids": agent_ids, "state": lead.state, "line": lead.line, "lead_id": lead.id}
    agents = (await session.execute(_AGENT_FACTS, params)).all()
    if not agents:
        return []
    ids = [a.id for a in agents]
    shifts_of: dict[uuid.UUID, list[ShiftWindow]] = {}
    shift_params = {"ids": ids, "weekdays": _shift_days({a.timezone for a in agents}, now)}
    for agent_id, weekday, starts_at, ends_at in await session.execute(_SHIFTS, shift_params):
        shifts_of.setdefault(agent_id, []).append(ShiftWindow(weekday, starts_at, ends_at))
    today = await _offers_today(session, {a.id: a.timezone for a in agents}, now)
    return [
        Candidate(
            agent_id=a.id,
            name=a.name,
            active=a.active,
            timezone=a.timezone,
            licences=[LicenceFact(lead.state, lead.line, a.licence_expires_on)] if a.licence_expires_on else [],
            shifts=shifts_of.get(a.id, []),
            daily_cap=a.daily_cap,
            open_cap=a.open_cap,
            assigned_today=today.get(a.id, 0),
            open_leads=a.open_leads,
            last_assigned_at=a.last_assigned_at,
            weight=a.weight,
            already_offered=bool(a.already_offered),
        )
        for a in agents
    ]


async def locked_candidate(
    session: AsyncSession, lead: Lead, now: datetime, as_read: Candidate, *, wait: bool
) -> Candidate | None:
    """The agent routing read as ``as_read``, as routing sees it, read again with its row locked, so
    that concurrent routing cannot exceed a cap and an admin's change committed since the first read
    counts: a licence removed, a shift or a cap changed, a deactivation, other leads offered to the
    agent meanwhile.

    Without ``wait``, an agent whose row another transaction holds is not waited for (SKIP LOCKED):
    None then, as for an agent deleted. SQLite has no row locks: the routing's transaction holds the
    database's write lock from the lead's lock on, so no other routing holds the agent."""
    agent_id = as_read.agent_id
    if await session.scalar(_LOCK_AGENT if wait else _LOCK_AGENT_UNLESS_HELD, {"agent_id": agent_id}) is None:
        return None
    # Statements of their own, after the lock: PostgreSQL evaluates a statement's subqueries on the
    # snapshot it took before waiting for the lock, which would miss the offers just committed.
    # One statement while the agent keeps the time zone it was read with, which tells which days'
    # shifts and which offers of today to read; an agent whose zone changed meanwhile is read as
    # ``candidates`` reads any.
    params = {
        "agent_id": agent_id,
        "state": lead.state,
        "line": lead.line,
        "lead_id": lead.id,
        "weekdays": _shift_days({as_read.timezone}, now),
        "since": _local_midnight(as_read.timezone, now),
    }
    rows = (await session.execute(_AGENT_WITH_SHIFTS_AND_TODAY, params)).all()
    if not rows:
        return None
    a = rows[0]
    if a.timezone != as_read.timezone:
        found = await candidates(session, lead, now, [agent_id])
        return found[0] if found else None
    return Candidate(
        agent_id=a.id,
        name=a.name,
        active=a.active,
        timezone=a.timezone,
        licences=[LicenceFact(lead.state, lead.line, a.licence_expires_on)] if a.licence_expires_on else [],
        shifts=[ShiftWindow(r.weekday, r.starts_at, r.ends_at) for r in rows if r.weekday is not None],
        daily_cap=a.daily_cap,
        open_cap=a.open_cap,
        assigned_today=a.assigned_today,
        open_leads=a.open_leads,
        last_assigned_at=a.last_assigned_at,
        weight=a.weight,
        already_offered=bool(a.already_offered),
    )


# Never back: the routings' clocks (their hosts') need not agree, and a routing may be run for an
# instant ahead of the clock.
_MARK_ASSIGNED = (
    update(Agent)
    .where(
        Agent.id == bindparam("agent_id"),
        or_(Agent.last_assigned_at.is_(None), Agent.last_assigned_at < bindparam("assigned_at")),
    )
    .values(last_assigned_at=bindparam("assigned_at"))
    .execution_options(synchronize_session=False)
)


async def mark_assigned(session: AsyncSession, agent_id: uuid.UUID, now: datetime) -> None:
    """Round robin's clock: when the agent last got a lead (the later of ``now`` and the one stored)."""
    await session.execute(_MARK_ASSIGNED, {"agent_id": agent_id, "assigned_at": now})


# The daily cap is how many leads an agent is sent a day: every offer they could answer counts,
# whatever they made of it (accepted, declined, timed out, returned). An offer withdrawn before its
# deadline (the person opted out, another taker of a shared lead returned it, the agent was
# deactivated) was taken back before they could answer, and does not count; one withdrawn only once
# its deadline had passed counts, as the offer the SLA sweep would have timed out.
_SENT_FOR_AN_ANSWER = or_(
    Assignment.status != AssignmentStatus.WITHDRAWN, Assignment.responded_at > Assignment.expires_at
)


@cache
def _offers_today_query(zones: int) -> Select[uuid.UUID, int]:
    """Offers since local midnight that count toward the daily cap, per agent, for agents in
    ``zones`` time zones."""
    since_midnight = [
        and_(
            InList(Assignment.agent_id, f"ids{n}"),
            Assignment.created_at >= bindparam(f"since{n}", type_=UTCDateTime()),
        )
        for n in range(zones)
    ]
    query = select(Assignment.agent_id, func.count()).where(or_(*since_midnight), _SENT_FOR_AN_ANSWER)
    return query.group_by(Assignment.agent_id)


# One agent under its lock, with its shifts of the days given and its offers since the midnight
# given that count toward the daily cap: one row per such shift (one with no shift columns when it
# has none), as ``candidates`` reads them in three statements.
_AGENT_WITH_SHIFTS_AND_TODAY = (
    _AGENT_COLUMNS.add_columns(
        select(func.count())
        .select_from(Assignment)
        .where(
            Assignment.agent_id == Agent.id,
            Assignment.created_at >= bindparam("since", type_=UTCDateTime()),
            _SENT_FOR_AN_ANSWER,
        )
        .correlate(Agent)
        .scalar_subquery()
        .label("assigned_today"),
        Shift.weekday,
        Shift.starts_at,
        Shift.ends_at,
    )
    .outerjoin(Shift, and_(Shift.agent_id == Agent.id, InList(Shift.weekday, "weekdays")))
    .where(Agent.id == bindparam("agent_id"))
)


async def _offers_today(session: AsyncSession, agents: dict[uuid.UUID, str], now: datetime) -> dict[uuid.UUID, int]:
    """Offers each agent got since midnight in the agent's own time zone that count toward the
    daily cap (``_SENT_FOR_AN_ANSWER``), counted by the database."""
    by_zone: dict[str, list[uuid.UUID]] = {}
    for agent_id, timezone in agents.items():
        by_zone.setdefault(timezone, []).append(agent_id)
    params: dict[str, object] = {}
    for n, (zone, ids) in enumerate(by_zone.items()):
        params[f"ids{n}"], params[f"since{n}"] = ids, _local_midnight(zone, now)
    rows = await session.execute(_offers_today_query(len(by_zone)), params)
    return {agent_id: int(count) for agent_id, count in rows}


def _shift_days(timezones: set[str], now: datetime) -> list[int]:
    """The weekdays whose shifts can cover ``now`` for agents in these zones: each zone's local
    weekday, and the day before for overnight shifts that run past midnight."""
    days: set[int] = set()
    for timezone in timezones:
        weekday = now.astimezone(ZoneInfo(timezone)).weekday()
        days.update((weekday, (weekday - 1) % 7))
    return sorted(days)


def _local_midnight(timezone: str, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    return datetime.combine(local.date(), time(0), tzinfo=local.tzinfo).astimezone(UTC)


_LEAD_OF_OFFER = select(Assignment.lead_id).where(Assignment.id == bindparam("assignment_id"))
# Read afresh: a row this session loaded before the lock may have changed since.
_LOCK_OFFER = (
    select(Assignment)
    .where(Assignment.id == bindparam("assignment_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


async def assignment_with_lead(session: AsyncSession, assignment_id: uuid.UUID) -> tuple[Assignment, Lead] | None:
    """An offer and its lead; locked, the lead first and then the offer, the order every writer of
    offers keeps (an opt-out locks the person's leads, then withdraws their offers), so that an
    agent answering and an opt-out at the same moment cannot deadlock."""
    lead_id = await session.scalar(_LEAD_OF_OFFER, {"assignment_id": assignment_id})
    lead = await leads.get(session, lead_id, lock=True) if lead_id is not None else None
    offer = await session.scalar(_LOCK_OFFER, {"assignment_id": assignment_id}) if lead is not None else None
    return (offer, lead) if offer is not None and lead is not None else None


def _overdue_untried(now: datetime, limit: int) -> Select[uuid.UUID]:
    """Overdue offers the sweep never failed to time out, earliest deadline first."""
    return (
        select(Assignment.id)
        .where(
            Assignment.status == AssignmentStatus.PENDING,
            Assignment.expiry_failures == 0,
            Assignment.expires_at <= now,
        )
        .order_by(Assignment.expires_at)
        .limit(limit)
    )


def _overdue_retries(now: datetime, limit: int) -> Select[uuid.UUID]:
    """Offers the sweep failed to time out whose retry is due, the longest waiting first."""
    return (
        select(Assignment.id)
        .where(
            Assignment.status == AssignmentStatus.PENDING,
            Assignment.expiry_failures > 0,
            Assignment.expiry_retry_at <= now,
        )
        .order_by(Assignment.expiry_retry_at)
        .limit(limit)
    )


async def overdue(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    """Up to ``limit`` offers for the SLA sweep to time out: the overdue ones never tried first, then
    those whose failed try is due again; an offer failing again and again holds back no other."""
    untried = list(await session.scalars(_overdue_untried(now, limit)))
    if len(untried) == limit:
        return untried
    return untried + list(await session.scalars(_overdue_retries(now, limit - len(untried))))


async def pending_offer(session: AsyncSession, assignment_id: uuid.UUID) -> Assignment | None:
    """The offer, locked, if it is still pending; its lead is not locked (the caller changes the offer
    alone), so holding no other lock it cannot deadlock with writers that lock the lead first."""
    offer = await session.scalar(_LOCK_OFFER, {"assignment_id": assignment_id})
    return offer if offer is not None and offer.status == AssignmentStatus.PENDING else None


async def pending_offers(session: AsyncSession, lead_id: uuid.UUID) -> list[Assignment]:
    """The lead's offers not answered yet, locked against an agent answering at the same moment."""
    query = select(Assignment).where(Assignment.lead_id == lead_id, Assignment.status == AssignmentStatus.PENDING)
    locked = query.order_by(Assignment.slot).with_for_update().execution_options(populate_existing=True)
    return list(await session.scalars(locked))


# An offer still in the agent's hands: not answered yet, or accepted and not closed by the agent's
# own conversion or loss (a PENDING offer is never closed). The partial index of unclosed offers
# by agent and status holds exactly these.
_CURRENT = and_(Assignment.status.in_(list(OPEN_ASSIGNMENT)), Assignment.closed_at.is_(None))
_INBOX = select(Assignment, Lead).join(Lead, Lead.id == Assignment.lead_id)
_NEWEST_FIRST = (Assignment.created_at.desc(), Assignment.id.desc())
# Where an offer stands in the agent's inbox (newest first): the cursor of a page of past offers.
InboxPosition = tuple[datetime, uuid.UUID]


async def current_offers(session: AsyncSession, agent_id: uuid.UUID) -> list[tuple[Assignment, Lead]]:
    """The agent's offers not answered yet and the leads it accepted and is still working, newest
    first, however old: the agent's open-lead cap keeps them few."""
    rows = await session.execute(_INBOX.where(Assignment.agent_id == agent_id, _CURRENT).order_by(*_NEWEST_FIRST))
    return [(a, lead) for a, lead in rows]


async def past_offers(
    session: AsyncSession, agent_id: uuid.UUID, limit: int, before: InboxPosition | None = None
) -> list[tuple[Assignment, Lead]]:
    """Up to ``limit`` of the agent's other offers (declined, timed out, withdrawn, returned, or
    accepted and since converted or lost), newest first; only those older than ``before`` if given.

    Paged by position rather than by offset: an offer timing out between two pages joins the past
    ones at its own place and moves no other across a page boundary."""
    query = _INBOX.where(Assignment.agent_id == agent_id, ~_CURRENT)
    if before is not None:
        query = query.where(tuple_(Assignment.created_at, Assignment.id) < before)
    rows = await session.execute(query.order_by(*_NEWEST_FIRST).limit(limit))
    return [(a, lead) for a, lead in rows]


async def inbox_position(session: AsyncSession, agent_id: uuid.UUID, assignment_id: uuid.UUID) -> InboxPosition | None:
    """Where the agent's offer stands in its inbox; None when it is no offer of the agent's."""
    query = select(Assignment.created_at, Assignment.id).where(
        Assignment.id == assignment_id, Assignment.agent_id == agent_id
    )
    found = (await session.execute(query)).first()
    return None if found is None else (found.created_at, found.id)


# Newest first: of two policies for one source and campaign (written at once before policy writes
# were serialised), routing and the next write both take the newer.
_POLICIES = (
    select(RoutingPolicy)
    .where(
        or_(RoutingPolicy.source_id.is_(None), RoutingPolicy.source_id == bindparam("source_id")),
        or_(RoutingPolicy.campaign.is_(None), RoutingPolicy.campaign == bindparam("campaign")),
    )
    .order_by(RoutingPolicy.created_at.desc(), RoutingPolicy.id.desc())
)
# Serialises policy writes on PostgreSQL, where two writers of a new policy lock no row (a unique
# constraint over a nullable source or campaign does not stop the second); 7245001 is migrate's.
_POLICY_WRITES_LOCK = text("SELECT pg_advisory_xact_lock(7245002)")


async def policies_of_scope(
    session: AsyncSession, source_id: uuid.UUID | None, campaign: str | None
) -> list[RoutingPolicy]:
    """The policies for exactly this source and campaign (None: every one), newest first, with every
    other writer of policies held off until this transaction ends (on SQLite, the write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_POLICY_WRITES_LOCK)
    query = (
        select(RoutingPolicy)
        .where(
            RoutingPolicy.source_id.is_(None) if source_id is None else RoutingPolicy.source_id == source_id,
            RoutingPolicy.campaign.is_(None) if campaign is None else RoutingPolicy.campaign == campaign,
        )
        .order_by(RoutingPolicy.created_at.desc(), RoutingPolicy.id.desc())
        .with_for_update()
    )
    return list(await session.scalars(query))


async def policy_for_removal(session: AsyncSession, policy_id: uuid.UUID) -> RoutingPolicy | None:
    """The policy, with every other writer of policies held off as ``policies_of_scope`` holds them."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_POLICY_WRITES_LOCK)
    return await session.scalar(select(RoutingPolicy).where(RoutingPolicy.id == policy_id).with_for_update())


async def policy_for(session: AsyncSession, source_id: uuid.UUID, campaign: str | None, settings: Settings) -> Policy:
    rows = await session.scalars(_POLICIES, {"source_id": source_id, "campaign": campaign})
    best = max(rows, key=lambda p: specificity(p.source_id, p.campaign), default=None)
    return Policy(
        strategy=Strategy(best.strategy) if best else Strategy.ROUND_ROBIN,
        max_agents=best.max_agents if best else 1,
        sla_minutes=best.sla_minutes if best and best.sla_minutes else settings.routing.sla_minutes,
        max_attempts=best.max_attempts if best and best.max_attempts else settings.routing.max_attempts,
    )


_FINAL_OUTCOMES = (LeadStatus.CONVERTED, LeadStatus.LOST)


async def outcome_counts(session: AsyncSession, ids: list[uuid.UUID], line: str) -> dict[uuid.UUID, tuple[int, int]]:
    """Per agent: (converted, finished) leads of this line, for the conversion rate. Finished: the
    agent accepted the lead and recorded it converted or lost; a lead still being worked is neither
    a sale nor a loss yet. Each agent's own outcome (a shared lead another taker converted is not
    the agent's conversion)."""
    if not ids:
        return {}
    converted = func.count().filter(Assignment.outcome == LeadStatus.CONVERTED)
    rows = await session.execute(
        select(Assignment.agent_id, func.count(), converted)
        .join(Lead, Lead.id == Assignment.lead_id)
        .where(
            Assignment.agent_id.in_(ids),
            Assignment.status == AssignmentStatus.ACCEPTED,
            Assignment.outcome.in_(_FINAL_OUTCOMES),
            Lead.line == line,
        )
        .group_by(Assignment.agent_id)
    )
    return {agent: (int(conv or 0), int(total)) for agent, total, conv in rows}


async def round_still_open(session: AsyncSession, lead_id: uuid.UUID, attempt: int) -> bool:
    """Whether another offer of this round is pending or was accepted (shared leads)."""
    found = await session.scalar(
        select(Assignment.id)
        .where(
            and_(Assignment.lead_id == lead_id, Assignment.attempt == attempt),
            Assignment.status.in_(list(OPEN_ASSIGNMENT)),
        )
        .limit(1)
    )
    return found is not None


async def answerable_rounds(session: AsyncSession, lead_id: uuid.UUID, after_attempt: int) -> int:
    """How many of the lead's rounds after round ``after_attempt`` offered it to an agent who could
    answer (``_SENT_FOR_AN_ANSWER``): not those whose every offer was withdrawn before its deadline."""
    query = select(func.count(func.distinct(Assignment.attempt))).where(
        Assignment.lead_id == lead_id, Assignment.attempt > after_attempt, _SENT_FOR_AN_ANSWER
    )
    return int(await session.scalar(query) or 0)


async def licensed_lines(
    session: AsyncSession, ids: list[uuid.UUID], state: str, on: date
) -> dict[uuid.UUID, list[str]]:
    """Every line each agent holds a licence for in ``state`` that holds on ``on`` (the state's
    ``licence_day``): best match's line fit, for a lead of that state."""
    query = select(Licence.agent_id, Licence.line).where(
        Licence.agent_id.in_(ids), Licence.state == state, Licence.expires_on >= on
    )
    rows = await session.execute(query.distinct())
    out: dict[uuid.UUID, list[str]] = {}
    for agent_id, line in rows:
        out.setdefault(agent_id, []).append(line)
    return out


async def owners(session: AsyncSession, lead_id: uuid.UUID) -> list[Agent]:
    """The active agents who accepted the lead and still hold it (a returned offer is not ACCEPTED),
    in the order they accepted it: the person's agents when the person asks again."""
    query = (
        select(Agent)
        .join(Assignment, Assignment.agent_id == Agent.id)
        .where(
            Assignment.lead_id == lead_id,
            Assignment.status == AssignmentStatus.ACCEPTED,
            Agent.active.is_(True),
        )
        .order_by(Assignment.responded_at, Agent.id)
    )
    return list(await session.scalars(query))


async def agent_is_active(session: AsyncSession, agent_id: uuid.UUID) -> bool:
    """Whether the agent may take leads, as committed now (not as this session first read the agent)."""
    return bool(await session.scalar(select(Agent.active).where(Agent.id == agent_id)))


@dataclass(frozen=True)
class PendingOffer:
    """An offer not answered yet, with the latest expiry of its agent's licences for its lead's
    state and line (None: the agent holds none)."""

    id: uuid.UUID
    state: str
    licence_expires_on: date | None


_PENDING_OF_AGENT = (
    select(
        Assignment.id,
        Lead.state,
        select(func.max(Licence.expires_on))
        .where(Licence.agent_id == Assignment.agent_id, Licence.state == Lead.state, Licence.line == Lead.line)
        .correlate(Assignment, Lead)
        .scalar_subquery()
        .label("licence_expires_on"),
    )
    .join(Lead, Lead.id == Assignment.lead_id)
    .where(Assignment.agent_id == bindparam("agent_id"), Assignment.status == AssignmentStatus.PENDING)
    .order_by(Assignment.created_at, Assignment.id)
)


async def pending_offers_of_agent(session: AsyncSession, agent_id: uuid.UUID) -> list[PendingOffer]:
    """The agent's offers not answered yet; not locked here, as offers are locked after their lead."""
    rows = await session.execute(_PENDING_OF_AGENT, {"agent_id": agent_id})
    return [PendingOffer(row.id, row.state, row.licence_expires_on) for row in rows]


async def licence_expiry(session: AsyncSession, agent_id: uuid.UUID, state: str, line: str) -> date | None:
    """The latest expiry of the agent's licences for the state and line, as committed now; None: none."""
    query = select(func.max(Licence.expires_on)).where(
        Licence.agent_id == agent_id, Licence.state == state, Licence.line == line
    )
    expires_on: date | None = await session.scalar(query)
    return expires_on

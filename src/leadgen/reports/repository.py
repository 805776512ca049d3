"""The reports' queries: counts and sums in the database, what needs each lead's story in Python."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Row, Select, SQLColumnExpression, Subquery, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance.rules import OPTED_OUT_EVENT
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, Lead, LeadEvent, Source
from leadgen.models.base import utcnow
from leadgen.reports.rules import NOT_BILLED, SCREENED_OUT, Grouping, Performance

AnySelect = Select[*tuple[Any, ...]]
ACCEPTED_OFFERS = (AssignmentStatus.ACCEPTED, AssignmentStatus.RETURNED)
CONTACTED = f"lead.{LeadStatus.CONTACTED.lower()}"  # recorded before QUOTED, so the first contact
CONVERTED = f"lead.{LeadStatus.CONVERTED.lower()}"
_LEAD_KEYS: dict[str, SQLColumnExpression[Any]] = {
    "source": Source.name,
    # A blank campaign, as intake stored it before it took blank for none, is none.
    "campaign": func.nullif(Lead.campaign, ""),
    "line": Lead.line,
}


def _received(since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(Lead.received_at >= since, Lead.received_at < until, Lead.is_test.is_(False))


def _sla_breached(now: datetime) -> ColumnElement[bool]:
    """An offer whose deadline passed unanswered: timed out by the sweep, still pending past it (the
    sweep has not come by yet), or withdrawn after it (its agent deactivated, the person opted out or
    erased, before the sweep timed it out)."""
    return or_(
        Assignment.status == AssignmentStatus.TIMED_OUT,
        and_(Assignment.status == AssignmentStatus.PENDING, Assignment.expires_at < now),
        and_(Assignment.status == AssignmentStatus.WITHDRAWN, Assignment.expires_at < Assignment.responded_at),
    )


def _period_leads(since: datetime, until: datetime) -> Select[Any]:
    return select(Lead.id).where(_received(since, until))


async def performance(session: AsyncSession, by: Grouping, since: datetime, until: datetime) -> list[Performance]:
    """Every group's figures for the leads received from ``since`` up to ``until`` (test leads left
    out), in the order of their keys (the leads without a campaign first)."""
    groups = await (_by_agent(session, since, until) if by == "agent" else _by_lead(session, by, since, until))
    return sorted(groups, key=lambda group: (group.key is not None, group.key or "", group.agent_id or ""))


async def _by_lead(session: AsyncSession, by: Grouping, since: datetime, until: datetime) -> list[Performance]:
    """Per source, campaign or line: each lead once, at the price it was bought at, its first contact
    by whoever made it, timed from its arrival (speed to lead). The contacted leads are read once,
    for their times, and counted from those."""
    key = _LEAD_KEYS[by]
    in_period = _period_leads(since, until)
    first_contact = (
        select(LeadEvent.lead_id, func.min(LeadEvent.created_at).label("at"))
        .where(LeadEvent.name == CONTACTED, LeadEvent.lead_id.in_(in_period))
        .group_by(LeadEvent.lead_id)
        .subquery()
    )
    offers = _offers_per_lead(in_period)
    opted_out = (
        select(LeadEvent.lead_id).where(LeadEvent.name == OPTED_OUT_EVENT, LeadEvent.lead_id.in_(in_period)).distinct()
    ).subquery()
    billed = Lead.status.not_in(NOT_BILLED)
    figures = (
        select(
            key.label("key"),
            func.count().label("leads"),
            func.count().filter(Lead.status.in_(SCREENED_OUT)).label("screened_out"),
            func.count().filter(Lead.status == LeadStatus.UNASSIGNED).label("unassigned"),
            func.count(opted_out.c.lead_id).label("opted_out"),
            func.count().filter(offers.c.accepted > 0).label("accepted"),
            func.count().filter(Lead.status == LeadStatus.CONVERTED).label("converted"),
            func.count().filter(Lead.status == LeadStatus.RETURNED).label("returned"),
            func.coalesce(func.sum(offers.c.sla_breaches), 0).label("sla_breaches"),
            func.count().filter(billed).label("billed"),
            func.coalesce(func.sum(Lead.price_cents).filter(billed), 0).label("spend_cents"),
        )
        .select_from(Lead)
        .join(Source, Source.id == Lead.source_id)
        .outerjoin(offers, offers.c.lead_id == Lead.id)
        .outerjoin(opted_out, opted_out.c.lead_id == Lead.id)
        .where(_received(since, until))
        .group_by(key)
    )
    contact_times = (
        select(key, Lead.received_at, first_contact.c.at)
        .select_from(Lead)
        .join(Source, Source.id == Lead.source_id)
        .join(first_contact, first_contact.c.lead_id == Lead.id)
    )
    minutes: defaultdict[str | None, list[float]] = defaultdict(list)
    for group, received_at, contacted_at in await session.execute(contact_times):
        minutes[group].append(_minutes(received_at, contacted_at))
    return [
        Performance(
            key=row.key,
            contacted=len(minutes[row.key]),
            minutes_to_contact=tuple(minutes[row.key]),
            **_counts(row, "key"),
        )
        for row in await session.execute(figures)
    ]


async def _by_agent(session: AsyncSession, since: datetime, until: datetime) -> list[Performance]:
    """Per agent with an offer in the period: its own offers, the contacts and conversions it
    recorded itself (a shared lead may have several agents, each with their own outcomes), its
    first contact timed from its acceptance, and its share of what the leads it kept were bought at.

    Billing: an agent is billed for a lead it kept (its offer still ACCEPTED, whatever it recorded
    since) when the agency pays for the lead, and a shared lead's price is split evenly between the
    agents who kept it, in whole cents: the cents left over go one each to the agents offered it
    first. An agent who returned a shared lead pays nothing for it; the others keep paying the whole
    price between them, as the source is paid for the lead until every taker returned it
    (``lifecycle.lead_status_of_takers``), so the agents' shares add up to what the report by source
    bills, to the cent."""
    in_period = _period_leads(since, until)
    offers = _offers_per_lead(in_period)
    places = _places_among_keepers(in_period)
    accepted = Assignment.status.in_(ACCEPTED_OFFERS)
    billed = and_(Assignment.status == AssignmentStatus.ACCEPTED, Lead.status.not_in(NOT_BILLED))
    keepers = func.nullif(offers.c.kept, 0, type_=Integer)  # typed: `//` stays integer division
    left_over = Lead.price_cents % keepers
    share = Lead.price_cents // keepers + case((places.c.place <= left_over, 1), else_=0)
    figures = (
        select(
            Agent.id,
            Agent.name,
            func.count().label("leads"),
            func.count().filter(accepted).label("accepted"),
            func.count().filter(Assignment.status == AssignmentStatus.RETURNED).label("returned"),
            func.count().filter(_sla_breached(utcnow())).label("sla_breaches"),
            func.count().filter(billed).label("billed"),
            func.coalesce(func.sum(share).filter(billed), 0).label("spend_cents"),
        )
        .select_from(Assignment)
        .join(Agent, Agent.id == Assignment.agent_id)
        .join(Lead, Lead.id == Assignment.lead_id)
        .join(offers, offers.c.lead_id == Lead.id)
        .outerjoin(places, places.c.id == Assignment.id)
        .where(_received(since, until))
        .group_by(Agent.id, Agent.name)
    )
    # Who recorded what, from the events (they keep the agent's id as text): each agent's first
    # contact and conversion of each lead.
    contacted_at: dict[tuple[str, str], datetime] = {}
    converted: set[tuple[str, str]] = set()
    events = select(LeadEvent.lead_id, LeadEvent.name, LeadEvent.data, LeadEvent.created_at).where(
        LeadEvent.name.in_((CONTACTED, CONVERTED)), LeadEvent.lead_id.in_(in_period)
    )
    for lead_id, name, data, at in await session.execute(events):
        recorded_by = (str(lead_id), str(data.get("agent_id")))
        if name == CONVERTED:
            converted.add(recorded_by)
        elif recorded_by not in contacted_at or at < contacted_at[recorded_by]:
            contacted_at[recorded_by] = at
    taken = select(Assignment.agent_id, Assignment.lead_id, Assignment.responded_at).where(
        accepted, Assignment.lead_id.in_(in_period)
    )
    contacts: defaultdict[str, int] = defaultdict(int)
    conversions: defaultdict[str, int] = defaultdict(int)
    minutes: defaultdict[str, list[float]] = defaultdict(list)
    for agent_id, lead_id, responded_at in await session.execute(taken):
        mine, agent = (str(lead_id), str(agent_id)), str(agent_id)
        if mine in contacted_at:
            contacts[agent] += 1
            if responded_at is not None:
                minutes[agent].append(_minutes(responded_at, contacted_at[mine]))
        conversions[agent] += mine in converted
    return [
        Performance(
            key=row.name,
            agent_id=str(row.id),
            contacted=contacts[str(row.id)],
            converted=conversions[str(row.id)],
            minutes_to_contact=tuple(minutes[str(row.id)]),
            **_counts(row, "id", "name"),
        )
        for row in await session.execute(figures)
    ]


def _offers_per_lead(in_period: Select[Any]) -> Subquery:
    """Each lead's offers left past their deadline (SLA breaches), offers accepted, and those of them kept
    (accepted and not returned since)."""
    return (
        select(
            Assignment.lead_id,
            func.count().filter(_sla_breached(utcnow())).label("sla_breaches"),
            func.count().filter(Assignment.status.in_(ACCEPTED_OFFERS)).label("accepted"),
            func.count().filter(Assignment.status == AssignmentStatus.ACCEPTED).label("kept"),
        )
        .where(Assignment.lead_id.in_(in_period))
        .group_by(Assignment.lead_id)
        .subquery()
    )


def _places_among_keepers(in_period: Select[Any]) -> Subquery:
    """Each kept offer's place among its lead's kept offers (1 for the first), in the order they
    went out: by round, then slot (one offer each per lead)."""
    place = func.row_number().over(partition_by=Assignment.lead_id, order_by=(Assignment.attempt, Assignment.slot))
    return (
        select(Assignment.id, place.label("place"))
        .where(Assignment.status == AssignmentStatus.ACCEPTED, Assignment.lead_id.in_(in_period))
        .subquery()
    )


def _counts(row: Row[*tuple[Any, ...]], *besides: str) -> dict[str, Any]:
    """The row's counts and sums as whole numbers (PostgreSQL sums to numeric)."""
    return {name: round(value) for name, value in row._mapping.items() if name not in besides}


def _minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 60)


async def return_rates(session: AsyncSession) -> list[dict[str, Any]]:
    """Per source, over all time (test leads left out): offers accepted by agents, offers returned
    (per offer, unlike the performance report, which counts leads), the return rate and the reason
    given most often (of those given as often, the first in alphabetical order)."""
    per_reason = await session.execute(
        select(Source.name, Assignment.reason, func.count())
        .join(Lead, Lead.source_id == Source.id)
        .join(Assignment, Assignment.lead_id == Lead.id)
        .where(Assignment.status == AssignmentStatus.RETURNED, Lead.is_test.is_(False))
        .group_by(Source.name, Assignment.reason)
    )
    top: dict[str, tuple[int, str]] = {}
    for source, reason, count in per_reason:
        candidate = (-count, reason or "")
        top[source] = min(top.get(source, candidate), candidate)
    accepted = func.count().filter(Assignment.status.in_(ACCEPTED_OFFERS))
    returned = func.count().filter(Assignment.status == AssignmentStatus.RETURNED)
    rows = await session.execute(
        select(Source.name, accepted, returned)
        .join(Lead, Lead.source_id == Source.id)
        .join(Assignment, Assignment.lead_id == Lead.id)
        .where(Lead.is_test.is_(False))
        .group_by(Source.name)
        .order_by(Source.name)
    )
    return [
        {
            "source": name,
            "accepted": int(acc),
            "returned": int(ret),
            "return_rate": round(ret / acc, 4) if acc else 0.0,
            "top_reason": top[name][1] if name in top else None,
        }
        for name, acc, ret in rows
    ]

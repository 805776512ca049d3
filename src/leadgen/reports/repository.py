"""The reports' queries: counts and sums in the database, what needs each lead's story in Python."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    SQLColumnExpression,
    String,
    Subquery,
    and_,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance.repository import withdrawn_later
from leadgen.compliance.rules import LISTED_BY_THE_AGENCY, OPTED_OUT_EVENT
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, Lead, LeadEvent, Source
from leadgen.models.base import utcnow
from leadgen.reports.rules import NOT_BILLED, SCREENED_OUT, Grouping, Performance, SourceReturns

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
    sweep has not come by yet), or withdrawn after it (its agent deactivated or no longer licensed,
    the person opted out or erased, before the sweep timed it out)."""
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
    # Each lead of the period once, with its offers left past their deadline (SLA breaches) and
    # accepted: counted per lead, then per group.
    per_lead = (
        select(
            Lead.id,
            key.label("key"),
            Lead.status,
            Lead.price_cents,
            func.count(Assignment.id).filter(_sla_breached(utcnow())).label("sla_breaches"),
            func.count(Assignment.id).filter(Assignment.status.in_(ACCEPTED_OFFERS)).label("accepted"),
        )
        .select_from(Lead)
        .join(Source, Source.id == Lead.source_id)
        .outerjoin(Assignment, Assignment.lead_id == Lead.id)
        .where(_received(since, until))
        .group_by(Lead.id, key)
        .subquery()
    )
    opted_out = (
        select(LeadEvent.lead_id)
        .where(
            LeadEvent.name == OPTED_OUT_EVENT,
            LeadEvent.lead_id.in_(_period_leads(since, until)),
            # The agency's own list says nothing of how a source came by the lead, nor does a
            # listing an admin took back as a mistake (until the person opts out after it).
            func.coalesce(LeadEvent.data["via"].as_string(), "").not_in(LISTED_BY_THE_AGENCY),
            ~withdrawn_later(),
        )
        .distinct()
    ).subquery()
    billed = per_lead.c.status.not_in(NOT_BILLED)
    figures = (
        select(
            per_lead.c.key,
            func.count().label("leads"),
            func.count().filter(per_lead.c.status.in_(SCREENED_OUT)).label("screened_out"),
            func.count().filter(per_lead.c.status == LeadStatus.UNASSIGNED).label("unassigned"),
            func.count(opted_out.c.lead_id).label("opted_out"),
            func.count().filter(per_lead.c.accepted > 0).label("accepted"),
            func.count().filter(per_lead.c.status == LeadStatus.CONVERTED).label("converted"),
            func.count().filter(per_lead.c.status == LeadStatus.RETURNED).label("returned"),
            func.coalesce(func.sum(per_lead.c.sla_breaches), 0).label("sla_breaches"),
            func.count().filter(billed).label("billed"),
            func.coalesce(func.sum(per_lead.c.price_cents).filter(billed), 0).label("spend_cents"),
        )
        .select_from(per_lead)
        .outerjoin(opted_out, opted_out.c.lead_id == per_lead.c.id)
        .group_by(per_lead.c.key)
    )
    # Each contacted lead of the period: its first contact.
    contact_times = (
        select(key, Lead.received_at, func.min(LeadEvent.created_at))
        .select_from(Lead)
        .join(Source, Source.id == Lead.source_id)
        .join(LeadEvent, and_(LeadEvent.lead_id == Lead.id, LeadEvent.name == CONTACTED))
        .where(_received(since, until))
        .group_by(Lead.id, key, Lead.received_at)
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
    bills, to the cent.

    Each part is counted per agent by a statement of its own that reads only the rows it needs:
    one statement joining them all would carry every offer of the period through every join."""
    recorded = _recorded_by_agents(_period_leads(since, until))
    accepted = Assignment.status.in_(ACCEPTED_OFFERS)
    offers = (
        select(
            Agent.id,
            Agent.name,
            func.count().label("leads"),
            func.count().filter(accepted).label("accepted"),
            func.count().filter(Assignment.status == AssignmentStatus.RETURNED).label("returned"),
            func.count().filter(_sla_breached(utcnow())).label("sla_breaches"),
        )
        .select_from(Assignment)
        .join(Agent, Agent.id == Assignment.agent_id)
        .join(Lead, Lead.id == Assignment.lead_id)
        .where(_received(since, until))
        .group_by(Agent.id, Agent.name)
    )
    outcomes = (
        select(
            Assignment.agent_id,
            func.count(recorded.c.contacted_at).label("contacted"),
            func.count().filter(recorded.c.conversions > 0).label("converted"),
        )
        .join(recorded, _recorded_by(recorded, Assignment.lead_id, Assignment.agent_id))
        .where(accepted)
        .group_by(Assignment.agent_id)
    )
    shares = _billed_shares(since, until)
    billing = select(
        shares.c.agent_id, func.count().label("billed"), func.coalesce(func.sum(shares.c.share), 0).label("spend_cents")
    ).group_by(shares.c.agent_id)
    counted: defaultdict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("contacted", "converted", "billed", "spend_cents"), 0)
    )
    for per_agent in (outcomes, billing):
        for row in await session.execute(per_agent):
            counted[str(row.agent_id)].update(_counts(row, "agent_id"))
    # Each agent's minutes from accepting a lead to its own first contact: their median is the row's.
    contact_times = (
        select(Assignment.agent_id, Assignment.responded_at, recorded.c.contacted_at)
        .join(recorded, _recorded_by(recorded, Assignment.lead_id, Assignment.agent_id))
        .where(accepted, Assignment.responded_at.is_not(None), recorded.c.contacted_at.is_not(None))
    )
    minutes: defaultdict[str, list[float]] = defaultdict(list)
    for agent_id, responded_at, contacted_at in await session.execute(contact_times):
        minutes[str(agent_id)].append(_minutes(responded_at, contacted_at))
    return [
        Performance(
            key=row.name,
            agent_id=str(row.id),
            minutes_to_contact=tuple(minutes[str(row.id)]),
            **_counts(row, "id", "name"),
            **counted[str(row.id)],
        )
        for row in await session.execute(offers)
    ]


def _billed_shares(since: datetime, until: datetime) -> Subquery:
    """Each offer billed to its agent (kept, ACCEPTED, of a lead of the period the agency pays for)
    and the agent's share of its lead's price. The windows see only these offers, which is enough:
    a lead's kept offers are all billed or none is, as the agency pays for the lead or not.

    A keeper's place among its lead's keepers (1 for the first) is in the order the offers went
    out: by round, then slot (one offer each per lead)."""
    keepers = func.count().over(partition_by=Assignment.lead_id)
    place = func.row_number().over(partition_by=Assignment.lead_id, order_by=(Assignment.attempt, Assignment.slot))
    share = Lead.price_cents // keepers + case((place <= Lead.price_cents % keepers, 1), else_=0)
    return (
        select(Assignment.agent_id, share.label("share"))
        .join(Lead, Lead.id == Assignment.lead_id)
        .where(_received(since, until), Assignment.status == AssignmentStatus.ACCEPTED, Lead.status.not_in(NOT_BILLED))
        .subquery()
    )


def _recorded_by_agents(in_period: Select[Any]) -> Subquery:
    """Who recorded what, from the events (they keep the agent's id as text, ``str(uuid)``): per
    lead of the period and agent, their first contact (none if they recorded none) and their
    conversions."""
    agent = _hex(LeadEvent.data["agent_id"].as_string())
    return (
        select(
            LeadEvent.lead_id,
            agent.label("agent"),
            func.min(LeadEvent.created_at).filter(LeadEvent.name == CONTACTED).label("contacted_at"),
            func.count().filter(LeadEvent.name == CONVERTED).label("conversions"),
        )
        .where(LeadEvent.name.in_((CONTACTED, CONVERTED)), LeadEvent.lead_id.in_(in_period))
        .group_by(LeadEvent.lead_id, agent)  # the one selected: a copy's parameters would not match it
        .subquery()
    )


def _recorded_by(
    recorded: Subquery, lead_id: SQLColumnExpression[Any], agent_id: SQLColumnExpression[Any]
) -> ColumnElement[bool]:
    """The row of ``_recorded_by_agents`` of the lead and agent of an offer."""
    return and_(recorded.c.lead_id == lead_id, recorded.c.agent == _hex(cast(agent_id, String)))


def _hex(uuid_text: ColumnElement[Any]) -> ColumnElement[str]:
    """A UUID written as text, without its hyphens: ``str(uuid)`` has them, as PostgreSQL's uuid as
    text does, and SQLite keeps a UUID as 32 hex digits, so ids compare the same on both."""
    return func.replace(uuid_text, "-", "")


def _counts(row: Row[*tuple[Any, ...]], *besides: str) -> dict[str, Any]:
    """The row's counts and sums as whole numbers (PostgreSQL sums to numeric)."""
    return {name: round(value) for name, value in row._mapping.items() if name not in besides}


def _minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 60)


async def return_rates(session: AsyncSession, since: datetime, until: datetime) -> list[SourceReturns]:
    """Per source with a lead offered in the period (from ``since`` up to ``until``, test leads left
    out), in the order of their names: its leads some agent accepted and those credited (RETURNED:
    every agent who took it returned it), its offers accepted and returned, and the reason given
    most often for returning them."""
    per_reason = await session.execute(
        select(Source.name, Assignment.reason, func.count())
        .join(Lead, Lead.source_id == Source.id)
        .join(Assignment, Assignment.lead_id == Lead.id)
        .where(Assignment.status == AssignmentStatus.RETURNED, _received(since, until))
        .group_by(Source.name, Assignment.reason)
    )
    top: dict[str, tuple[int, str]] = {}
    for source, reason, count in per_reason:
        candidate = (-count, reason or "")
        top[source] = min(top.get(source, candidate), candidate)
    # Each offered lead of the period once, with its offers accepted and returned: counted per lead,
    # then per source.
    per_lead = (
        select(
            Source.name.label("source"),
            Lead.status,
            func.count().filter(Assignment.status.in_(ACCEPTED_OFFERS)).label("offers_accepted"),
            func.count().filter(Assignment.status == AssignmentStatus.RETURNED).label("offers_returned"),
        )
        .select_from(Lead)
        .join(Source, Source.id == Lead.source_id)
        .join(Assignment, Assignment.lead_id == Lead.id)
        .where(_received(since, until))
        .group_by(Lead.id, Source.name)
        .subquery()
    )
    rows = await session.execute(
        select(
            per_lead.c.source,
            func.count().filter(per_lead.c.offers_accepted > 0).label("leads_accepted"),
            func.count().filter(per_lead.c.status == LeadStatus.RETURNED).label("leads_credited"),
            func.sum(per_lead.c.offers_accepted).label("offers_accepted"),
            func.sum(per_lead.c.offers_returned).label("offers_returned"),
        )
        .group_by(per_lead.c.source)
        .order_by(per_lead.c.source)
    )
    return [
        SourceReturns(
            source=row.source,
            top_reason=top[row.source][1] if row.source in top else None,
            **_counts(row, "source"),
        )
        for row in rows
    ]

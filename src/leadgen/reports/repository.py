"""The performance report's queries: counts and sums in the database, one row per group."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, Lead, LeadEvent, Source
from leadgen.reports.rules import NO_CAMPAIGN, SCREENED_OUT, Grouping, Performance

ACCEPTED_OFFERS = (AssignmentStatus.ACCEPTED, AssignmentStatus.RETURNED)
# The first time the agent recorded reaching the person (CONTACTED comes before QUOTED).
_FIRST_CONTACT = (
    select(LeadEvent.lead_id, func.min(LeadEvent.created_at).label("at"))
    .where(LeadEvent.name == f"lead.{LeadStatus.CONTACTED.lower()}")
    .group_by(LeadEvent.lead_id)
    .subquery()
)
_OFFERS = (
    select(
        Assignment.lead_id,
        func.count().filter(Assignment.status == AssignmentStatus.TIMED_OUT).label("timed_out"),
        func.count().filter(Assignment.status.in_(ACCEPTED_OFFERS)).label("accepted"),
    )
    .group_by(Assignment.lead_id)
    .subquery()
)
AnySelect = Select[*tuple[Any, ...]]
_LEAD_KEYS: dict[str, SQLColumnExpression[Any]] = {
    "source": Source.name,
    "campaign": Lead.campaign,
    "line": Lead.line,
}


def _received(since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(Lead.received_at >= since, Lead.received_at < until, Lead.is_test.is_(False))


async def performance(session: AsyncSession, by: Grouping, since: datetime, until: datetime) -> list[Performance]:
    """Every group's figures for the leads received from ``since`` up to ``until`` (test leads left out)."""
    group: SQLColumnExpression[Any] = Agent.id if by == "agent" else _LEAD_KEYS[by]
    key: SQLColumnExpression[Any] = Agent.name if by == "agent" else group
    query = _by_agent(since, until) if by == "agent" else _by_lead(since, until)
    query = query.add_columns(group.label("group_id"), key.label("key")).group_by(group, key)
    minutes: defaultdict[Any, list[float]] = defaultdict(list)
    for group_id, received_at, contacted_at in await session.execute(_contact_times(by, group, since, until)):
        minutes[group_id].append(max(0.0, (contacted_at - received_at).total_seconds() / 60))
    reports = []
    for row in await session.execute(query):
        figures = {name: int(value) for name, value in row._mapping.items() if name not in ("group_id", "key")}
        contact_times = tuple(minutes[row.group_id])
        reports.append(Performance(key=row.key or NO_CAMPAIGN, minutes_to_contact=contact_times, **figures))
    return sorted(reports, key=lambda report: report.key)


def _by_lead(since: datetime, until: datetime) -> AnySelect:
    billed = Lead.status.not_in((*SCREENED_OUT, LeadStatus.RETURNED))
    return (
        select(
            func.count().label("leads"),
            func.count().filter(Lead.status.in_(SCREENED_OUT)).label("screened_out"),
            func.count().filter(Lead.status == LeadStatus.UNASSIGNED).label("unassigned"),
            func.count().filter(_OFFERS.c.accepted > 0).label("accepted"),
            func.count(_FIRST_CONTACT.c.lead_id).label("contacted"),
            func.count().filter(Lead.status == LeadStatus.CONVERTED).label("converted"),
            func.count().filter(Lead.status == LeadStatus.RETURNED).label("returned"),
            func.coalesce(func.sum(_OFFERS.c.timed_out), 0).label("sla_breaches"),
            func.count().filter(billed).label("billed"),
            func.coalesce(func.sum(Source.cost_per_lead_cents).filter(billed), 0).label("spend_cents"),
        )
        .select_from(Lead)
        .join(Source, Source.id == Lead.source_id)
        .outerjoin(_OFFERS, _OFFERS.c.lead_id == Lead.id)
        .outerjoin(_FIRST_CONTACT, _FIRST_CONTACT.c.lead_id == Lead.id)
        .where(_received(since, until))
    )


def _by_agent(since: datetime, until: datetime) -> AnySelect:
    accepted = Assignment.status.in_(ACCEPTED_OFFERS)
    billed = Assignment.status == AssignmentStatus.ACCEPTED
    return (
        select(
            func.count(Assignment.lead_id.distinct()).label("leads"),
            func.count().filter(accepted).label("accepted"),
            func.count().filter(accepted, _FIRST_CONTACT.c.lead_id.is_not(None)).label("contacted"),
            func.count().filter(accepted, Lead.status == LeadStatus.CONVERTED).label("converted"),
            func.count().filter(Assignment.status == AssignmentStatus.RETURNED).label("returned"),
            func.count().filter(Assignment.status == AssignmentStatus.TIMED_OUT).label("sla_breaches"),
            func.count().filter(billed).label("billed"),
            func.coalesce(func.sum(Source.cost_per_lead_cents).filter(billed), 0).label("spend_cents"),
        )
        .select_from(Assignment)
        .join(Agent, Agent.id == Assignment.agent_id)
        .join(Lead, Lead.id == Assignment.lead_id)
        .join(Source, Source.id == Lead.source_id)
        .outerjoin(_FIRST_CONTACT, _FIRST_CONTACT.c.lead_id == Lead.id)
        .where(_received(since, until))
    )


def _contact_times(by: Grouping, group: SQLColumnExpression[Any], since: datetime, until: datetime) -> AnySelect:
    """Each contacted lead's group, received time and first contact (by agent: the agent's own leads)."""
    query = select(group, Lead.received_at, _FIRST_CONTACT.c.at)
    if by == "agent":
        query = query.select_from(Assignment).join(Agent, Agent.id == Assignment.agent_id)
        query = query.join(Lead, Lead.id == Assignment.lead_id).where(Assignment.status.in_(ACCEPTED_OFFERS))
    else:
        query = query.select_from(Lead).join(Source, Source.id == Lead.source_id)
    return query.join(_FIRST_CONTACT, _FIRST_CONTACT.c.lead_id == Lead.id).where(_received(since, until))


async def return_rates(session: AsyncSession) -> list[dict[str, Any]]:
    """Per source, over all time (test leads left out): leads accepted by agents, leads returned,
    the return rate and the reason given most often (of those given as often, the first in
    alphabetical order)."""
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

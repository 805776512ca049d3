"""What routing reads about agents and writes about offers."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import OPEN_ASSIGNMENT, AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, Lead, Licence, RoutingPolicy
from leadgen.routing.policy import Policy, specificity
from leadgen.routing.rules import Candidate, LicenceFact, ShiftWindow
from leadgen.routing.strategies import Strategy

OPEN_LEAD_STATUSES = (LeadStatus.ROUTED, LeadStatus.ACCEPTED, LeadStatus.CONTACTED, LeadStatus.QUOTED)


async def candidates(session: AsyncSession, lead: Lead, now: datetime, agent_ids: list[uuid.UUID]) -> list[Candidate]:
    """The given agents as routing sees them: licences, shifts and current load."""
    if not agent_ids:
        return []
    agents = list(
        await session.scalars(
            select(Agent)
            .where(Agent.id.in_(agent_ids))
            .options(
                # Only the licences that matter for this lead: an agency's agents hold dozens.
                selectinload(Agent.licences.and_(Licence.state == lead.state, Licence.line == lead.line)),
                selectinload(Agent.shifts),
            )
            .order_by(Agent.id)
        )
    )
    if not agents:
        return []
    ids = [a.id for a in agents]
    recent = await _recent_offers(session, ids, now)
    open_counts = await _open_counts(session, ids)
    offered = set(await session.scalars(select(Assignment.agent_id).where(Assignment.lead_id == lead.id)))
    return [
        Candidate(
            agent_id=a.id,
            name=a.name,
            active=a.active,
            timezone=a.timezone,
            licences=[LicenceFact(li.state, li.line, li.expires_on) for li in a.licences],
            shifts=[ShiftWindow(s.weekday, s.starts_at, s.ends_at) for s in a.shifts],
            daily_cap=a.daily_cap,
            open_cap=a.open_cap,
            assigned_today=_count_today(recent.get(a.id, []), a.timezone, now),
            open_leads=open_counts.get(a.id, 0),
            last_assigned_at=a.last_assigned_at,
            weight=a.weight,
            already_offered=a.id in offered,
        )
        for a in agents
    ]


async def refresh_load(session: AsyncSession, candidate: Candidate, now: datetime) -> Candidate:
    """Lock the agent row and recount its load, so concurrent routing cannot exceed a cap."""
    await session.scalar(select(Agent.id).where(Agent.id == candidate.agent_id).with_for_update())
    recent = await _recent_offers(session, [candidate.agent_id], now)
    candidate.assigned_today = _count_today(recent.get(candidate.agent_id, []), candidate.timezone, now)
    candidate.open_leads = (await _open_counts(session, [candidate.agent_id])).get(candidate.agent_id, 0)
    return candidate


async def _recent_offers(session: AsyncSession, ids: list[uuid.UUID], now: datetime) -> dict[uuid.UUID, list[datetime]]:
    rows = await session.execute(
        select(Assignment.agent_id, Assignment.created_at).where(
            Assignment.agent_id.in_(ids), Assignment.created_at >= now - timedelta(hours=26)
        )
    )
    out: dict[uuid.UUID, list[datetime]] = {}
    for agent_id, created_at in rows:
        out.setdefault(agent_id, []).append(created_at)
    return out


def _count_today(times: list[datetime], timezone: str, now: datetime) -> int:
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    return sum(1 for t in times if t.astimezone(zone).date() == today)


async def _open_counts(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await session.scalars(
        select(Assignment.agent_id)
        .join(Lead, Lead.id == Assignment.lead_id)
        .where(
            Assignment.agent_id.in_(ids),
            Assignment.status.in_(list(OPEN_ASSIGNMENT)),
            Lead.status.in_(OPEN_LEAD_STATUSES),
        )
    )
    return dict(Counter(rows))


async def assignment_with_lead(
    session: AsyncSession, assignment_id: uuid.UUID, lock: bool = True
) -> tuple[Assignment, Lead] | None:
    query = select(Assignment, Lead).join(Lead, Lead.id == Assignment.lead_id).where(Assignment.id == assignment_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def overdue(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(Assignment.id)
        .where(Assignment.status == AssignmentStatus.PENDING, Assignment.expires_at <= now)
        .order_by(Assignment.expires_at)
        .limit(limit)
    )
    return list(rows)


async def inbox(session: AsyncSession, agent_id: uuid.UUID, limit: int) -> list[tuple[Assignment, Lead]]:
    rows = await session.execute(
        select(Assignment, Lead)
        .join(Lead, Lead.id == Assignment.lead_id)
        .where(Assignment.agent_id == agent_id)
        .order_by(Assignment.created_at.desc())
        .limit(limit)
    )
    return [(a, lead) for a, lead in rows]


async def policy_for(session: AsyncSession, source_id: uuid.UUID, campaign: str | None, settings: Settings) -> Policy:
    rows = await session.scalars(
        select(RoutingPolicy).where(
            or_(RoutingPolicy.source_id.is_(None), RoutingPolicy.source_id == source_id),
            or_(RoutingPolicy.campaign.is_(None), RoutingPolicy.campaign == campaign),
        )
    )
    best = max(rows, key=lambda p: specificity(p.source_id, p.campaign), default=None)
    return Policy(
        strategy=Strategy(best.strategy) if best else Strategy.ROUND_ROBIN,
        max_agents=best.max_agents if best else 1,
        sla_minutes=best.sla_minutes if best and best.sla_minutes else settings.routing.sla_minutes,
        max_attempts=best.max_attempts if best and best.max_attempts else settings.routing.max_attempts,
    )


async def outcome_counts(session: AsyncSession, ids: list[uuid.UUID], line: str) -> dict[uuid.UUID, tuple[int, int]]:
    """Per agent: (converted, accepted) leads of this line, for the conversion rate."""
    if not ids:
        return {}
    converted = func.count().filter(Lead.status == LeadStatus.CONVERTED)
    rows = await session.execute(
        select(Assignment.agent_id, func.count(), converted)
        .join(Lead, Lead.id == Assignment.lead_id)
        .where(Assignment.agent_id.in_(ids), Assignment.status == AssignmentStatus.ACCEPTED, Lead.line == line)
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


async def licensed_lines(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Every line each agent is licensed for (best match's line fit)."""
    rows = await session.execute(select(Licence.agent_id, Licence.line).where(Licence.agent_id.in_(ids)).distinct())
    out: dict[uuid.UUID, list[str]] = {}
    for agent_id, line in rows:
        out.setdefault(agent_id, []).append(line)
    return out

"""What the retention purge reads: the leads of people due, and what each of their leads did last."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from leadgen.leads.lifecycle import OPEN_ASSIGNMENT
from leadgen.models import Assignment, Lead, LeadEvent
from leadgen.privacy.rules import OPEN_STATUSES, LeadActivity

_CANDIDATE = aliased(Lead, name="candidate")
_OF_THE_PERSON = aliased(Lead, name="of_the_person")
# An offer pending, or accepted and not closed by a conversion or a loss.
_OFFER_OPEN = (Assignment.status.in_(list(OPEN_ASSIGNMENT)), Assignment.closed_at.is_(None))


def _active_since(lead: type[Lead], cutoff: datetime) -> ColumnElement[bool]:
    """``rules.due``'s test of one lead, in SQL: open, or active at or after ``cutoff``."""
    return or_(
        lead.status.in_(list(OPEN_STATUSES)),
        lead.received_at >= cutoff,
        exists().where(LeadEvent.lead_id == lead.id, LeadEvent.created_at >= cutoff),
        exists().where(Assignment.lead_id == lead.id, *_OFFER_OPEN),
    )


async def due_leads(
    session: AsyncSession, cutoff: datetime, limit: int, after: tuple[datetime, uuid.UUID] | None = None
) -> list[tuple[datetime, uuid.UUID]]:
    """Up to ``limit`` leads not anonymised whose person (every lead with their phone or e-mail, the
    lead itself among them) is due, oldest first, after ``after`` (received_at, id) if given.

    Read from the partial index of leads not anonymised by receipt: neither the people anonymised
    before nor the leads received since the cutoff are read. People with a lead still active are
    passed over in the query, so however many there are, they hold back nobody due behind them."""
    same_person = or_(
        _OF_THE_PERSON.phone_hash == _CANDIDATE.phone_hash, _OF_THE_PERSON.email_hash == _CANDIDATE.email_hash
    )
    query = (
        select(_CANDIDATE.received_at, _CANDIDATE.id)
        .where(
            _CANDIDATE.anonymised_at.is_(None),
            _CANDIDATE.received_at < cutoff,
            ~exists().where(same_person, _active_since(_OF_THE_PERSON, cutoff)),
        )
        .order_by(_CANDIDATE.received_at, _CANDIDATE.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(_CANDIDATE.received_at, _CANDIDATE.id) > after)
    return [(received_at, lead_id) for received_at, lead_id in await session.execute(query)]


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
    offers_open = set(
        await session.scalars(select(Assignment.lead_id).where(Assignment.lead_id.in_(ids), *_OFFER_OPEN))
    )
    return [
        LeadActivity(lead.status, lead.received_at, last_events.get(lead.id), lead.id in offers_open) for lead in leads
    ]

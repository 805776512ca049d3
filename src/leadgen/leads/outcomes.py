"""What happens after an agent accepts: outcomes and returns."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth.roles import Principal
from leadgen.compliance.rules import typed_text_kept
from leadgen.core.errors import Conflict, NotFound
from leadgen.core.settings import Settings
from leadgen.leads import repository
from leadgen.leads.lifecycle import (
    OPEN_LEAD_STATUSES,
    OUTCOMES,
    RETURN_REASONS,
    AssignmentStatus,
    LeadStatus,
    can_move,
)
from leadgen.models import Assignment, Lead
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox


async def accepted_by(session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> tuple[Lead, Assignment]:
    lead = await repository.get(session, lead_id, lock=True)
    offer = None
    if lead is not None and principal.agent_id is not None:
        offer = await session.scalar(
            select(Assignment).where(
                Assignment.lead_id == lead_id,
                Assignment.agent_id == principal.agent_id,
                Assignment.status == AssignmentStatus.ACCEPTED,
            )
        )
    if lead is None or offer is None:
        raise NotFound(f"lead {lead_id} not found among your accepted leads")
    return lead, offer


async def record_outcome(
    session: AsyncSession, principal: Principal, lead_id: uuid.UUID, outcome: LeadStatus, note: str | None
) -> Lead:
    lead, offer = await accepted_by(session, principal, lead_id)
    if outcome not in OUTCOMES or not can_move(LeadStatus(lead.status), outcome):
        raise Conflict(f"a lead in {lead.status} cannot become {outcome}")
    lead.status = outcome
    if outcome not in OPEN_LEAD_STATUSES:
        offer.closed_at = utcnow()  # the agent's load no longer includes this lead
    outbox.add(session, "lead.outcome", str(lead.id))
    kept = typed_text_kept(lead.anonymised_at, note)
    said = {"agent_id": str(principal.agent_id)} | ({"note": kept} if kept else {})
    audit.lead_event(session, lead.id, f"lead.{outcome.lower()}", said)
    return lead


async def return_lead(
    session: AsyncSession, settings: Settings, principal: Principal, lead_id: uuid.UUID, reason: str, detail: str | None
) -> Lead:
    """Give a bad lead back to its source within the return window (the agency is not billed for it)."""
    lead, offer = await accepted_by(session, principal, lead_id)
    if reason not in RETURN_REASONS:
        raise Conflict(f"reason must be one of {', '.join(RETURN_REASONS)}")
    accepted_at = offer.responded_at or offer.created_at
    if utcnow() - accepted_at > timedelta(hours=settings.routing.return_window_hours):
        raise Conflict(f"the return window of {settings.routing.return_window_hours} hours has passed")
    if not can_move(LeadStatus(lead.status), LeadStatus.RETURNED):
        raise Conflict(f"a lead in {lead.status} cannot be returned")
    offer.status = AssignmentStatus.RETURNED
    offer.reason = reason
    lead.status = LeadStatus.RETURNED
    lead.status_reason = f"returned: {reason}"
    outbox.add(session, "lead.outcome", str(lead.id))
    audit.lead_event(session, lead.id, "lead.returned", {"reason": reason, "agent_id": str(principal.agent_id)})
    kept = typed_text_kept(lead.anonymised_at, detail)
    await audit.record(
        session, principal.label(), "lead.returned", "lead", str(lead.id), {"reason": reason, "detail": kept}
    )
    return lead

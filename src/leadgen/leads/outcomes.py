"""What happens after an agent accepts: outcomes and returns."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth.roles import Principal
from leadgen.compliance.rules import typed_text_kept
from leadgen.core.errors import Conflict, NotFound
from leadgen.core.settings import Settings
from leadgen.leads import repository
from leadgen.leads.lifecycle import (
    FINISHED_BY_TAKERS,
    OPEN_LEAD_STATUSES,
    OUTCOMES,
    RETURN_REASONS,
    AssignmentStatus,
    LeadStatus,
    can_move,
    lead_status_of_takers,
    may_return,
    return_by,
    taker_progress,
)
from leadgen.leads.visibility import AGENT_READS_WITH
from leadgen.models import Assignment, Lead
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox
from leadgen.routing import service as routing


async def accepted_by(session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> tuple[Lead, Assignment]:
    """The lead, locked, and the principal's accepted offer of it. A lead they read but may not work
    (offered and not yet accepted, or returned) is ``Conflict`` saying so; any other is ``NotFound``,
    as for a lead they may not read."""
    lead = await repository.get(session, lead_id, lock=True)
    offer = None
    if lead is not None and principal.agent_id is not None:
        offer = await session.scalar(
            select(Assignment)
            .where(
                Assignment.lead_id == lead_id,
                Assignment.agent_id == principal.agent_id,
                Assignment.status.in_(AGENT_READS_WITH),
            )
            .order_by(Assignment.created_at.desc())
            .limit(1)
        )
    if lead is None or offer is None:
        raise NotFound(f"lead {lead_id} not found among your accepted leads")
    if offer.status == AssignmentStatus.PENDING:
        raise Conflict("the lead is offered to you and not yet accepted: accept the offer first")
    if offer.status == AssignmentStatus.RETURNED:
        raise Conflict(f"you returned the lead ({offer.reason}); it is no longer yours to work")
    return lead, offer


async def record_outcome(
    session: AsyncSession, principal: Principal, lead_id: uuid.UUID, outcome: LeadStatus, note: str | None
) -> Lead:
    """Record the agent's outcome on their own offer; the lead's status follows from all its takers'
    (each agent of a shared lead moves through the outcomes on their own)."""
    lead, offer = await accepted_by(session, principal, lead_id)
    progress = taker_progress(offer.status, offer.outcome)
    if outcome not in OUTCOMES or not can_move(progress, outcome):
        raise Conflict(f"a lead in {progress} cannot become {outcome}")
    now = utcnow()
    offer.outcome = outcome
    offer.outcome_at = now
    if outcome not in OPEN_LEAD_STATUSES:
        offer.closed_at = now  # the agent's load no longer includes this lead
    await _derive_status(session, lead)
    outbox.add(session, "lead.outcome", str(lead.id))
    kept = typed_text_kept(lead.anonymised_at, note)
    said = {"agent_id": str(principal.agent_id)} | ({"note": kept} if kept else {})
    audit.lead_event(session, lead.id, f"lead.{outcome.lower()}", said)
    return lead


async def _derive_status(session: AsyncSession, lead: Lead) -> None:
    """Set the lead's status from every taker's progress (``lifecycle.lead_status_of_takers``);
    the offers changed in this session are flushed first, so they are read as they are now."""
    await session.flush()
    takers = [taker_progress(status, outcome) for status, outcome in await repository.taken_offers(session, lead.id)]
    lead.status = lead_status_of_takers(LeadStatus(lead.status), takers)
    if lead.status in FINISHED_BY_TAKERS:
        # A finished lead cannot be accepted: the other offers of a shared lead not yet answered
        # are withdrawn now, rather than refused at accept and timed out as their agents' breaches.
        await routing.withdraw_offers(session, lead, f"lead {lead.status.lower()}")


async def return_lead(
    session: AsyncSession, settings: Settings, principal: Principal, lead_id: uuid.UUID, reason: str, detail: str | None
) -> Lead:
    """Give the agent's own offer of a bad lead back, within the return window from their acceptance.

    The lead is RETURNED to its source (the agency is not billed for it) only when no other agent
    still holds it; a shared lead another agent kept stays theirs, its status derived from theirs."""
    lead, offer = await accepted_by(session, principal, lead_id)
    if reason not in RETURN_REASONS:
        raise Conflict(f"reason must be one of {', '.join(RETURN_REASONS)}")
    if utcnow() > return_by(offer.responded_at or offer.created_at, settings.routing.return_window_hours):
        raise Conflict(f"the return window of {settings.routing.return_window_hours} hours has passed")
    if not may_return(offer.status, offer.outcome):
        raise Conflict(f"a lead in {taker_progress(offer.status, offer.outcome)} cannot be returned")
    routing.answer_offer(session, offer, AssignmentStatus.RETURNED, None)
    offer.reason = reason
    await _derive_status(session, lead)
    if lead.status == LeadStatus.RETURNED:
        lead.status_reason = f"returned: {reason}"
    outbox.add(session, "lead.outcome", str(lead.id))
    audit.lead_event(session, lead.id, "lead.returned", {"reason": reason, "agent_id": str(principal.agent_id)})
    kept = typed_text_kept(lead.anonymised_at, detail)
    await audit.record(
        session, principal.label(), "lead.returned", "lead", str(lead.id), {"reason": reason, "detail": kept}
    )
    return lead

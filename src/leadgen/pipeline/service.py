"""The lead pipeline: validate, dedupe, do-not-contact, score, route; one transaction per lead."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.compliance import repository as dnc
from leadgen.compliance.rules import consent_problem
from leadgen.core.metrics import PIPELINE_LATENCY, PIPELINE_OUTCOMES
from leadgen.core.settings import Settings
from leadgen.dedupe.rules import DUPLICATE_KINDS, window_start
from leadgen.leads import repository as leads
from leadgen.leads.geography import state_for_zip
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import ConsentRecord, Lead
from leadgen.outbox import repository as outbox
from leadgen.routing import service as routing
from leadgen.scoring.rules import rules_score

log = logging.getLogger(__name__)
TOPIC = "lead.received"


async def process_lead(
    session: AsyncSession, settings: Settings, lead_id: uuid.UUID, now: datetime
) -> LeadStatus | None:
    """Run every stage for a RECEIVED lead. Idempotent: a lead already past RECEIVED is left alone,
    which is what makes at-least-once delivery safe."""
    lead = await leads.claim(session, lead_id, LeadStatus.RECEIVED)
    if lead is None:
        await outbox.mark_processed(session, TOPIC, str(lead_id))
        return None
    stage = await _screen(session, settings, lead)
    if stage is None:
        _score(session, lead, now)
        await routing.route(session, settings, lead, now)
    await outbox.mark_processed(session, TOPIC, str(lead_id), now)
    PIPELINE_OUTCOMES.labels(lead.status).inc()
    PIPELINE_LATENCY.observe(max(0.0, (now - lead.received_at).total_seconds()))
    return LeadStatus(lead.status)


async def _screen(session: AsyncSession, settings: Settings, lead: Lead) -> LeadStatus | None:
    """Validation, duplicates and do-not-contact; returns the terminal status when one applies."""
    consent = await session.scalar(select(ConsentRecord).where(ConsentRecord.lead_id == lead.id))
    problem = consent_problem(lead.origin, consent is not None, None, lead.received_at)
    if problem or state_for_zip(lead.zip_code) != lead.state:
        return _stop(session, lead, LeadStatus.INVALID, problem or "ZIP and state disagree")
    hashes = [(k, v) for k, v in (("phone", lead.phone_hash), ("email", lead.email_hash)) if v]
    original = await leads.find_original(
        session,
        lead,
        [(k, v) for k, v in hashes if k in DUPLICATE_KINDS],
        window_start(lead.received_at, settings.intake.dedupe_window_days),
        frozenset({LeadStatus.INVALID, LeadStatus.DUPLICATE}),
    )
    if original is not None:
        lead.duplicate_of_id = original.id
        return _stop(session, lead, LeadStatus.DUPLICATE, f"same person as lead {original.id}")
    if await dnc.listed(session, [v for _, v in hashes]):
        return _stop(session, lead, LeadStatus.REJECTED, "on the do-not-contact list")
    return None


def _stop(session: AsyncSession, lead: Lead, status: LeadStatus, reason: str) -> LeadStatus:
    lead.status = status
    lead.status_reason = reason
    audit.lead_event(session, lead.id, f"lead.{status.lower()}", {"reason": reason})
    return status


def _score(session: AsyncSession, lead: Lead, now: datetime) -> None:
    row = {
        c: getattr(lead, c)
        for c in ("line", "phone", "email", "street", "currently_insured", "policy_expires_on", "is_test", "details")
    }
    result = rules_score(row, now.date())
    lead.score = result.score
    lead.score_factors = result.as_payload()
    lead.status = LeadStatus.SCORED
    audit.lead_event(session, lead.id, "lead.scored", {"score": result.score, "model": "rules-v1"})

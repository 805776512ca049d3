"""Intake and reading of leads."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth.roles import Principal
from leadgen.auth.service import SourceRef
from leadgen.compliance import repository as dnc
from leadgen.compliance.rules import consent_problem, contact_states
from leadgen.core.db import after_commit
from leadgen.core.errors import InvalidInput, NotFound
from leadgen.core.metrics import LEADS_RECEIVED, LEADS_REFUSED
from leadgen.core.settings import Settings
from leadgen.dedupe.rules import identity_keys
from leadgen.leads import repository, visibility
from leadgen.leads.schemas import AnyLead, AssignmentPublic, Consent, LeadEventPublic, LeadForSource, LeadPublic
from leadgen.models import ConsentRecord, Lead
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox


async def receive(session: AsyncSession, settings: Settings, source: SourceRef, data: AnyLead) -> Lead:
    """Store a validated lead, its consent and the outbox event in one transaction.

    The caller answers 202 only after this commits, so an acknowledged lead is durable and
    will reach the pipeline even if every other process is down right now.
    """
    now = utcnow()
    problem = consent_problem(
        data.origin, data.consent is not None, data.consent.captured_at if data.consent else None, now
    )
    if problem:
        LEADS_REFUSED.labels("consent").inc()
        raise InvalidInput(problem, [{"field": "consent", "reason": problem}])
    contact, address = data.contact, data.contact.address
    assert address.state is not None
    keys = identity_keys(
        settings.security.pii_hash_key.get_secret_value(),
        contact.phone,
        str(contact.email) if contact.email else None,
        address.street,
        address.zip,
    )
    lead = Lead(
        id=uuid.uuid4(),
        source_id=source.id,
        external_id=data.external_id,
        campaign=data.campaign,
        sub_id=data.sub_id,
        line=data.line,
        origin=data.origin,
        exclusive=data.exclusive,
        is_test=data.test,
        received_at=now,
        first_name=contact.first_name,
        last_name=contact.last_name,
        email=str(contact.email).lower() if contact.email else None,
        phone=contact.phone,
        street=address.street,
        city=address.city,
        state=address.state,
        zip_code=address.zip,
        date_of_birth=contact.date_of_birth,
        phone_hash=keys.phone,
        email_hash=keys.email,
        address_hash=keys.address,
        currently_insured=data.currently_insured,
        current_carrier=data.current_carrier,
        policy_expires_on=data.policy_expires_on,
        landing_page=str(data.landing_page) if data.landing_page else None,
        ip_address=str(data.ip) if data.ip else None,
        user_agent=data.user_agent,
        notes=data.notes,
        details=data.details.model_dump(mode="json"),
    )
    session.add(lead)
    if data.consent is not None:
        session.add(_consent_record(lead.id, data.consent))
    audit.lead_event(session, lead.id, "lead.received", {"source": source.name, "line": data.line})
    outbox.add(session, "lead.received", str(lead.id))
    await session.flush()
    after_commit(
        session, LEADS_RECEIVED.labels(data.line, data.origin).inc
    )  # a lead that failed to commit was not received
    return lead


def _consent_record(lead_id: uuid.UUID, consent: Consent) -> ConsentRecord:
    return ConsentRecord(
        lead_id=lead_id,
        text=consent.text,
        text_sha256=hashlib.sha256(consent.text.encode()).hexdigest(),
        captured_at=consent.captured_at,
        ip_address=str(consent.ip) if consent.ip else None,
        page_url=str(consent.page_url) if consent.page_url else None,
        trustedform_cert_url=str(consent.trustedform_cert_url) if consent.trustedform_cert_url else None,
        jornaya_leadid=consent.jornaya_leadid,
    )


async def visible_lead(
    session: AsyncSession, lead_id: uuid.UUID, principal: Principal | None, source: SourceRef | None
) -> LeadPublic | LeadForSource:
    """A lead as its sender, an admin or manager, or an agent working it may see it
    (``leads.visibility`` says what each sees)."""
    lead = await repository.get(session, lead_id)
    allowed = lead is not None and (
        (source is not None and lead.source_id == source.id)
        or (principal is not None and principal.sees_everything)
        or (
            principal is not None
            and principal.agent_id is not None
            and await repository.offered_to(session, lead.id, principal.agent_id)
        )
    )
    if lead is None or not allowed:
        # The same answer for "absent" and "not yours", so ids cannot be probed.
        raise NotFound(f"lead {lead_id} not found")
    if principal is None:
        return LeadForSource(
            id=lead.id,
            line=lead.line,
            state=lead.state,
            status=lead.status,
            status_reason=visibility.reason_for_source(lead.status, lead.status_reason),
            received_at=lead.received_at,
            score=lead.score,
        )
    await audit.record(session, principal.label(), "lead.viewed", "lead", str(lead.id), {})
    agent_id = None if principal.sees_everything else principal.agent_id
    return await public_view(session, lead, agent_id)


async def public_view(session: AsyncSession, lead: Lead, agent_id: uuid.UUID | None = None) -> LeadPublic:
    """The lead as staff see it, or as the agent ``agent_id`` does: their own offer (a shared lead
    has several) and the lead's history without the other agents'."""
    current = await repository.current_assignment(session, lead.id, agent_id)
    reader = str(agent_id) if agent_id is not None else None
    assignment = None
    if current is not None:
        a, agent = current
        assignment = AssignmentPublic(
            id=a.id,
            agent_id=a.agent_id,
            agent_name=agent.name,
            attempt=a.attempt,
            status=a.status,
            strategy=a.strategy,
            expires_at=a.expires_at,
            explanation=a.explanation if reader is None else visibility.explanation_for_agent(a.explanation, reader),
        )
    events = []
    for e in await audit.lead_events(session, lead.id):
        data = e.data if reader is None else visibility.event_for_agent(e.name, e.data, reader)
        if data is not None:
            events.append(LeadEventPublic(name=e.name, at=e.created_at, data=data))
    return LeadPublic(
        id=lead.id,
        line=lead.line,
        state=lead.state,
        status=lead.status,
        status_reason=lead.status_reason,
        received_at=lead.received_at,
        score=lead.score,
        score_factors=lead.score_factors,
        insights=lead.insights,
        duplicate_of_id=lead.duplicate_of_id,
        assignment=assignment,
        do_not_contact=await dnc.contact_barred(session, lead) is not None,
        contact_states=contact_states(lead.state, lead.phone),
        events=events,
    )

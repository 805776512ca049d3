"""What to send to whom, and whether a lead may be contacted now. Sending itself is in tasks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance import repository as dnc
from leadgen.compliance.rules import in_contact_window, next_contact_time
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import AssignmentStatus
from leadgen.models import Agent, Assignment, Lead, Notification, User
from leadgen.notifications.templates import render


@dataclass(frozen=True)
class Outbound:
    channel: str  # email or sms
    to: str
    body: str
    template: str
    recipient_kind: str  # agent, lead or admin
    subject: str | None = None
    agent_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None


# Every offer and every first routing sends one of these: plain columns, built once.
_OFFER = (
    select(
        Assignment.status,
        Assignment.expires_at,
        Lead.id.label("lead_id"),
        Lead.line,
        Lead.state,
        Lead.score,
        Agent.id.label("agent_id"),
        Agent.name.label("agent_name"),
        Agent.email.label("agent_email"),
        Agent.phone.label("agent_phone"),
    )
    .join(Lead, Lead.id == Assignment.lead_id)
    .join(Agent, Agent.id == Assignment.agent_id)
    .where(Assignment.id == bindparam("assignment_id"))
)
_FIRST_AGENT = (
    select(
        Lead.id,
        Lead.first_name,
        Lead.line,
        Lead.phone,
        Lead.email,
        Agent.name.label("agent_name"),
    )
    .join(Assignment, Assignment.lead_id == Lead.id)
    .join(Agent, Agent.id == Assignment.agent_id)
    .where(Lead.id == bindparam("lead_id"))
    .order_by(Assignment.attempt)
    .limit(1)
)


async def offer_messages(session: AsyncSession, settings: Settings, assignment_id: uuid.UUID) -> list[Outbound]:
    """E-mail (and SMS when configured and the agent has a phone) for a PENDING offer."""
    offer = (await session.execute(_OFFER, {"assignment_id": assignment_id})).first()
    if offer is None or offer.status != AssignmentStatus.PENDING:
        return []
    values = {
        "agent": offer.agent_name,
        "line": offer.line,
        "state": offer.state,
        "score": offer.score if offer.score is not None else "n/a",
        "deadline": offer.expires_at.strftime("%Y-%m-%d %H:%M"),
        "inbox_url": f"{settings.services.api_url}".rstrip("/") + "/api/v1/assignments",
    }
    to_agent = partial(
        Outbound, template="offer", recipient_kind="agent", agent_id=offer.agent_id, lead_id=offer.lead_id
    )
    messages = [
        to_agent(
            channel="email",
            to=offer.agent_email,
            body=render("offer.body", **values),
            subject=render("offer.subject", **values),
        )
    ]
    if settings.sms.enabled and offer.agent_phone:
        messages.append(to_agent(channel="sms", to=offer.agent_phone, body=render("offer.sms", **values)))
    return messages


async def lead_block_reason(session: AsyncSession, lead: Lead, now: datetime) -> tuple[str | None, datetime | None]:
    """Why the lead may not be messaged now (and when it may), checked at every send."""
    if lead.anonymised_at is not None:
        return "erased", None
    hashes = [h for h in (lead.phone_hash, lead.email_hash) if h]
    if await dnc.listed(session, hashes):
        return "do-not-contact", None
    if not in_contact_window(lead.state, now):
        return "outside contact window", next_contact_time(lead.state, now)
    return None, None


async def acknowledgement(session: AsyncSession, settings: Settings, lead_id: uuid.UUID) -> list[Outbound]:
    """Thank the person and name the agent: by SMS when possible, else e-mail."""
    lead = (await session.execute(_FIRST_AGENT, {"lead_id": lead_id})).first()
    if lead is None:
        return []
    values = {"first_name": lead.first_name or "there", "line": lead.line, "agent": lead.agent_name.split(" (")[0]}
    to_lead = partial(Outbound, template="acknowledgement", recipient_kind="lead", lead_id=lead.id)
    if settings.sms.enabled and lead.phone:
        return [to_lead(channel="sms", to=lead.phone, body=render("acknowledgement.sms", **values))]
    if lead.email:
        body, subject = render("acknowledgement.body", **values), render("acknowledgement.subject", **values)
        return [to_lead(channel="email", to=lead.email, body=body, subject=subject)]
    return []


async def unassigned_alerts(session: AsyncSession, lead_id: uuid.UUID, reason: str) -> list[Outbound]:
    lead = await session.get(Lead, lead_id)
    if lead is None:
        return []
    admins = await session.scalars(select(User.email).where(User.role == "admin", User.active.is_(True)))
    values = {"line": lead.line, "state": lead.state, "lead_id": lead.id, "reason": reason}
    return [
        Outbound(
            "email",
            email,
            render("unassigned.body", **values),
            "unassigned",
            "admin",
            subject=render("unassigned.subject", **values),
            lead_id=lead.id,
        )
        for email in admins
    ]


def record(
    session: AsyncSession,
    message: Outbound,
    status: str,
    detail: str | None = None,
    sent_at: datetime | None = None,
    not_before: datetime | None = None,
) -> None:
    session.add(
        Notification(
            channel=message.channel,
            recipient_kind=message.recipient_kind,
            agent_id=message.agent_id,
            lead_id=message.lead_id,
            template=message.template,
            status=status,
            detail=detail,
            sent_at=sent_at,
            not_before=not_before,
        )
    )


async def due_for_lead(session: AsyncSession, now: datetime, limit: int) -> list[Notification]:
    """Lead messages held back until the person's contact window opens."""
    return list(
        await session.scalars(
            select(Notification)
            .where(Notification.status == "scheduled", Notification.not_before <= now)
            .order_by(Notification.not_before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )

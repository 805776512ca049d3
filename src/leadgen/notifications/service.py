"""What to send to whom, and whether a lead may be contacted now. Sending itself is in tasks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Row, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from leadgen.compliance import repository as dnc
from leadgen.compliance.links import opt_out_token
from leadgen.compliance.rules import automated_message_problem, in_contact_window, next_contact_time
from leadgen.core.db import after_commit
from leadgen.core.metrics import NOTIFICATIONS
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import (
    CONTACT_DISPUTED,
    OPEN_ASSIGNMENT,
    OPEN_LEAD_STATUSES,
    AssignmentStatus,
    LeadStatus,
)
from leadgen.models import Agent, Assignment, ConsentRecord, Lead, Notification, Source, User
from leadgen.models.base import new_id
from leadgen.notifications.email import sender_name
from leadgen.notifications.templates import acknowledgement_text, agent_time, render, render_sms
from leadgen.routing import repository as routing_repository

# The namespace of ``Outbound.key``.
_MESSAGE_KEYS = uuid.UUID("8a0f6d3e-4c1b-5e7a-9d2f-3b6c1e8a7f40")


@dataclass(frozen=True)
class Outbound:
    channel: str  # email or sms
    to: str
    body: str
    template: str
    recipient_kind: str  # agent, lead or admin
    subject: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # extra e-mail headers
    agent_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    event_key: str | None = None
    # Why the message is recorded blocked instead of sent, known when it is composed (a text to a
    # number at an extension): None for one to send.
    withheld: str | None = None

    @property
    def key(self) -> uuid.UUID:
        """The message's name, the same on every try of it (an e-mail's Message-ID): made of its
        template, channel, lead, recipient and event, which tell it from every other (and by which
        a retry skips those recorded: ``round_messages``, ``owner_messages``, ``unassigned_alerts``).
        A message to staff is recorded only once sent, so it has no row to be named by yet; the
        person's is sent as its row, and named by the row's id instead (``tasks._send_held``)."""
        named = (self.template, self.channel, self.lead_id, self.agent_id, self.user_id, self.event_key)
        return uuid.uuid5(_MESSAGE_KEYS, "|".join(map(str, named)))


@dataclass(frozen=True)
class RoundMessages:
    """A routing round's messages: those to send now, the lead's held back with the reason, and
    the offers whose deadline passed before they were sent (``lapsed``)."""

    send: list[Outbound] = field(default_factory=list)
    held: list[Outbound] = field(default_factory=list)
    reason: str | None = None
    not_before: datetime | None = None
    lapsed: list[Outbound] = field(default_factory=list)


# Read once per routing round: every offer of the round with its agent, and the lead's columns
# for the offers and the acknowledgement. Plain columns, built once.
_ROUND = (
    select(
        Assignment.status,
        Assignment.expires_at,
        Agent.id.label("agent_id"),
        Agent.name.label("agent_name"),
        Agent.email.label("agent_email"),
        Agent.phone.label("agent_phone"),
        Agent.timezone.label("agent_timezone"),
        Lead.id.label("lead_id"),
        Lead.line,
        Lead.state,
        Lead.score,
        Lead.phone,
        Lead.phone_extension,
        Lead.email,
    )
    .join(Lead, Lead.id == Assignment.lead_id)
    .join(Agent, Agent.id == Assignment.agent_id)
    .where(Assignment.lead_id == bindparam("lead_id"), Assignment.attempt == bindparam("attempt"))
    .order_by(Assignment.slot)
)
# What was already recorded for the lead. An agent is offered a lead at most once, so (template,
# agent, channel) names an offer of the lead's rounds; a person is thanked once, on any channel.
_RECORDED = select(Notification.template, Notification.agent_id, Notification.channel).where(
    Notification.lead_id == bindparam("lead_id")
)
_RETURNED = aliased(Assignment, name="returned")
# An agent said the lead's contact details do not reach a person who asked: "an agent will contact
# you" would go to a stranger.
_DISPUTED = exists().where(
    _RETURNED.lead_id == Lead.id,
    _RETURNED.status == AssignmentStatus.RETURNED,
    _RETURNED.reason.in_(CONTACT_DISPUTED),
)
# The agent an acknowledgement names when it goes: the active agent who accepted the lead and
# has not closed it, else the one offered it in its latest round. None between two rounds, once the
# lead is no longer worked (returned, lost, left unassigned), or once its contact is disputed.
_HOLDING_AGENT = (
    select(
        Lead.id.label("lead_id"),
        Lead.line,
        Lead.phone,
        Lead.phone_extension,
        Lead.email,
        Agent.name.label("agent_name"),
    )
    .join(Assignment, Assignment.lead_id == Lead.id)
    .join(Agent, Agent.id == Assignment.agent_id)
    .where(
        Lead.id == bindparam("lead_id"),
        Lead.status.in_(OPEN_LEAD_STATUSES),
        Assignment.status.in_(list(OPEN_ASSIGNMENT)),
        Assignment.closed_at.is_(None),
        Agent.active.is_(True),
        ~_DISPUTED,
    )
    .order_by((Assignment.status == AssignmentStatus.ACCEPTED).desc(), Assignment.attempt.desc(), Assignment.slot)
    .limit(1)
)
# Whether the person gave the consent that the platform's own messages to them need.
_CONSENTED = select(exists().where(ConsentRecord.lead_id == bindparam("lead_id")))
_DISPUTED_FOR = select(_DISPUTED.label("disputed")).select_from(Lead).where(Lead.id == bindparam("lead_id"))
NO_AGENT_HOLDS = "no agent holds the lead"
BETWEEN_ROUNDS = "between two routing rounds"
LEAD_GONE = "gone"
# An offer nobody answered: pending until its deadline, then timed out by the SLA sweep.
_UNANSWERED = (AssignmentStatus.PENDING, AssignmentStatus.TIMED_OUT)
# An acknowledgement waits this long for a lead between two routing rounds to find its agent.
ROUND_WAIT = timedelta(minutes=1)
# Why the person's text is not sent to a number given with an extension: it would go to the number
# alone, a business's main line, whose switchboard cannot pass a text on to the person.
EXTENSION_NOT_TEXTABLE = "not texted: the number has an extension, and a text reaches only its switchboard"


async def round_of_offer(session: AsyncSession, assignment_id: uuid.UUID) -> tuple[str, uuid.UUID] | None:
    """The round key (``<lead id>:<attempt>``) and the agent of an offer."""
    offer = await session.get(Assignment, assignment_id)
    return (f"{offer.lead_id}:{offer.attempt}", offer.agent_id) if offer else None


async def round_messages(
    session: AsyncSession, settings: Settings, lead_id: uuid.UUID, attempt: int, now: datetime
) -> RoundMessages:
    """The offers of one routing round still open and, in the first round, the person's
    acknowledgement, less anything already recorded (a retried round sends only what is left).

    An offer is open while PENDING and before its deadline: one past it cannot be accepted
    (``routing.service.accept``) though the SLA sweep may not have expired it yet, so a round
    delivered late (taken over from a worker that died) does not offer the agent a lead gone by;
    its messages not recorded are ``lapsed`` (one the agent answered in time needs none). The
    acknowledgement goes by the rule of a held one (``acknowledgement_block_reason``): a round
    delivered late may find the lead declined, passed on or left unassigned."""
    offers = (await session.execute(_ROUND, {"lead_id": lead_id, "attempt": attempt})).all()
    if not offers:
        return RoundMessages()
    recorded = set((await session.execute(_RECORDED, {"lead_id": lead_id})).all())
    to_agents: list[Outbound] = []
    lapsed: list[Outbound] = []
    for offer in offers:
        if offer.status == AssignmentStatus.PENDING and offer.expires_at > now:
            into = to_agents
        elif offer.status in _UNANSWERED and offer.expires_at <= now:
            into = lapsed
        else:
            continue
        into += [m for m in _offer(settings, offer, now) if (m.template, m.agent_id, m.channel) not in recorded]
    thanked = any(template == "acknowledgement" for template, _, _ in recorded)
    if attempt != 1 or thanked:
        return RoundMessages(send=to_agents, lapsed=lapsed)
    reason, not_before = await acknowledgement_block_reason(session, await session.get(Lead, lead_id), now)
    if reason is None:
        return RoundMessages(send=to_agents + await acknowledgement(session, settings, lead_id), lapsed=lapsed)
    # Recorded, not sent: its text is written when it goes, naming the agent who holds the lead then.
    held = _acknowledgement(settings, offers[0])
    return RoundMessages(send=to_agents, held=held, reason=reason, not_before=not_before, lapsed=lapsed)


def _offer(settings: Settings, offer: Row[*tuple[Any, ...]], now: datetime) -> list[Outbound]:
    """E-mail (and SMS when configured and the agent has a phone); no lead contact data."""
    values = {
        "agent": offer.agent_name,
        "line": offer.line,
        "state": offer.state,
        "score": offer.score if offer.score is not None else "n/a",
        "deadline": agent_time(offer.expires_at, offer.agent_timezone, now),
        "inbox_url": settings.services.dashboard_link("/inbox"),
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
        messages.append(to_agent(channel="sms", to=offer.agent_phone, body=render_sms("offer.sms", **values)))
    return messages


async def lead_block_reason(
    session: AsyncSession, lead: Lead, phone: str | None, now: datetime
) -> tuple[str | None, datetime | None]:
    """Why the lead may not be messaged now (and when it may), checked at every send. ``phone``
    is the lead's number, whose area code may bring a second state's hours. Every message to the
    person is one the platform sends on its own, so it needs their consent on record
    (``automated_message_problem``); no opening of the window brings that, so it blocks for good."""
    barred = await dnc.contact_barred(session, lead)
    if barred:
        return barred, None
    consented = bool(await session.scalar(_CONSENTED, {"lead_id": lead.id}))
    if unconsented := automated_message_problem(has_consent=consented):
        return unconsented, None
    if not in_contact_window(lead.state, now, phone):
        return "outside contact window", next_contact_time(lead.state, now, phone)
    return None, None


async def acknowledgement(
    session: AsyncSession, settings: Settings, lead_id: uuid.UUID, *, by_text: bool = True
) -> list[Outbound]:
    """The person's acknowledgement, naming the agent who holds the lead now (by e-mail only, not
    ``by_text``); none when no agent does (``acknowledgement_wait`` says why)."""
    lead = (await session.execute(_HOLDING_AGENT, {"lead_id": lead_id})).first()
    return _acknowledgement(settings, lead, by_text) if lead is not None else []


async def acknowledgement_block_reason(
    session: AsyncSession, lead: Lead | None, now: datetime
) -> tuple[str | None, datetime | None]:
    """Why the person may not be thanked now, and until when (None: for good); (None, None) when
    they may. The one rule of both ways an acknowledgement goes, with its round and held back for
    later (``tasks.send_due``), checked at every send: the person gave their consent and may be
    contacted now (``lead_block_reason``), and an agent holds the lead to name
    (``acknowledgement_wait``)."""
    if lead is None:
        return LEAD_GONE, None
    reason, not_before = await lead_block_reason(session, lead, lead.phone, now)
    if reason is None:
        reason, not_before = await acknowledgement_wait(session, lead, now)
    return reason, not_before


async def acknowledgement_wait(session: AsyncSession, lead: Lead, now: datetime) -> tuple[str | None, datetime | None]:
    """Why the lead's acknowledgement may not go now, and until when (None: for good); (None,
    None) when an agent holds the lead or is offered it. A lead between two routing rounds (declined,
    its next round queued) waits for its next agent; one no longer worked, or whose contact an agent
    disputed, is never acknowledged."""
    if (await session.execute(_HOLDING_AGENT, {"lead_id": lead.id})).first() is not None:
        return None, None
    being_routed = lead.status in (LeadStatus.RECEIVED, LeadStatus.SCORED, LeadStatus.ROUTED)
    if being_routed and not await session.scalar(_DISPUTED_FOR, {"lead_id": lead.id}):
        return BETWEEN_ROUNDS, now + ROUND_WAIT
    return NO_AGENT_HOLDS, None


def _acknowledgement(settings: Settings, lead: Row[*tuple[Any, ...]], by_text: bool = True) -> list[Outbound]:
    """Thank the person and name the agent: by SMS when possible (and ``by_text``), else e-mail.
    Nothing the person typed goes in it (see ``templates``): the line is one of ours, the agent's
    name is staff's, and the sender is our From address's name (``email.sender_name``), the name
    a text and an e-mail from us both go by.

    A number given with an extension is the person's line behind a switchboard, which a text to the
    number cannot reach: that text is composed withheld (recorded blocked, not sent), and the
    person is thanked by e-mail instead when they gave an address, as after a landline's refusal."""
    values = {"line": lead.line, "agent": lead.agent_name.split(" (")[0], "sender": sender_name(settings.smtp)}
    to_lead = partial(Outbound, template="acknowledgement", recipient_kind="lead", lead_id=lead.lead_id)
    if by_text and settings.sms.enabled and lead.phone:
        text = to_lead(channel="sms", to=lead.phone, body=acknowledgement_text(**values))
        return [replace(text, withheld=EXTENSION_NOT_TEXTABLE) if lead.phone_extension else text]
    if lead.email:
        token = opt_out_token(settings.security.pii_hash_key.get_secret_value(), lead.lead_id)
        opt_out_url = settings.services.dashboard_link(f"/unsubscribe/{token}")
        values["opt_out_url"] = opt_out_url
        body, subject = render("acknowledgement.body", **values), render("acknowledgement.subject", **values)
        # RFC 8058: mail clients offer their own unsubscribe button, which posts to the link.
        headers = (("List-Unsubscribe", f"<{opt_out_url}>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        return [to_lead(channel="email", to=lead.email, body=body, subject=subject, headers=headers)]
    return []


async def unassigned_alerts(
    session: AsyncSession, settings: Settings, lead_id: uuid.UUID, reason: str, event_key: str
) -> list[Outbound]:
    """An e-mail to every active admin not yet alerted by the outbox event ``event_key`` that the
    lead was left unassigned (a retried alert reaches only the rest; each time it is left is an
    event of its own)."""
    lead = await session.get(Lead, lead_id)
    if lead is None:
        return []
    alerted = exists().where(
        Notification.lead_id == lead_id,
        Notification.template == "unassigned",
        Notification.user_id == User.id,
        Notification.event_key == event_key,
    )
    admins = await session.execute(
        select(User.id, User.email).where(User.role == "admin", User.active.is_(True), ~alerted).order_by(User.email)
    )
    lead_url = settings.services.dashboard_link(f"/leads/{lead.id}")
    values = {"line": lead.line, "state": lead.state, "lead_id": lead.id, "reason": reason, "lead_url": lead_url}
    return [
        Outbound(
            "email",
            email,
            render("unassigned.body", **values),
            "unassigned",
            "admin",
            subject=render("unassigned.subject", **values),
            lead_id=lead.id,
            user_id=user_id,
            event_key=event_key,
        )
        for user_id, email in admins
    ]


async def owner_messages(
    session: AsyncSession, settings: Settings, lead_id: uuid.UUID, event_key: str, now: datetime
) -> list[Outbound]:
    """To each agent who holds the person's earlier lead (``routing.repository.owners``) and was not
    yet told of this duplicate: when and where the person asked again, and a link to the lead they
    hold. No contact data; nothing once the person may not be contacted."""
    lead = await session.get(Lead, lead_id)
    original = await session.get(Lead, lead.duplicate_of_id) if lead and lead.duplicate_of_id else None
    if lead is None or original is None:
        return []
    if await dnc.contact_barred(session, original) or await dnc.contact_barred(session, lead):
        return []
    told = select(Notification.agent_id, Notification.channel).where(
        Notification.template == "requested_again", Notification.event_key == event_key
    )
    already = set((await session.execute(told)).all())
    source = await session.scalar(select(Source.name).where(Source.id == lead.source_id))
    via = ", ".join(part for part in (source, lead.campaign) if part)
    values = {
        "line": original.line,
        "state": original.state,
        "via": f" through {via}" if via else "",
        "lead_url": settings.services.dashboard_link(f"/leads/{original.id}"),
    }
    messages = []
    for agent in await routing_repository.owners(session, original.id):
        to_agent = partial(
            Outbound,
            template="requested_again",
            recipient_kind="agent",
            agent_id=agent.id,
            lead_id=original.id,
            event_key=event_key,
        )
        text = values | {"agent": agent.name, "at": agent_time(lead.received_at, agent.timezone, now)}
        subject, body = render("requested_again.subject", **text), render("requested_again.body", **text)
        wanted = [to_agent(channel="email", to=agent.email, body=body, subject=subject)]
        if settings.sms.enabled and agent.phone:
            wanted.append(to_agent(channel="sms", to=agent.phone, body=render_sms("requested_again.sms", **text)))
        messages += [m for m in wanted if (m.agent_id, m.channel) not in already]
    return messages


def record(
    session: AsyncSession,
    message: Outbound,
    status: str,
    detail: str | None = None,
    sent_at: datetime | None = None,
    not_before: datetime | None = None,
) -> None:
    count_recorded(session, message.channel, message.template, status)
    session.add(_row(message, status, detail, sent_at, not_before))


# Why the person's acknowledgement is held by e-mail (``hold_by_email``): the SMS provider refused
# the text (a landline), or it was not sent to a number at an extension (EXTENSION_NOT_TEXTABLE).
BY_EMAIL_INSTEAD = "by e-mail: the SMS provider refused the text"
BY_EMAIL_AT_EXTENSION = "by e-mail: the number has an extension, which a text cannot reach"


def hold_by_email(session: AsyncSession, refused: Notification, now: datetime, why: str = BY_EMAIL_INSTEAD) -> None:
    """Hold the person's acknowledgement by e-mail from ``now``, for the sweep of held messages
    (``due_for_lead``), after the text of the held row ``refused`` could not go (``why``)."""
    count_recorded(session, "email", refused.template, "scheduled")
    session.add(
        Notification(
            id=new_id(),
            channel="email",
            recipient_kind=refused.recipient_kind,
            lead_id=refused.lead_id,
            template=refused.template,
            status="scheduled",
            detail=why,
            not_before=now,
        )
    )


def sending(session: AsyncSession, message: Outbound, hold: datetime) -> uuid.UUID:
    """Record a message to the person as being sent, held until ``hold``, before it goes: a
    delivery that takes its round over does not send it again, and if this one's worker dies, the
    sweep (``due_for_lead``) takes it once the hold runs out. Its outcome is counted when recorded."""
    row = _row(message, "sending", not_before=hold)
    session.add(row)
    return row.id


def _row(
    message: Outbound,
    status: str,
    detail: str | None = None,
    sent_at: datetime | None = None,
    not_before: datetime | None = None,
) -> Notification:
    return Notification(
        id=new_id(),  # known before the flush: ``sending`` returns it
        channel=message.channel,
        recipient_kind=message.recipient_kind,
        agent_id=message.agent_id,
        lead_id=message.lead_id,
        user_id=message.user_id,
        event_key=message.event_key,
        template=message.template,
        status=status,
        detail=detail,
        sent_at=sent_at,
        not_before=not_before,
    )


def count_recorded(session: AsyncSession, channel: str, template: str, status: str) -> None:
    """Count a message's outcome once it is committed (a rolled-back record is delivered again)."""
    after_commit(session, NOTIFICATIONS.labels(channel, template, status).inc)


async def due_for_lead(session: AsyncSession, now: datetime, limit: int) -> list[Notification]:
    """Lead messages held back until the person's contact window opens, and those a sweep took to
    send and never finished (its worker died) once its hold on them has run out."""
    return list(
        await session.scalars(
            select(Notification)
            .where(Notification.status.in_(("scheduled", "sending")), Notification.not_before <= now)
            .order_by(Notification.not_before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )

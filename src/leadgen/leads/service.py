"""Intake and reading of leads."""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth.roles import Principal
from leadgen.auth.service import SourceRef
from leadgen.compliance import repository as dnc
from leadgen.compliance.consent import shown_consent_text
from leadgen.compliance.rules import consent_problem, contact_states, sent_consent_problems
from leadgen.core.db import after_commit
from leadgen.core.errors import Conflict, InvalidInput, NotFound
from leadgen.core.metrics import LEADS_RECEIVED, LEADS_REFUSED
from leadgen.core.settings import Settings
from leadgen.dedupe.rules import IdentityKeys, identity_keys, same_person
from leadgen.leads import repository, visibility
from leadgen.leads.lifecycle import may_return, return_by
from leadgen.leads.schemas import (
    AnyLead,
    AnyQuoteRequest,
    AssignmentPublic,
    Consent,
    Contact,
    LeadCreate,
    LeadEventPublic,
    LeadForSource,
    LeadPublic,
)
from leadgen.models import ConsentRecord, Lead, Source
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox


@dataclass(frozen=True)
class Received:
    """The lead intake answers with; ``repeat`` when its source had sent it before (the same
    ``external_id``) and this request stored nothing."""

    lead: Lead
    repeat: bool = False


async def receive(
    session: AsyncSession, settings: Settings, source: SourceRef, data: AnyLead, *, consent_witnessed: bool = False
) -> Received:
    """Store a validated lead, its consent and the outbox event in one transaction.

    A consent record the source wrote must say where the person agreed (``sent_consent_problems``).
    ``consent_witnessed``: the api recorded the consent itself (a quote request's), with the address
    it saw its caller at, whatever that is (on a laptop, loopback).

    The caller answers 202 only after this commits, so an acknowledged lead is durable and
    will reach the pipeline even if every other process is down right now. A lead whose
    ``external_id`` its source sent before is a retry of that lead: the stored one is answered and
    nothing is written, also when both requests arrive at once (the unique index settles it). When
    the two name different people the id is refused (``Conflict``), and nothing is written either.
    """
    if data.external_id is not None:
        # A locking read. On SQLite it takes the database's write lock (``core.db``), so that the
        # savepoint of ``_insert_first`` opens inside this transaction: Python's sqlite3 driver
        # would begin the transaction with the savepoint, and releasing it would commit the lead
        # alone. PostgreSQL skips a lead another transaction holds (the pipeline's); the insert
        # then finds it.
        earlier = await repository.by_external_id(session, source.id, data.external_id, lock=True)
        if earlier is not None:
            return _repeat_of(earlier, data, _identity(settings, data.contact))
    now = utcnow()
    problem = consent_problem(
        data.origin,
        data.consent is not None,
        data.consent.captured_at if data.consent else None,
        now,
        web_traces=any((data.landing_page, data.ip, data.user_agent)),
    )
    if problem:
        LEADS_REFUSED.labels("consent").inc()
        raise InvalidInput(problem, [{"field": "consent", "reason": problem}])
    if data.consent is not None and not consent_witnessed:
        _refuse_consent_record_problems(data.origin, data.consent)
    lead = _new_lead(settings, source, data, now)
    # The source's price at this moment, read by the INSERT itself: no round trip of its own, and
    # no cached copy (API keys are cached per process) that a price change would leave behind.
    lead.price_cents = select(Source.cost_per_lead_cents).where(Source.id == source.id).scalar_subquery()
    if data.external_id is None:
        session.add(lead)
    elif (winner := await _insert_first(session, lead, data.external_id)) is not None:
        return _repeat_of(winner, data, _identity(settings, data.contact))
    if data.consent is not None:
        session.add(_consent_record(lead, data.consent))
    audit.lead_event(session, lead.id, "lead.received", {"source": source.name, "line": data.line})
    outbox.add(session, "lead.received", str(lead.id))
    await session.flush()
    after_commit(
        session, LEADS_RECEIVED.labels(data.line, data.origin).inc
    )  # a lead that failed to commit was not received
    return Received(lead)


def _refuse_consent_record_problems(origin: str, consent: Consent) -> None:
    """``InvalidInput`` naming each field of a sent consent record that ``sent_consent_problems`` refuses."""
    problems = sent_consent_problems(origin, consent.ip, consent.page_url)
    if problems:
        LEADS_REFUSED.labels("consent").inc()
        errors = [{"field": f"consent.{name}", "reason": reason} for name, reason in problems.items()]
        raise InvalidInput(f"{len(errors)} field(s) failed validation", errors)


async def _insert_first(session: AsyncSession, lead: Lead, external_id: str) -> Lead | None:
    """Insert the lead alone in a savepoint; when another request stored the source's
    ``external_id`` meanwhile, undo only this insert and return that request's lead.

    The savepoint keeps the request's transaction usable after the unique index refuses the row;
    nothing else of the lead (consent, event, outbox) is written before the insert succeeded.
    """
    try:
        async with session.begin_nested():
            session.add(lead)
    except IntegrityError:
        # The row's id is new, so a stored lead of the source with this external id means the
        # unique index refused it; any other refusal is not a repeat.
        winner = await repository.by_external_id(session, lead.source_id, external_id)
        if winner is None:
            raise
        return winner
    return None


def _identity(settings: Settings, contact: Contact) -> IdentityKeys:
    """The keyed hashes that say who the contact is (``dedupe.rules``)."""
    address = contact.address
    email = str(contact.email) if contact.email else None
    key = settings.security.pii_hash_key.get_secret_value()
    return identity_keys(key, contact.phone, email, address.street, address.zip, contact.phone_extension)


def _repeat_of(stored: Lead, data: AnyLead, incoming: IdentityKeys) -> Received:
    """The answer to a lead whose ``external_id`` names the source's ``stored`` lead: that lead, when
    both are the same request (a retry: the same person, line and test flag). Otherwise the source
    reused the id for another request, and answering with the stored lead would drop this one
    without a word: refused."""
    stored_keys = IdentityKeys(stored.phone_hash, stored.email_hash, stored.address_hash, stored.phone_extension)
    if not same_person(incoming, stored_keys):
        reason = "this external_id already names another person's lead; send this lead with an id of its own"
    elif stored.line != data.line:
        reason = f"this external_id already names this person's {stored.line} lead; send this one with an id of its own"
    elif stored.is_test != data.test:
        kind = "test" if stored.is_test else "live"
        reason = f"this external_id already names a {kind} lead; send this one with an id of its own"
    else:
        return Received(stored, repeat=True)
    LEADS_REFUSED.labels("external_id").inc()
    raise Conflict(reason, [{"field": "external_id", "reason": reason}])


def _new_lead(settings: Settings, source: SourceRef, data: AnyLead, now: datetime) -> Lead:
    contact, address = data.contact, data.contact.address
    assert address.state is not None
    keys = _identity(settings, contact)
    return Lead(
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
        phone_extension=contact.phone_extension,
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


_LEAD = TypeAdapter[AnyLead](LeadCreate)


# The prefix of a quote form's key where the lead keeps it (``Lead.external_id``, unique per source):
# it says what the value is to staff reading the lead.
QUOTE_FORM_KEY_PREFIX = "quote-form:"
# What a lead keeps of the answers on the form; a form sent again must give the same ones.
_ANSWERS = (
    "line",
    "first_name",
    "last_name",
    "email",
    "phone",
    "phone_extension",
    "street",
    "city",
    "state",
    "zip_code",
    "date_of_birth",
    "currently_insured",
    "current_carrier",
    "policy_expires_on",
    "details",
)


async def receive_quote_request(
    session: AsyncSession,
    settings: Settings,
    source: SourceRef,
    request: AnyQuoteRequest,
    client_ip: str | None,
    form_key: str | None,
) -> Received:
    """Store a person's quote request (``receive``). ``form_key``, the frontend's key for the rendered
    form, is kept with the lead: the same form sent again (a double click, Back and send, a retry
    after a dropped connection) stores nothing and answers with the first lead, also when both
    requests arrive at once (the unique index on the source's ids settles it). The key sent again
    with other answers is refused (``Conflict``) and changes nothing: a new request needs a new form."""
    data = quote_request_lead(settings, request, client_ip, form_key)
    try:
        received = await receive(session, settings, source, data, consent_witnessed=True)
    except Conflict as exc:
        # Only a keyed request meets a stored lead: another person's, or another line's, answers.
        raise _form_sent_with_other_answers() from exc
    if received.repeat and _answers(received.lead) != _answers(_new_lead(settings, source, data, utcnow())):
        LEADS_REFUSED.labels("external_id").inc()
        raise _form_sent_with_other_answers()
    return received


def _answers(lead: Lead) -> dict[str, object]:
    return {name: getattr(lead, name) for name in _ANSWERS}


def _form_sent_with_other_answers() -> Conflict:
    reason = "this quote form was already sent with other answers; nothing was changed. A new request needs a new form"
    return Conflict(reason, [{"field": "header.Idempotency-Key", "reason": reason}])


def quote_request_lead(
    settings: Settings, request: AnyQuoteRequest, client_ip: str | None, form_key: str | None = None
) -> AnyLead:
    """The lead a person's quote request makes: what they gave, and what only the server may say —
    the consent they agreed to (the text the form showed, now, from their address, on the quote
    page), the form's key as the lead's id at its source, and a live, exclusive web lead without a
    vendor's campaign or sub id."""
    ip = _ip_address(client_ip)
    page = settings.services.dashboard_link("/quote")
    text = shown_consent_text(request.consent_text_sha256)
    consent = Consent(text=text, captured_at=utcnow(), ip=ip, page_url=page)
    given = {name: value for name, value in request if name not in {"consent", "consent_text_sha256"}}
    server = {"origin": "web", "test": False, "exclusive": True, "landing_page": page, "ip": ip, "consent": consent}
    external_id = {"external_id": QUOTE_FORM_KEY_PREFIX + form_key} if form_key else {}
    return _LEAD.validate_python(given | server | external_id)


def _ip_address(raw: str | None) -> str | None:
    """The client's address when it is one (a test client or a socket may name none), without an
    IPv6 scope id: ``fe80::1%eth0`` names an interface of the machine that saw the address, which
    no record keeps (``schemas.IpAddress``)."""
    try:
        address = ipaddress.ip_address(raw or "")
    except ValueError:
        return None
    return str(address).partition("%")[0]


def _consent_record(lead: Lead, consent: Consent) -> ConsentRecord:
    """The consent as captured, with the lead's keyed hashes: found by the number and address it
    covers after the lead is erased (``privacy.service.export``)."""
    return ConsentRecord(
        lead_id=lead.id,
        phone_hash=lead.phone_hash,
        email_hash=lead.email_hash,
        phone_extension=lead.phone_extension,
        text=consent.text,
        text_sha256=hashlib.sha256(consent.text.encode()).hexdigest(),
        captured_at=consent.captured_at,
        ip_address=str(consent.ip) if consent.ip else None,
        page_url=consent.page_url,
        trustedform_cert_url=consent.trustedform_cert_url,
        jornaya_leadid=consent.jornaya_leadid,
    )


async def lead_for_source(session: AsyncSession, lead_id: uuid.UUID, source: SourceRef) -> LeadForSource:
    """A lead as the source that sent it reads it (``leads.visibility``)."""
    lead = await repository.get(session, lead_id)
    if lead is None or lead.source_id != source.id:
        # The same answer for "absent" and "not yours", so ids cannot be probed.
        raise NotFound(f"lead {lead_id} not found")
    return LeadForSource(
        id=lead.id,
        line=lead.line,
        state=lead.state,
        status=lead.status,
        status_reason=visibility.reason_for_source(lead.status, lead.status_reason),
        received_at=lead.received_at,
        score=lead.score,
    )


async def visible_lead(
    session: AsyncSession, settings: Settings, lead_id: uuid.UUID, principal: Principal
) -> LeadPublic:
    """A lead as an admin or manager, or an agent working it, may see it (``leads.visibility``)."""
    lead = await repository.get(session, lead_id)
    allowed = lead is not None and (
        principal.sees_everything
        or (principal.agent_id is not None and await repository.offered_to(session, lead.id, principal.agent_id))
    )
    if lead is None or not allowed:
        raise NotFound(f"lead {lead_id} not found")
    await audit.record(session, principal.label(), "lead.viewed", "lead", str(lead.id), {})
    return await public_view(session, settings, lead, None if principal.sees_everything else principal.agent_id)


async def public_view(
    session: AsyncSession, settings: Settings, lead: Lead, agent_id: uuid.UUID | None = None
) -> LeadPublic:
    """The lead as staff see it, or as the agent ``agent_id`` does: their own offer (a shared lead
    has several) and the lead's history without the other agents'."""
    current = await repository.current_assignment(session, lead.id, agent_id)
    reader = str(agent_id) if agent_id is not None else None
    assignment = None
    if current is not None:
        a, agent = current
        returnable_until = None
        if may_return(a.status, a.outcome):
            returnable_until = return_by(a.responded_at or a.created_at, settings.routing.return_window_hours)
        assignment = AssignmentPublic(
            id=a.id,
            agent_id=a.agent_id,
            agent_name=agent.name,
            attempt=a.attempt,
            status=a.status,
            outcome=a.outcome,
            outcome_at=a.outcome_at,
            strategy=a.strategy,
            expires_at=a.expires_at,
            return_by=returnable_until,
            explanation=a.explanation if reader is None else visibility.explanation_for_agent(a.explanation, reader),
        )
    factors, insights = lead.score_factors, lead.insights
    if reader is not None:
        offer_status = assignment.status if assignment else None
        factors = visibility.score_factors_for_agent(factors, offer_status)
        insights = visibility.insights_for_agent(insights, offer_status)
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
        score_factors=factors,
        insights=insights,
        duplicate_of_id=lead.duplicate_of_id,
        assignment=assignment,
        do_not_contact=await dnc.contact_barred(session, lead) is not None,
        contact_states=contact_states(lead.state, lead.phone),
        events=events,
    )

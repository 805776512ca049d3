"""A person's rights (GDPR/CCPA): export everything we hold, and erase it while keeping aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.compliance import repository as dnc
from leadgen.compliance.rules import BARRED_BECAUSE, ERASED, own_entries
from leadgen.core.db import after_commit
from leadgen.core.errors import InvalidInput
from leadgen.core.metrics import DO_NOT_CONTACT_ADDED, RETENTION_LEADS_ANONYMISED, RETENTION_PEOPLE_ANONYMISED
from leadgen.core.security import keyed_hash
from leadgen.dedupe.rules import IdentityKeys, same_person
from leadgen.leads.lifecycle import OUTCOMES, AssignmentStatus
from leadgen.leads.normalize import email_key, parsed_phone
from leadgen.leads.visibility import CONTACT_DETAILS_VIEWED
from leadgen.models import Assignment, AuditEntry, ConsentRecord, Lead, LeadEvent, Notification
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox
from leadgen.privacy import repository, rules
from leadgen.routing import service as routing

# Why a lead was anonymised, on its ``lead.anonymised`` event; the first is also the reason its
# person's do-not-contact entries give.
ERASURE_REQUEST = "erasure request"
RETENTION = "retention"
PII_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "phone_extension",
    "street",
    "city",
    "date_of_birth",
    "ip_address",
    "user_agent",
    "notes",
    "landing_page",
    "external_id",  # the vendor's id for the person's request: with it the vendor re-identifies them
    # The vendor's sub id: often a per-click token (an affiliate's click id), which their own logs
    # tie to the person as the external id does. Nothing reports by it; the campaign stays.
    "sub_id",
    # What they told us of their insurance today: with the ZIP, a carrier's renewal date narrows
    # them down to a household.
    "currently_insured",
    "current_carrier",
    "policy_expires_on",
)
# The ZIP keeps its first three digits (the area a report groups by, as HIPAA's safe harbour keeps).
ZIP_KEPT = 3


# Words agents and staff typed about a lead, by lead event and audit action: they may describe the
# person, so they go with the person's data. Reasons picked from a fixed list stay for reporting.
TYPED_TEXT = {
    "assignment.rejected": ("reason",),
    "lead.reopened": ("note",),
    "lead.returned": ("detail",),
    **{f"lead.{outcome.lower()}": ("note",) for outcome in OUTCOMES},
}
# The audit actions of a person's requests; each entry names the leads in its ``lead_ids``.
EXPORT_ACTION = "privacy.exported"
ERASURE_ACTION = "privacy.erased"
# A consent record's keyed hashes find it (``export``); they mean nothing to the person, as the lead's.
CONSENT_HASHES = ("phone_hash", "email_hash")
# What the export adds from the audit log: what staff typed about the person, and who read their
# lead. Besides these, the entries naming the lead among their ``lead_ids``: the inbox answers that
# showed it, and the exports (``EXPORT_ACTION``) that handed it out before.
EXPORTED_AUDIT_ACTIONS = (*TYPED_TEXT, "lead.viewed")


@dataclass(frozen=True)
class DataSubject:
    """Whom a request about a person's data names: the keyed hashes of the e-mail address and phone
    number given, and the extension given with the number, which tells apart two people at one
    switchboard (``dedupe.rules.phones_match``)."""

    hashes: list[tuple[str, str]]
    phone_extension: str | None = None


def data_subject(hash_key: str, email: str | None, phone: str | None) -> DataSubject:
    hashes = []
    extension = None
    if email:
        hashes.append(("email", keyed_hash(hash_key, "email", email_key(email))))
    if phone:
        number = parsed_phone(phone)
        if number is None:
            raise InvalidInput(
                "not a valid US phone number", [{"field": "phone", "reason": "not a valid US phone number"}]
            )
        hashes.append(("phone", keyed_hash(hash_key, "phone", number.e164)))
        extension = number.extension
    if not hashes:
        reason = "give the person's e-mail address or phone number"
        raise InvalidInput(reason, [{"field": "email", "reason": reason}, {"field": "phone", "reason": reason}])
    return DataSubject(hashes, extension)


def person_hashes(hash_key: str, email: str | None, phone: str | None) -> list[tuple[str, str]]:
    """``data_subject``'s hashes alone: what an opt-out lists, the number without its extension, so
    that it bars every extension of it."""
    return data_subject(hash_key, email, phone).hashes


async def export(
    session: AsyncSession, hashes: list[tuple[str, str]], actor: str, phone_extension: str | None = None
) -> dict[str, Any]:
    """Everything held about the person with these identifiers, the phone number's with the
    extension given with it (``rules.named_by_request``). Leads that share only another phone or address with
    theirs, or their number with another extension, are listed by id, not exported: they may be a
    housemate's or a colleague's. The consent records given for those identifiers are listed too,
    those of erased leads among them (``lead_anonymised``) until their evidence goes: a complaint
    about a call is answered with them. The audit entry names the leads exported and those whose
    consent was, and a later export of the person shows it."""
    asked = _asked(hashes, phone_extension)
    leads = await _leads_of(session, asked, rules.named_by_request)
    offers_of = {
        lead.id: list(await session.scalars(select(Assignment).where(Assignment.lead_id == lead.id))) for lead in leads
    }
    # The entries naming a lead among their ``lead_ids``, read for all the person's leads at once.
    naming = [
        *await _inbox_reads(session, [offer for offers in offers_of.values() for offer in offers]),
        *await _exports_of(session, leads),
    ]
    out = []
    for lead in leads:
        consent = await session.scalar(select(ConsentRecord).where(ConsentRecord.lead_id == lead.id))
        events = await session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id == lead.id).order_by(LeadEvent.created_at)
        )
        offers = offers_of[lead.id]
        notes = await session.scalars(select(Notification).where(Notification.lead_id == lead.id))
        logged = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.in_(EXPORTED_AUDIT_ACTIONS), _about(lead, offers))
                .order_by(AuditEntry.created_at)
            )
        )
        logged += [entry for entry in naming if _names(entry, lead)]
        logged.sort(key=lambda entry: entry.created_at)
        out.append(
            {
                "lead": _columns(lead, exclude=("phone_hash", "email_hash", "address_hash")),
                "consent": _columns(consent, exclude=CONSENT_HASHES) if consent else None,
                "events": [{"name": e.name, "at": e.created_at, "data": e.data} for e in events],
                "assignments": [_columns(offer) for offer in offers],
                "notifications": [_columns(note) for note in notes],
                "audit": [{"action": e.action, "actor": e.actor, "at": e.created_at, "data": e.data} for e in logged],
            }
        )
    records = await _consent_records(session, asked)
    consents = [
        {**_columns(record, exclude=CONSENT_HASHES), "lead_anonymised": anonymised} for record, anonymised in records
    ]
    exported = [lead.id for lead in leads]
    of_erased = [consent["lead_id"] for consent in consents if consent["lead_id"] not in exported]
    await audit.record(session, actor, EXPORT_ACTION, "person", None, _lead_ids([*exported, *of_erased]))
    # The entries an erasure by these identifiers made (the number at the extension asked about among
    # them), besides those of the leads found: once the leads are anonymised, no lead gives those.
    # The consent records found still hold the identifiers the erasure listed besides the one asked
    # about (the number of a person erased by e-mail address), until their evidence goes.
    own = own_entries(asked.phone, asked.email, asked.phone_extension)
    person = (
        {value for _, value in [*hashes, *own]}
        | {value for lead in leads for _, value in dnc.identity_hashes(lead)}
        | {value for record, _ in records for value in _listed_as(record)}
    )
    listed = [
        {"kind": entry.kind, "reason": entry.reason, "since": entry.created_at}
        for entry in await dnc.entries_for(session, sorted(person))
    ]
    linked = await dnc.linked_lead_ids(session, hashes, {lead.id for lead in leads})
    return {
        "generated_at": utcnow(),
        "leads": out,
        "consent_records": consents,
        "do_not_contact": listed,
        "linked_leads": linked,
    }


async def _consent_records(session: AsyncSession, asked: IdentityKeys) -> list[tuple[ConsentRecord, bool]]:
    """The consent records given for the number (with the very extension asked about) or the
    address asked about, as ``rules.named_by_request`` takes a lead: a colleague's at another
    extension is theirs. Each with whether its lead was anonymised."""
    hashes = [value for value in (asked.phone, asked.email) if value]
    return [
        (record, anonymised_at is not None)
        for record, anonymised_at in await repository.consent_records_with_any(session, hashes)
        if rules.named_by_request(
            asked, IdentityKeys(record.phone_hash, record.email_hash, None, record.phone_extension)
        )
    ]


def _listed_as(record: ConsentRecord) -> set[str]:
    """The hashes the do-not-contact list knows the consent's number and address by, as
    ``compliance.repository.identity_hashes`` gives a lead's: the number (every extension), the
    address, and the number at the consent's extension."""
    own = own_entries(record.phone_hash, record.email_hash, record.phone_extension)
    return {value for _, value in own} | ({record.phone_hash} if record.phone_hash else set())


async def erase(
    session: AsyncSession, hashes: list[tuple[str, str]], actor: str, phone_extension: str | None = None
) -> Erasure:
    """Anonymise every lead with one of the person's identifiers (the phone number's with the
    extension given with it, ``rules.named_by_request``), with what agents and staff typed about it. Line, state,
    the ZIP's area, status, score and dates stay for reporting; the person goes on the do-not-contact
    list by keyed hash, so the opt-out survives new leads (a number given with an extension at that
    extension, ``compliance.rules.own_entries``: a colleague at another one is not barred). Leads
    that share only another phone or address with theirs, or their number with another extension,
    are reported, not erased: erasing a housemate's or a colleague's lead by mistake cannot be
    undone, so staff decide, and erase by that identifier too. The audit entry names the leads
    anonymised."""
    asked = _asked(hashes, phone_extension)
    leads = await _leads_of(session, asked, rules.named_by_request)
    # Every address the person's leads gave, and each number at the extension given with it (the
    # number itself when none was), before they are cleared: a new lead from the phone of a person
    # erased by e-mail address is stopped too, and their colleagues at other extensions are not.
    own = [own_entries(asked.phone, asked.email, asked.phone_extension), *map(dnc.own_hashes, leads)]
    person = sorted({entry for entries in own for entry in entries})
    linked = await dnc.linked_lead_ids(session, hashes, {lead.id for lead in leads})
    await anonymise(session, leads, ERASURE_REQUEST)
    added = await dnc.add_many(session, person, ERASURE_REQUEST)
    after_commit(session, partial(DO_NOT_CONTACT_ADDED.labels("erasure").inc, len(added)))
    await audit.record(session, actor, ERASURE_ACTION, "person", None, _lead_ids([lead.id for lead in leads]))
    return Erasure(leads, linked)


async def purge_person(
    session: AsyncSession, lead_id: uuid.UUID, cutoff: datetime, dry_run: bool = False
) -> list[Lead]:
    """The retention purge of the person behind the lead: the leads dedupe takes for theirs
    (``dedupe.rules.same_person``: its e-mail, or its phone with an extension that does not tell
    them apart), anonymised as an erasure anonymises once every one was last active before
    ``cutoff`` (``rules.due``, checked again under their locks). Returns those leads (with
    ``dry_run``, left as they are); none when the person is not due, or was erased since.

    Unlike an erasure, it lists nobody on the do-not-contact list: the person never asked to stop,
    and their next request for a quote must reach an agent. Whoever is listed stays so."""
    lead = await session.get(Lead, lead_id)
    if lead is None or lead.anonymised_at is not None:
        return []
    leads = await _leads_of(session, _identity_of(lead), same_person)
    if not rules.due(await repository.activity(session, leads), cutoff):
        return []
    if not dry_run:
        await anonymise(session, leads, RETENTION)
        after_commit(session, RETENTION_PEOPLE_ANONYMISED.inc)
        after_commit(session, partial(RETENTION_LEADS_ANONYMISED.inc, len(leads)))
    return leads


async def anonymise(session: AsyncSession, leads: list[Lead], reason: str) -> None:
    """Clear the leads' personal data and what agents and staff typed about them, withdraw their
    offers not yet answered, and have the vector and graph stores forget them. The same for an
    erasure request and the retention purge, named by ``reason`` on each lead's event."""
    now = utcnow()
    for lead in leads:
        identity = (lead.phone_hash, lead.email_hash, lead.phone_extension)
        for column in PII_COLUMNS:
            setattr(lead, column, None)
        lead.details = {}
        lead.zip_code = lead.zip_code[:ZIP_KEPT]
        # The score's reasons tell of the details (a tobacco habit, a BMI over 35); the score stays.
        if lead.score_factors:
            lead.score_factors = {k: v for k, v in lead.score_factors.items() if k in ("model", "probability")}
        # What the notes reader drew from the notes quotes them; its two labels stay for reporting.
        if lead.insights:
            lead.insights = {key: lead.insights[key] for key in ("intent", "urgency") if key in lead.insights}
        lead.phone_hash = lead.email_hash = lead.address_hash = None
        lead.anonymised_at = now
        consent = await session.scalar(select(ConsentRecord).where(ConsentRecord.lead_id == lead.id))
        if consent is not None:
            if consent.phone_hash is None and consent.email_hash is None:
                # Stored by a pod of the release before schema 0020, during its rollout.
                consent.phone_hash, consent.email_hash, consent.phone_extension = identity
            consent.evidence_kept_until = rules.consent_evidence_kept_until(consent.captured_at, now)
            if consent.evidence_kept_until is None:
                clear_consent_evidence(consent)
        await _erase_typed_text(session, lead)
        audit.lead_event(session, lead.id, "lead.anonymised", {"reason": reason})
        await routing.withdraw_offers(session, lead, BARRED_BECAUSE[ERASED])
        outbox.add(session, "lead.erased", str(lead.id))  # the vector and the graph links go too
    # The person's keyed hashes that a lead's screening listed, kept by the lead's id on its
    # processed ``person.linked`` events.
    await dnc.forget_processed_links(session, [lead.id for lead in leads])


def clear_consent_evidence(consent: ConsentRecord) -> None:
    """What tied the consent to the person goes, a vendor's wording of it with it: its time and the
    SHA-256 of its text stay, for the reports and to say which text was agreed to, and the text
    itself when it is the quote form's (``rules.consent_text_kept``)."""
    for column in rules.CONSENT_EVIDENCE:
        setattr(consent, column, None)
    if not rules.consent_text_kept(consent.text_sha256):
        consent.text = None
    consent.evidence_kept_until = None


@dataclass(frozen=True)
class Erasure:
    anonymised: list[Lead]
    linked: list[uuid.UUID]  # leads sharing another identifier with the person's, left for staff


def _asked(hashes: list[tuple[str, str]], phone_extension: str | None) -> IdentityKeys:
    """The person a request names, as dedupe compares people."""
    given = dict(hashes)
    return IdentityKeys(given.get("phone"), given.get("email"), None, phone_extension)


def _identity_of(lead: Lead) -> IdentityKeys:
    return IdentityKeys(lead.phone_hash, lead.email_hash, lead.address_hash, lead.phone_extension)


async def _leads_of(
    session: AsyncSession, person: IdentityKeys, theirs: Callable[[IdentityKeys, IdentityKeys], bool]
) -> list[Lead]:
    """The leads with the person's phone number or e-mail address that ``theirs`` takes for the
    person's. Locked by ``leads_with_any``, which takes a colleague's lead from their number too; it
    is left as it is."""
    hashes = [value for value in (person.phone, person.email) if value]
    return [lead for lead in await dnc.leads_with_any(session, hashes) if theirs(person, _identity_of(lead))]


def _lead_ids(lead_ids: list[uuid.UUID]) -> dict[str, Any]:
    """What a request's audit entry says of whose data it read or erased."""
    return {"lead_ids": [str(lead_id) for lead_id in lead_ids]}


def _names(entry: AuditEntry, lead: Lead) -> bool:
    return str(lead.id) in entry.data.get("lead_ids", [])


async def _inbox_reads(session: AsyncSession, offers: list[Assignment]) -> list[AuditEntry]:
    """The inbox answers that showed the contact details of one of the offers' leads: one entry per
    answer, by the agent who read it, naming the leads shown. Only agents offered a lead can have
    read it, and only once offered."""
    if not offers:
        return []
    return await repository.audited_naming(
        session,
        CONTACT_DETAILS_VIEWED,
        {offer.lead_id for offer in offers},
        since=min(offer.created_at for offer in offers),
        agents={offer.agent_id for offer in offers},
    )


async def _exports_of(session: AsyncSession, leads: list[Lead]) -> list[AuditEntry]:
    """The exports that handed out one of the leads: only after the first was received."""
    if not leads:
        return []
    return await repository.audited_naming(
        session, EXPORT_ACTION, {lead.id for lead in leads}, since=min(lead.received_at for lead in leads)
    )


def _about(lead: Lead, offers: list[Assignment]) -> ColumnElement[bool]:
    """Audit entries about the lead or one of its offers."""
    return or_(
        and_(AuditEntry.subject_type == "lead", AuditEntry.subject_id == str(lead.id)),
        and_(AuditEntry.subject_type == "assignment", AuditEntry.subject_id.in_([str(o.id) for o in offers])),
    )


async def _erase_typed_text(session: AsyncSession, lead: Lead) -> None:
    offers = list(await session.scalars(select(Assignment).where(Assignment.lead_id == lead.id)))
    for offer in offers:
        if offer.status == AssignmentStatus.REJECTED:
            offer.reason = None  # the decline reason, typed by the agent (a return's is from a list)
    entries = await session.scalars(select(AuditEntry).where(AuditEntry.action.in_(TYPED_TEXT), _about(lead, offers)))
    for entry in entries:
        entry.data = _without(entry.data, TYPED_TEXT[entry.action])
    events = await session.scalars(
        select(LeadEvent).where(LeadEvent.lead_id == lead.id, LeadEvent.name.in_(TYPED_TEXT))
    )
    for event in events:
        event.data = _without(event.data, TYPED_TEXT[event.name])
    # A server's refusal quotes the address it refused: the person's own, for messages to them.
    refused = await session.scalars(
        select(Notification).where(
            Notification.lead_id == lead.id, Notification.recipient_kind == "lead", Notification.status == "failed"
        )
    )
    for message in refused:
        message.detail = None


def _without(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in keys}


def _columns(row: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in exclude}

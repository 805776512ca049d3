"""The do-not-contact list, looked up by keyed hash."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from sqlalchemy import Exists, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from leadgen.compliance.rules import DO_NOT_CONTACT, ERASED, EXTENSION, OPTED_OUT_EVENT, extension_hash, own_entries
from leadgen.core.db import InList, insert_for
from leadgen.models import DoNotContact, Lead, LeadEvent, OutboxEvent
from leadgen.outbox.repository import PERSON_LINKED_TOPIC


class Contactable(Protocol):
    """What the contact rules read about a lead: a Lead or a row carrying the same columns."""

    state: str
    phone_hash: str | None
    phone_extension: str | None
    email_hash: str | None
    anonymised_at: datetime | None


# Rows or hashes per statement when a list is imported: well inside SQLite's limit on parameters.
_BATCH = 500
# A lead of the person: the hashes bound to "hashes" hold their phone or e-mail hash.
_EITHER_HASH = or_(InList(Lead.phone_hash, "hashes"), InList(Lead.email_hash, "hashes"))
# Asked for every lead the pipeline screens: built once.
_ANY_LISTED = select(DoNotContact.id).where(InList(DoNotContact.value_hash, "hashes")).limit(1)


async def listed(session: AsyncSession, hashes: list[str]) -> bool:
    if not hashes:
        return False
    found = await session.scalar(_ANY_LISTED, {"hashes": hashes})
    return found is not None


async def add_many(session: AsyncSession, entries: list[tuple[str, str]], reason: str) -> set[str]:
    """List each (kind, hash) not listed yet; returns the hashes that were new. Requests listing the
    same person at once all succeed: the later ones insert nothing."""
    insert = insert_for(session)
    added: set[str] = set()
    for start in range(0, len(entries), _BATCH):
        rows = [
            {"value_hash": value, "kind": kind, "reason": reason} for kind, value in entries[start : start + _BATCH]
        ]
        statement = (
            insert(DoNotContact)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[DoNotContact.value_hash])
            .returning(DoNotContact.value_hash)
        )
        added.update(await session.scalars(statement))
    return added


async def remove(session: AsyncSession, hashes: list[str]) -> list[str]:
    """Take the hashes off the list; the kinds of the entries that were there."""
    removed = await session.scalars(
        delete(DoNotContact).where(InList(DoNotContact.value_hash, "hashes")).returning(DoNotContact.kind),
        {"hashes": hashes},
    )
    return list(removed)


def identity_hashes(person: Contactable) -> list[tuple[str, str]]:
    """The keyed hashes by which the list knows the person behind a lead (none once erased): the
    number, which bars every extension of it, the e-mail address, and the number at the lead's
    extension (``rules.extension_hash``), which bars the person at it alone."""
    hashes = [(kind, value) for kind, value in (("phone", person.phone_hash), ("email", person.email_hash)) if value]
    if person.phone_hash and person.phone_extension:
        hashes.append((EXTENSION, extension_hash(person.phone_hash, person.phone_extension)))
    return hashes


def own_hashes(person: Contactable) -> list[tuple[str, str]]:
    """The entries that bar the person behind a lead and nobody else (``rules.own_entries``)."""
    return own_entries(person.phone_hash, person.email_hash, person.phone_extension)


async def listed_among(session: AsyncSession, hashes: list[str]) -> set[str]:
    """Which of the hashes are on the list: one query for a page of leads, a few for an import."""
    query = select(DoNotContact.value_hash).where(InList(DoNotContact.value_hash, "hashes"))
    found: set[str] = set()
    for batch in _batches(hashes):
        found.update(await session.scalars(query, {"hashes": batch}))
    return found


async def entries_for(session: AsyncSession, hashes: list[str]) -> list[DoNotContact]:
    """The list's entries for these hashes, oldest first (what a person's data export shows)."""
    if not hashes:
        return []
    query = select(DoNotContact).where(InList(DoNotContact.value_hash, "hashes")).order_by(DoNotContact.created_at)
    return list(await session.scalars(query, {"hashes": hashes}))


async def identities_with_any(session: AsyncSession, hashes: list[str]) -> set[tuple[str, str]]:
    """The phone and e-mail hashes of every lead that has one of ``hashes``, read without locking
    (to find the whole person before locking all their leads at once)."""
    found: set[tuple[str, str]] = set()
    query = select(Lead.phone_hash, Lead.email_hash).where(_EITHER_HASH)
    for batch in _batches(hashes):
        for phone_hash, email_hash in await session.execute(query, {"hashes": batch}):
            found.update((kind, value) for kind, value in (("phone", phone_hash), ("email", email_hash)) if value)
    return found


async def whole_person(session: AsyncSession, hashes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The person behind ``hashes``, as an opt-out sees them: those hashes and every phone and e-mail
    hash of the leads that have one of them (one step: a phone given with an e-mail address is the
    same person). Wide on purpose: listing a housemate's number stops messages, nothing worse. A
    number at an extension is taken by the number alone, which bars every extension: an entry for
    the extension too would stay behind when the number is taken off the list."""
    given = {(kind, value) for kind, value in hashes if kind != EXTENSION}
    return sorted(given | await identities_with_any(session, [value for _, value in given]))


async def linked_lead_ids(
    session: AsyncSession, hashes: list[tuple[str, str]], known: set[uuid.UUID]
) -> list[uuid.UUID]:
    """Leads not in ``known`` that share a phone or e-mail hash with the person behind ``hashes``
    (``whole_person``): perhaps the same person under another address, perhaps a housemate."""
    person = [value for _, value in await whole_person(session, hashes)]
    query = select(Lead.id).where(_EITHER_HASH)
    found: set[uuid.UUID] = set()
    for batch in _batches(person):
        found.update(await session.scalars(query, {"hashes": batch}))
    return sorted(found - known)


async def leads_with_any(session: AsyncSession, hashes: list[str]) -> list[Lead]:
    """Every lead whose phone or e-mail hash is one of ``hashes``, oldest first. They are locked in
    the order of their ids, so that two requests locking overlapping leads cannot deadlock."""
    # Read afresh under the lock: a lead the request loaded before may have changed since.
    query = (
        select(Lead).where(_EITHER_HASH).order_by(Lead.id).with_for_update().execution_options(populate_existing=True)
    )
    found: dict[uuid.UUID, Lead] = {}
    for batch in _batches(hashes):
        found.update((lead.id, lead) for lead in await session.scalars(query, {"hashes": batch}))
    return sorted(found.values(), key=lambda lead: lead.received_at)


# The event on each lead of a person an admin took off the list as listed by mistake: the opt-out
# before it was none (reports leave it out; an opt-out after it counts again).
OPT_OUT_WITHDRAWN_EVENT = "lead.opt_out_withdrawn"


def withdrawn_later() -> Exists:
    """The condition that the ``LeadEvent`` of the query around it (an opt-out) was withdrawn after."""
    withdrawal = aliased(LeadEvent)
    return (
        select(withdrawal.id)
        .where(
            withdrawal.lead_id == LeadEvent.lead_id,
            withdrawal.name == OPT_OUT_WITHDRAWN_EVENT,
            withdrawal.created_at > LeadEvent.created_at,
        )
        .exists()
    )


async def opted_out_among(session: AsyncSession, lead_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of the leads have an opt-out that stands: a ``lead.opted_out`` not withdrawn since."""
    if not lead_ids:
        return set()
    query = select(LeadEvent.lead_id).where(
        LeadEvent.name == OPTED_OUT_EVENT, LeadEvent.lead_id.in_(lead_ids), ~withdrawn_later()
    )
    return set(await session.scalars(query))


def _batches(hashes: list[str]) -> list[list[str]]:
    """An imported list may hold more hashes than SQLite takes parameters in one statement."""
    return [hashes[start : start + _BATCH] for start in range(0, len(hashes), _BATCH)]


async def contact_barred(session: AsyncSession, person: Contactable) -> str | None:
    """Why nobody may contact the person behind a lead at all (``ERASED``, ``DO_NOT_CONTACT``):
    checked before every message to them and before any agent is offered their lead."""
    if person.anonymised_at is not None:
        return ERASED
    if await listed(session, [value for _, value in identity_hashes(person)]):
        return DO_NOT_CONTACT
    return None


async def barred_among(session: AsyncSession, people: list[Contactable]) -> list[bool]:
    """``contact_barred`` for a page of leads at once (one query), as True or False for each."""
    listed_now = await listed_among(session, [value for person in people for _, value in identity_hashes(person)])
    return [
        person.anonymised_at is not None or any(value in listed_now for _, value in identity_hashes(person))
        for person in people
    ]


# A ``person.linked`` event is keyed by its lead's id and lists the keyed hashes the lead's
# screening put on the list: kept once done, it would tie the lead to the person's phone number
# and e-mail address after an erasure or the retention purge anonymised it. So it forgets them once
# processed.
_LINKED = OutboxEvent.topic == PERSON_LINKED_TOPIC


async def unfinished_links(session: AsyncSession, lead_id: str) -> list[OutboxEvent]:
    """The lead's ``person.linked`` events not processed yet, oldest first, locked until the
    transaction ends: a second delivery waits for the first, then finds them processed."""
    query = (
        select(OutboxEvent)
        .where(_LINKED, OutboxEvent.key == lead_id, OutboxEvent.processed_at.is_(None))
        .order_by(OutboxEvent.created_at, OutboxEvent.id)
        .with_for_update()
    )
    return list(await session.scalars(query))


def finish_links(events: list[OutboxEvent], when: datetime) -> None:
    """Mark the events processed, forgetting what they listed."""
    for event in events:
        event.processed_at = when
        event.payload = {}


async def forget_processed_links(session: AsyncSession, lead_ids: list[uuid.UUID]) -> None:
    """Clear what the leads' processed ``person.linked`` events listed (kept by a worker of the
    release before this one). One not processed yet keeps it: its worker bars the person's other
    leads by it, which an erasure still wants, and clears it then (``finish_links``)."""
    if not lead_ids:
        return
    await session.execute(
        update(OutboxEvent)
        .where(_LINKED, OutboxEvent.key.in_([str(lead_id) for lead_id in lead_ids]))
        .where(OutboxEvent.processed_at.is_not(None))
        .values(payload={})
        .execution_options(synchronize_session=False)
    )

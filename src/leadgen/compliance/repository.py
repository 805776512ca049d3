"""The do-not-contact list, looked up by keyed hash."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.compliance.rules import DO_NOT_CONTACT, ERASED, OPT_OUT_REASONS
from leadgen.core.db import InList
from leadgen.models import DoNotContact, Lead


class Contactable(Protocol):
    """What the contact rules read about a lead: a Lead or a row carrying the same columns."""

    state: str
    phone_hash: str | None
    email_hash: str | None
    anonymised_at: datetime | None


# Asked for every lead the pipeline screens: built once.
_ANY_LISTED = select(DoNotContact.id).where(InList(DoNotContact.value_hash, "hashes")).limit(1)


async def listed(session: AsyncSession, hashes: list[str]) -> bool:
    if not hashes:
        return False
    found = await session.scalar(_ANY_LISTED, {"hashes": hashes})
    return found is not None


async def add(session: AsyncSession, value_hash: str, kind: str, reason: str) -> bool:
    """List the hash; False when it already was (the first reason stays)."""
    if await listed(session, [value_hash]):
        return False
    session.add(DoNotContact(value_hash=value_hash, kind=kind, reason=reason))
    return True


def identity_hashes(person: Contactable) -> list[tuple[str, str]]:
    """The keyed hashes by which the list knows the person behind a lead (none once erased)."""
    return [(kind, value) for kind, value in (("phone", person.phone_hash), ("email", person.email_hash)) if value]


async def listed_among(session: AsyncSession, hashes: list[str]) -> set[str]:
    """Which of the hashes are on the list: one query for a page of leads."""
    if not hashes:
        return set()
    found = await session.scalars(
        select(DoNotContact.value_hash).where(InList(DoNotContact.value_hash, "hashes")), {"hashes": hashes}
    )
    return set(found)


async def opt_out(session: AsyncSession, hashes: list[tuple[str, str]], via: str, actor: str) -> list[uuid.UUID]:
    """The person revoked consent (``via`` one of ``OPT_OUT_REASONS``): they go on the list, and each
    of their leads gets a ``lead.opted_out`` event that the agents working it see. Returns those
    leads; none when the person was already listed, so a repeated STOP changes nothing."""
    added = [await add(session, value, kind, OPT_OUT_REASONS[via]) for kind, value in hashes]
    if not any(added):
        return []
    columns = {"email": Lead.email_hash, "phone": Lead.phone_hash}
    by_person = or_(*(columns[kind] == value for kind, value in hashes))
    lead_ids = list(await session.scalars(select(Lead.id).where(by_person).order_by(Lead.received_at)))
    for lead_id in lead_ids:
        audit.lead_event(session, lead_id, "lead.opted_out", {"via": via})
    await audit.record(session, actor, "person.opted_out", "person", None, {"via": via, "leads": len(lead_ids)})
    return lead_ids


async def contact_barred(session: AsyncSession, person: Contactable) -> str | None:
    """Why nobody may contact the person behind a lead at all (``ERASED``, ``DO_NOT_CONTACT``):
    checked before every message to them and before any agent is offered their lead."""
    if person.anonymised_at is not None:
        return ERASED
    if await listed(session, [value for _, value in identity_hashes(person)]):
        return DO_NOT_CONTACT
    return None

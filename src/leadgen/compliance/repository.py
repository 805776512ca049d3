"""The do-not-contact list, looked up by keyed hash."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance.rules import DO_NOT_CONTACT, ERASED
from leadgen.core.db import InList
from leadgen.models import DoNotContact


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


async def add(session: AsyncSession, value_hash: str, kind: str, reason: str) -> None:
    if await listed(session, [value_hash]):
        return
    session.add(DoNotContact(value_hash=value_hash, kind=kind, reason=reason))


async def contact_barred(session: AsyncSession, person: Contactable) -> str | None:
    """Why nobody may contact the person behind a lead at all (``ERASED``, ``DO_NOT_CONTACT``):
    checked before every message to them and before any agent is offered their lead."""
    if person.anonymised_at is not None:
        return ERASED
    if await listed(session, [h for h in (person.phone_hash, person.email_hash) if h]):
        return DO_NOT_CONTACT
    return None

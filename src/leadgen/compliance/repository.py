"""The do-not-contact list, looked up by keyed hash."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.db import InList
from leadgen.models import DoNotContact

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

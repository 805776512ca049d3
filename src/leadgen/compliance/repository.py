"""The do-not-contact list, looked up by keyed hash."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.models import DoNotContact


async def listed(session: AsyncSession, hashes: list[str]) -> bool:
    if not hashes:
        return False
    found = await session.scalar(select(DoNotContact.id).where(DoNotContact.value_hash.in_(hashes)).limit(1))
    return found is not None


async def add(session: AsyncSession, value_hash: str, kind: str, reason: str) -> None:
    if await listed(session, [value_hash]):
        return
    session.add(DoNotContact(value_hash=value_hash, kind=kind, reason=reason))

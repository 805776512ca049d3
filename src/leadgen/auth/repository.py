"""Queries for users, sources and API keys."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.models import ApiKey, Source, User


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.lower()))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def revoke_tokens(session: AsyncSession, user_id: uuid.UUID, **changes: bool | str) -> None:
    """Move the user's token version on (with ``changes`` to the row): every token issued before
    names an older one. Incremented in SQL, so two revocations at the same moment both count."""
    await session.execute(
        update(User).where(User.id == user_id).values(token_version=User.token_version + 1, **changes)
    )


async def source_by_name(session: AsyncSession, name: str) -> Source | None:
    return await session.scalar(select(Source).where(Source.name == name))


async def key_with_source(session: AsyncSession, prefix: str) -> tuple[ApiKey, Source] | None:
    row = (
        await session.execute(
            select(ApiKey, Source)
            .join(Source, Source.id == ApiKey.source_id)
            .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None), Source.active.is_(True))
        )
    ).first()
    return (row[0], row[1]) if row else None

"""Queries for users, sources and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import case, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Access, Role
from leadgen.models import ApiKey, Source, User

# A user's place in the listing's order: newest first, the id deciding between users of one instant.
Position = tuple[datetime, uuid.UUID]


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.lower()))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


# Moved on in SQL, so two revocations at the same moment both count: every token issued before
# names an older version.
_NEXT_TOKEN_VERSION = {"token_version": User.token_version + 1}


async def revoke_tokens(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Move the user's token version on."""
    await session.execute(update(User).where(User.id == user_id).values(_NEXT_TOKEN_VERSION))


async def user_for_update(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user as stored now, locked until the transaction ends: of two password changes at the
    same moment, the second checks its current password against the one the first stored."""
    query = select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def set_password(session: AsyncSession, user_id: uuid.UUID, password_hash: str) -> None:
    """Store the user's new password hash, and move their token version on in the same statement:
    every session of theirs ends with the old password."""
    values = {"password_hash": password_hash}
    await session.execute(update(User).where(User.id == user_id).values(values | _NEXT_TOKEN_VERSION))


async def set_access(session: AsyncSession, user_id: uuid.UUID, access: Access) -> None:
    """Give the user this role, activity and agent, and move their token version on in the same
    statement: a token names the access it was issued with. When the activity changes, the device
    version moves on too (compared with the row's, so that a user deactivated by other means, such
    as SQL, trusts no device of before once reactivated here)."""
    device_version = case((User.active != access.active, User.device_version + 1), else_=User.device_version)
    values = {
        "role": access.role.value,
        "active": access.active,
        "agent_id": access.agent_id,
        "device_version": device_version,
    }
    await session.execute(update(User).where(User.id == user_id).values(values | _NEXT_TOKEN_VERSION))


async def active_admin_ids(session: AsyncSession) -> set[uuid.UUID]:
    """The active admins, locked until the transaction ends: two admins taking each other's access
    at once are then counted one after the other, and one of them stays."""
    query = select(User.id).where(User.role == Role.ADMIN.value, User.active.is_(True)).with_for_update()
    return set(await session.scalars(query))


async def position(session: AsyncSession, user_id: uuid.UUID) -> Position | None:
    """Where the user stands in the listing's order; None when there is no such user."""
    found = (await session.execute(select(User.created_at, User.id).where(User.id == user_id))).first()
    return None if found is None else (found.created_at, found.id)


async def listing(
    session: AsyncSession,
    limit: int,
    before: Position | None = None,
    *,
    email: str | None = None,
    agent_id: uuid.UUID | None = None,
    role: Role | None = None,
    active: bool | None = None,
) -> list[User]:
    """Up to ``limit`` users, newest first, older than ``before`` when given, passing every filter
    given; ``email`` is matched as ``user_by_email`` matches it."""
    exact = [
        (User.email, None if email is None else email.lower()),
        (User.agent_id, agent_id),
        (User.role, None if role is None else role.value),
        (User.active, active),
    ]
    query = select(User).where(*(column == value for column, value in exact if value is not None))
    if before is not None:
        query = query.where(tuple_(User.created_at, User.id) < before)
    query = query.order_by(User.created_at.desc(), User.id.desc()).limit(limit)
    return list(await session.scalars(query))


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

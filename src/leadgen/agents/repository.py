"""Queries for agents."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from leadgen.models import Agent


async def listing(session: AsyncSession) -> list[Agent]:
    rows = await session.scalars(
        select(Agent).options(selectinload(Agent.licences), selectinload(Agent.shifts)).order_by(Agent.name)
    )
    return list(rows)


async def get(session: AsyncSession, agent_id: uuid.UUID, *, lock: bool = False) -> Agent | None:
    """The agent with licences and shifts; ``lock`` reads the row afresh and locks it for a change,
    so that concurrent changes to one agent, and routing's lock on it, take turns."""
    query = select(Agent).where(Agent.id == agent_id).options(selectinload(Agent.licences), selectinload(Agent.shifts))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def by_email(session: AsyncSession, email: str) -> Agent | None:
    return await session.scalar(select(Agent).where(Agent.email == email.lower()))

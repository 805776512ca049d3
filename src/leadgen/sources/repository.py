"""Queries for sources and the leads received from them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.db import insert_for
from leadgen.models import ApiKey, Lead, Source

# The source of the agency's own quote form: its leads come from the form, which has no key.
WEB_FORM_SOURCE = "web-form"


async def with_leads_received(session: AsyncSession, name: str | None = None) -> list[tuple[Source, int]]:
    """Every source (or the one named ``name``) by name, with its live leads over all time."""
    received = (
        select(Lead.source_id, func.count().label("leads"))
        .where(Lead.is_test.is_(False))
        .group_by(Lead.source_id)
        .subquery()
    )
    query = (
        select(Source, func.coalesce(received.c.leads, 0))
        .outerjoin(received, received.c.source_id == Source.id)
        .order_by(Source.name)
    )
    if name is not None:
        query = query.where(Source.name == name)
    return [(source, leads) for source, leads in await session.execute(query)]


async def for_change(session: AsyncSession, name: str) -> Source | None:
    """The source read afresh and locked, so that two changes at once take turns and each audit
    entry names the values it replaced."""
    query = select(Source).where(Source.name == name).with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def ensure_source(session: AsyncSession, name: str, kind: str) -> Source:
    """The source named ``name``, created as ``kind`` when there is none. Two requests creating it at
    once (the quote form's first two visitors) both get the one stored: the later insert does nothing.
    One of that name made as another kind is used as it is: refusing it would refuse every lead of
    the quote form, whose ``web-form`` a key issued before keys were refused for it may have made a
    vendor source (``auth.service.create_api_key``)."""
    by_name = select(Source).where(Source.name == name)
    found = await session.scalar(by_name)
    if found is None:
        await session.execute(insert_for(session)(Source).values(name=name, kind=kind).on_conflict_do_nothing())
        found = await session.scalar(by_name)
    assert found is not None  # inserted, or committed by the request that won
    return found


async def keys_of(session: AsyncSession, source: Source) -> list[ApiKey]:
    """The source's API keys, the newest first."""
    query = select(ApiKey).where(ApiKey.source_id == source.id).order_by(ApiKey.created_at.desc(), ApiKey.prefix)
    return list(await session.scalars(query))

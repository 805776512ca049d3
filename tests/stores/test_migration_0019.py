"""Migration 0019 (``leads.phone_extension``) on a database that already holds a lead, on both backends."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import inspect, select, update

from leadgen.core.db import create_engine
from leadgen.core.migrate import downgrade, upgrade
from leadgen.core.settings import Settings
from leadgen.models import Lead, Source
from tests.stores.test_migrations import _drift, _lead, _session
from tests.stores.test_migrations import empty_database as empty_database  # the fixture, for both backends


async def _lead_of_0018(settings: Settings) -> uuid.UUID:
    async with _session(settings) as session:
        source = Source(name="vendor", kind="api")
        session.add(source)
        await session.flush()
        return await _lead(session, source.id)


async def _extensions(settings: Settings) -> dict[uuid.UUID, str | None]:
    async with _session(settings) as session:
        return {row.id: row.phone_extension for row in await session.execute(select(Lead.id, Lead.phone_extension))}


async def _give_extension(settings: Settings, lead_id: uuid.UUID, extension: str) -> None:
    async with _session(settings) as session:
        await session.execute(update(Lead).where(Lead.id == lead_id).values(phone_extension=extension))


async def _lead_columns(settings: Settings) -> set[str]:
    engine = create_engine(settings, "test")
    try:
        async with engine.connect() as conn:
            return {c["name"] for c in await conn.run_sync(lambda sync: inspect(sync).get_columns("leads"))}
    finally:
        await engine.dispose()


def test_leads_stored_before_keep_no_extension_and_a_downgrade_drops_the_column(empty_database: Settings) -> None:
    upgrade(empty_database, "0018")
    lead_id = asyncio.run(_lead_of_0018(empty_database))
    upgrade(empty_database, "0019")
    assert asyncio.run(_extensions(empty_database)) == {lead_id: None}  # nothing to fill in
    asyncio.run(_give_extension(empty_database, lead_id, "101"))
    assert asyncio.run(_extensions(empty_database)) == {lead_id: "101"}

    downgrade(empty_database, "0018")
    assert "phone_extension" not in asyncio.run(_lead_columns(empty_database))
    upgrade(empty_database, "0019")
    assert asyncio.run(_extensions(empty_database)) == {lead_id: None}  # the lead kept, its extension not
    upgrade(empty_database)  # the models are the newest schema's
    assert asyncio.run(_drift(empty_database)) == []

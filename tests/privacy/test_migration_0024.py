"""Migration 0024 on both backends: processed ``person.linked`` events forget the hashes they listed;
events still to be processed, and those of other topics, are left as they are."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select

from leadgen.core.migrate import downgrade, upgrade
from leadgen.core.settings import Settings
from leadgen.models import OutboxEvent
from leadgen.models.base import utcnow
from tests.stores.test_migrations import _drift, _insert, _session
from tests.stores.test_migrations import empty_database as empty_database  # the fixture, for both backends

LISTED = {"hashes": ["a" * 64], "numbers": ["b" * 64]}


async def _events_of_0023(settings: Settings) -> dict[str, uuid.UUID]:
    """A processed and an unprocessed ``person.linked`` event, and a processed event of another
    topic with a payload, by name; with only the columns schema 0023 has (the model knows later ones)."""
    now = utcnow()
    events = {
        "processed": ("person.linked", LISTED, now),
        "waiting": ("person.linked", LISTED, None),
        "other topic": ("offers.made", {"agents": ["x"]}, now),
    }
    ids = {name: uuid.uuid4() for name in events}
    async with _session(settings) as session:
        for name, (topic, payload, processed_at) in events.items():
            values = {"id": ids[name], "topic": topic, "key": str(uuid.uuid4()), "payload": payload}
            times = {"processed_at": processed_at, "created_at": now}
            await _insert(session, OutboxEvent, values | {"dispatch_count": 0} | times)
    return ids


async def _payloads(settings: Settings, ids: dict[str, uuid.UUID]) -> dict[str, dict[str, Any]]:
    async with _session(settings) as session:
        rows = await session.execute(select(OutboxEvent.id, OutboxEvent.payload))
        found = {event_id: payload for event_id, payload in rows}
        return {name: found[event_id] for name, event_id in ids.items()}


def test_processed_person_linked_events_forget_what_they_listed(empty_database: Settings) -> None:
    upgrade(empty_database, "0023")
    ids = asyncio.run(_events_of_0023(empty_database))

    upgrade(empty_database, "0024")

    assert asyncio.run(_payloads(empty_database, ids)) == {
        "processed": {},
        "waiting": LISTED,
        "other topic": {"agents": ["x"]},
    }
    downgrade(empty_database, "0023")
    assert asyncio.run(_payloads(empty_database, ids))["waiting"] == LISTED
    upgrade(empty_database)  # the models are the newest schema's
    assert asyncio.run(_drift(empty_database)) == []

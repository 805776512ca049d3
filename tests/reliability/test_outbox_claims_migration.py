"""Schema 0025 counts each outbox delivery as it claims its event (``outbox.claims``). The events
waiting at the upgrade start with the deliveries already counted, so that none is taken for a
delivery that died in it, and a downgrade drops the counts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from leadgen.core.migrate import downgrade, upgrade
from leadgen.core.settings import Settings
from leadgen.models import OutboxEvent
from tests.conftest import BACKENDS, environment
from tests.stores.test_migrations import _columns, _drift, _empty_postgres_database, _insert, _session


@pytest.fixture(params=BACKENDS)
def at_0024(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A database of its own, migrated to the schema before 0025."""
    if request.param == "sqlite":
        with environment(LEADGEN_DB_URL=f"sqlite+aiosqlite:///{tmp_path}/leadgen.db"):
            upgrade(Settings(), "0024")
            yield Settings()
        return
    with _empty_postgres_database() as settings:
        upgrade(settings, "0024")
        yield settings


async def _waiting_at_the_upgrade(settings: Settings) -> None:
    """Schema 0024: an event retried twice, one retried once and held by a delivery now (which may
    be dying), and one processed after four tries."""
    now = datetime.now(UTC)
    rows = {"retried": (2, None, None), "held now": (1, now, None), "processed": (4, None, now)}
    async with _session(settings) as session:
        for key, (tries, held, processed) in rows.items():
            values = {"id": uuid.uuid4(), "topic": "lead.received", "key": key, "payload": {}, "dispatch_count": 1}
            times = {"failed_tries": tries, "claimed_until": held, "processed_at": processed, "created_at": now}
            await _insert(session, OutboxEvent, values | times)


async def _claims(settings: Settings) -> dict[str, tuple[int, str | None]]:
    async with _session(settings) as session:
        rows = await session.execute(select(OutboxEvent.key, OutboxEvent.claims, OutboxEvent.last_error))
        return {key: (claims, last_error) for key, claims, last_error in rows}


def test_events_waiting_at_the_upgrade_start_with_the_deliveries_already_made(at_0024: Settings) -> None:
    asyncio.run(_waiting_at_the_upgrade(at_0024))
    upgrade(at_0024)
    # The processed one is never read again: left at 0, so that the upgrade reads no other row.
    assert asyncio.run(_claims(at_0024)) == {"retried": (2, None), "held now": (2, None), "processed": (0, None)}
    downgrade(at_0024, "0024")
    assert not {"claims", "last_error"} & asyncio.run(_columns(at_0024, "outbox"))
    upgrade(at_0024)
    assert asyncio.run(_drift(at_0024)) == []

"""What routing reads of the agent it locks: the same as its first read of any agent, in fewer
round trips, and in the agent's own time zone even when that changed since the first read."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads import repository as leads_repository
from leadgen.models import Assignment, Lead
from leadgen.models.base import utcnow
from leadgen.routing import repository as routing_repository
from leadgen.routing.rules import Candidate
from tests import helpers
from tests.pipeline.test_concurrent_routing import route, submit

# Always on different dates: 25 hours apart.
WESTMOST, EASTMOST = "Pacific/Pago_Pago", "Pacific/Kiritimati"


async def read_twice(
    session: AsyncSession, lead_id: uuid.UUID, agent_id: uuid.UUID, as_read: Candidate | None = None
) -> tuple[Candidate, Candidate, int]:
    """The agent as routing first reads it, as read under its lock (given ``as_read`` as the first
    read), and how many queries the read under the lock took."""
    lead = await session.get(Lead, lead_id)
    assert lead is not None
    now = utcnow()
    [first] = await routing_repository.candidates(session, lead, now, [agent_id])
    statements: list[str] = []

    def keep(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().startswith("SELECT"):  # not SQLite's BEGIN IMMEDIATE, the lock's there
            statements.append(statement)

    engine = session.bind.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", keep)
    try:
        locked = await routing_repository.locked_candidate(session, lead, now, as_read or first, wait=False)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert locked is not None
    return first, locked, len(statements)


async def test_the_agent_under_its_lock_is_read_in_one_statement_as_the_first_read_reads_it(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """The lock, then one statement for the agent's row, its shifts and its offers of the day,
    where the first read takes three: the same candidate, offers and shifts included."""
    agent = await helpers.agent(session, ["TX"])
    await session.commit()
    await route(resources, settings, await submit(client, key), [agent.id])
    lead_id = await submit(client, key)
    first, locked, statements = await read_twice(session, lead_id, agent.id)
    assert (locked.assigned_today, len(locked.shifts)) == (1, 2)  # today's and yesterday's shift
    assert sorted(locked.shifts, key=lambda s: s.weekday) == sorted(first.shifts, key=lambda s: s.weekday)
    assert dataclasses.replace(locked, shifts=first.shifts) == first
    assert statements == 2


async def test_an_agent_whose_time_zone_changed_since_the_first_read_is_read_in_its_new_zone(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """Routing read the agent in one zone, an admin moved them to another before the lock: their
    offers since midnight and their shifts are those of the zone they are in now."""
    agent = await helpers.agent(session, ["TX"], timezone=WESTMOST)
    await session.commit()
    [offer] = await route(resources, settings, await submit(client, key), [agent.id])
    # Early in the agent's day: after their midnight, long before the eastmost zone's.
    local = utcnow().astimezone(ZoneInfo(WESTMOST))
    midnight = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo).astimezone(UTC)
    await session.execute(
        update(Assignment).where(Assignment.id == offer.id).values(created_at=midnight + timedelta(minutes=30))
    )
    await session.commit()
    lead_id = await submit(client, key)
    lead = await leads_repository.get(session, lead_id)
    assert lead is not None
    [stale] = await routing_repository.candidates(session, lead, utcnow(), [agent.id])
    stale = dataclasses.replace(stale, timezone=EASTMOST)
    first, locked, statements = await read_twice(session, lead_id, agent.id, as_read=stale)
    assert (locked.timezone, locked.assigned_today) == (WESTMOST, 1)
    assert sorted(locked.shifts, key=lambda s: s.weekday) == sorted(first.shifts, key=lambda s: s.weekday)
    assert dataclasses.replace(locked, shifts=first.shifts) == first
    assert statements == 5  # the lock, the one-statement read, then the three of any agent's

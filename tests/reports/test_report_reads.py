"""How the performance report reads the events on PostgreSQL: those it counts are found by name,
through their index, rather than by reading every event of every lead ever received."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance.rules import OPTED_OUT_EVENT
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Assignment, Lead, LeadEvent, Source
from leadgen.models.base import utcnow
from leadgen.reports import repository
from leadgen.reports.rules import GROUPINGS
from tests import helpers

INDEX = "ix_lead_events_reported_name_lead_id_created_at"


async def _statements_of_the_reports(session: AsyncSession) -> list[tuple[str, Any]]:
    """Every statement the report by each grouping runs over the last 30 days, with its parameters."""
    ran: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        ran.append((statement, parameters))

    engine = session.bind.engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", record)
    try:
        now = utcnow()
        for by in GROUPINGS:
            await repository.performance(session, by, now - timedelta(days=30), now)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return ran


@pytest.mark.parametrize("backend", ["postgres"])
async def test_each_read_of_the_events_finds_them_by_name_through_their_index(
    session: AsyncSession, backend: str
) -> None:
    """Asked to read the events through an index, and the index of every event by lead set aside
    (over a short period of a book this small, probing it lead by lead is as cheap), PostgreSQL
    finds one for every read: the reported events' own. Without it, each read is of the whole
    table. The index is dropped inside the transaction only, which is rolled back."""
    source = Source(name="vendor-a", cost_per_lead_cents=1000)
    session.add(source)
    agent = await helpers.agent(session, ["TX"], name="Ana")
    await session.flush()
    lead = Lead(
        id=uuid.uuid4(),
        source_id=source.id,
        price_cents=1000,
        line="auto",
        origin="api",
        state="TX",
        zip_code="75201",
        status=LeadStatus.CONVERTED,
        received_at=utcnow() - timedelta(days=1),
    )
    session.add(lead)
    await session.flush()
    session.add(
        Assignment(
            lead_id=lead.id,
            agent_id=agent.id,
            attempt=1,
            strategy="round_robin",
            status=AssignmentStatus.ACCEPTED,
            expires_at=utcnow(),
            responded_at=utcnow(),
        )
    )
    for name in ("lead.received", "lead.contacted", "lead.converted", OPTED_OUT_EVENT):
        session.add(LeadEvent(lead_id=lead.id, name=name, data={"agent_id": str(agent.id)}))
    await session.commit()

    reads = [(s, p) for s, p in await _statements_of_the_reports(session) if "lead_events" in s]
    assert reads
    connection = await (await session.connection()).get_raw_connection()
    driver = connection.driver_connection
    assert driver is not None
    await driver.execute("SET LOCAL enable_seqscan = off")
    await driver.execute("DROP INDEX ix_lead_events_lead_id")
    try:
        for statement, parameters in reads:
            plan = "\n".join(row[0] for row in await driver.fetch(f"EXPLAIN {statement}", *parameters))
            assert INDEX in plan and "Seq Scan on lead_events" not in plan, plan
    finally:
        await session.rollback()

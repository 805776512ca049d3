"""The lead list: newest first, pages that neither repeat nor skip a lead, read from an index."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.leads import repository as leads
from leadgen.models import Lead, Source
from leadgen.models.base import utcnow


async def _book(session: AsyncSession, received: list[int]) -> list[Lead]:
    """Leads received ``received[i]`` minutes ago; equal minutes make ties."""
    source = Source(id=uuid.uuid4(), name=f"vendor-{uuid.uuid4().hex[:6]}", kind="api")
    session.add(source)
    now = utcnow()
    book = [
        Lead(
            id=uuid.uuid4(),
            source_id=source.id,
            line="auto",
            origin="api",
            state="TX",
            zip_code="75201",
            received_at=now - timedelta(minutes=minutes),
        )
        for minutes in received
    ]
    session.add_all(book)
    await session.commit()
    return book


async def test_pages_run_newest_first_and_ties_neither_repeat_nor_skip(session: AsyncSession) -> None:
    book = await _book(session, [5, 1, 3, 3, 3, 1, 8])
    pages = [await leads.listing(session, None, None, 2, offset) for offset in range(0, 8, 2)]
    listed = [lead.id for page in pages for lead in page]
    assert sorted(listed) == sorted(lead.id for lead in book)
    times = [lead.received_at for page in pages for lead in page]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_page_is_read_from_the_received_at_index_without_sorting_the_table(
    session: AsyncSession, backend: str
) -> None:
    await _book(session, [1, 2, 3])
    statements: list[str] = []

    def keep(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = session.bind.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", keep)
    try:
        await leads.listing(session, None, None, 50, 100)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    listing = next(s for s in statements if s.lstrip().startswith("SELECT"))
    async with session.bind.connect() as conn:  # type: ignore[union-attr]
        # A three-lead table is read whole by choice; the question is whether the index can serve
        # the list's order, which is what a table of millions needs.
        await conn.execute(text("SET enable_seqscan = off"))
        raw = await conn.get_raw_connection()
        plan = await raw.driver_connection.fetch(f"EXPLAIN {listing}", 50, 100)  # type: ignore[union-attr]
    shown = "\n".join(row[0] for row in plan)
    assert "ix_leads_received_at_id" in shown
    assert "Sort" not in shown

"""The agent's inbox through the API: current offers always listed, past ones paged, and every answer
showing contact details audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.leads.visibility import CONTACT_DETAILS_VIEWED
from leadgen.models import Assignment, AuditEntry, Lead, Source
from leadgen.models.base import utcnow
from leadgen.privacy import service as privacy
from tests import helpers

PAST = [AssignmentStatus.TIMED_OUT, AssignmentStatus.REJECTED, AssignmentStatus.WITHDRAWN, AssignmentStatus.RETURNED]


@dataclass
class Book:
    headers: dict[str, str]
    pending: uuid.UUID
    working: uuid.UUID  # accepted, contacted, not converted or lost yet
    working_lead: uuid.UUID
    converted_lead: uuid.UUID
    past: list[uuid.UUID]  # newest first, as the inbox lists them
    other_agents_offer: uuid.UUID


async def _offer(
    session: AsyncSession,
    source: Source,
    agent_id: uuid.UUID,
    made: datetime,
    status: AssignmentStatus,
    outcome: LeadStatus | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """(offer id, lead id) of a new lead offered to the agent at ``made``."""
    lead = Lead(
        source_id=source.id,
        line="auto",
        origin="api",
        state="TX",
        zip_code="75201",
        first_name="Dana",
        phone="+12145550100",
        status=LeadStatus.ROUTED,
    )
    session.add(lead)
    await session.flush()
    offer = Assignment(
        lead_id=lead.id,
        agent_id=agent_id,
        attempt=1,
        strategy="round_robin",
        status=status,
        expires_at=made + timedelta(minutes=15),
        created_at=made,
        outcome=outcome,
        closed_at=made if outcome in (LeadStatus.CONVERTED, LeadStatus.LOST) else None,
    )
    session.add(offer)
    await session.flush()
    return offer.id, lead.id


@pytest.fixture
async def book(client: AsyncClient, session: AsyncSession) -> Book:
    """An agent with a pending offer and a lead it is working, both older than its seven past
    offers (two of them made at the same moment) and an accepted lead it has converted."""
    agent = await helpers.agent(session, ["TX"])
    other = await helpers.agent(session, ["TX"])
    email = await helpers.user(session, Role.AGENT, agent.id)
    source = Source(name="inbox-vendor", kind="api")
    session.add(source)
    await session.flush()
    now = utcnow()

    def days_ago(days: int) -> datetime:
        return now - timedelta(days=days)

    pending, _ = await _offer(session, source, agent.id, days_ago(90), AssignmentStatus.PENDING)
    working, working_lead = await _offer(
        session, source, agent.id, days_ago(60), AssignmentStatus.ACCEPTED, LeadStatus.CONTACTED
    )
    converted, converted_lead = await _offer(
        session, source, agent.id, days_ago(30), AssignmentStatus.ACCEPTED, LeadStatus.CONVERTED
    )
    past = [converted]
    for n, days in enumerate([20, 10, 5, 5, 3, 2, 1]):
        past.append((await _offer(session, source, agent.id, days_ago(days), PAST[n % len(PAST)]))[0])
    others, _ = await _offer(session, source, other.id, days_ago(1), AssignmentStatus.TIMED_OUT)
    await session.commit()
    newest_first = await session.scalars(
        select(Assignment.id)
        .where(Assignment.id.in_(past))
        .order_by(Assignment.created_at.desc(), Assignment.id.desc())
    )
    headers = await helpers.bearer(client, email)
    return Book(headers, pending, working, working_lead, converted_lead, list(newest_first), others)


async def _inbox(client: AsyncClient, book: Book, **params: str | int) -> list[dict[str, object]]:
    answer = await client.get("/api/v1/assignments", params=params, headers=book.headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()
    return items


class TestPages:
    async def test_current_offers_are_listed_however_many_newer_past_ones_there_are(
        self, client: AsyncClient, book: Book
    ) -> None:
        items = await _inbox(client, book, limit=3)
        current = [(item["assignment_id"], item["current"]) for item in items[:2]]
        assert current == [(str(book.working), True), (str(book.pending), True)]
        assert items[0]["phone"] == "+12145550100" and items[0]["first_name"] == "Dana"
        assert [item["assignment_id"] for item in items[2:]] == [str(offer) for offer in book.past[:3]]
        assert not any(item["current"] for item in items[2:])

    async def test_pages_of_past_offers_neither_repeat_nor_skip_one(self, client: AsyncClient, book: Book) -> None:
        listed = [item["assignment_id"] for item in (await _inbox(client, book, limit=3))[2:]]
        while True:
            page = await _inbox(client, book, limit=3, before=str(listed[-1]))
            assert not any(item["current"] for item in page)
            listed += [item["assignment_id"] for item in page]
            if len(page) < 3:
                break
        assert listed == [str(offer) for offer in book.past]

    async def test_without_parameters_the_answer_is_as_before_for_a_small_inbox(
        self, client: AsyncClient, book: Book
    ) -> None:
        items = await _inbox(client, book)
        assert len(items) == 2 + len(book.past)

    @pytest.mark.parametrize("before", ["other agent's", "unknown"])
    async def test_a_page_after_an_offer_not_yours_is_404(self, client: AsyncClient, book: Book, before: str) -> None:
        offer = book.other_agents_offer if before == "other agent's" else uuid.uuid4()
        answer = await client.get("/api/v1/assignments", params={"before": str(offer)}, headers=book.headers)
        assert answer.status_code == 404, answer.text

    async def test_staff_have_no_inbox(self, client: AsyncClient, session: AsyncSession) -> None:
        admin = await helpers.user(session, Role.ADMIN)
        await session.commit()
        answer = await client.get("/api/v1/assignments", headers=await helpers.bearer(client, admin))
        assert answer.status_code == 403


async def _contact_audits(session: AsyncSession) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == CONTACT_DETAILS_VIEWED).order_by(AuditEntry.created_at)
    return list(await session.scalars(query.execution_options(populate_existing=True)))


class TestAudit:
    async def test_each_answer_showing_contact_details_is_audited_with_its_leads(
        self, client: AsyncClient, session: AsyncSession, book: Book
    ) -> None:
        for _ in range(2):
            await _inbox(client, book)
        entries = await _contact_audits(session)
        assert len(entries) == 2
        shown = {str(book.working_lead), str(book.converted_lead)}
        for entry in entries:
            assert entry.actor.startswith("user:") and entry.subject_type == "agent"
            assert set(entry.data["lead_ids"]) == shown

    async def test_a_persons_export_names_each_inbox_answer_that_showed_their_details(
        self, client: AsyncClient, session: AsyncSession, book: Book
    ) -> None:
        for _ in range(2):
            await _inbox(client, book)
        pending_lead = await session.scalar(select(Assignment.lead_id).where(Assignment.id == book.pending))
        for lead_id, reads in ((book.working_lead, 2), (pending_lead, 0)):
            offers = list(await session.scalars(select(Assignment).where(Assignment.lead_id == lead_id)))
            assert len(await privacy._inbox_reads(session, offers)) == reads

    async def test_an_answer_without_contact_details_is_not_audited(
        self, client: AsyncClient, session: AsyncSession, book: Book
    ) -> None:
        # The converted lead, the one past offer the agent accepted, is the oldest: not on this page.
        page = await _inbox(client, book, limit=3, before=str(book.past[0]))
        assert page and not any(item["phone"] or item["first_name"] for item in page)
        assert await _contact_audits(session) == []

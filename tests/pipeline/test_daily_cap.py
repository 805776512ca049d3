"""The daily cap: how many leads an agent is sent a day. An offer the agent had the chance to answer
counts, whatever they made of it; one taken back before they could answer does not."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads import repository as leads_repository
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Assignment
from leadgen.models.base import utcnow
from leadgen.routing import service as routing
from tests import helpers
from tests.conftest import lead_payload


async def submit(client: AsyncClient, key: str) -> uuid.UUID:
    response = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


@pytest.mark.parametrize(
    ("status", "answered_after", "counts"),
    [
        # Withdrawn (the person opted out, another taker of a shared lead returned it, the agent was
        # deactivated) while the agent could still answer: never really theirs.
        (AssignmentStatus.WITHDRAWN, timedelta(minutes=5), False),
        # Withdrawn only once its deadline had passed: the agent had the whole time to answer, as
        # with an offer the SLA sweep timed out.
        (AssignmentStatus.WITHDRAWN, timedelta(minutes=20), True),
        (AssignmentStatus.REJECTED, timedelta(minutes=5), True),
        (AssignmentStatus.TIMED_OUT, timedelta(minutes=15), True),
        (AssignmentStatus.RETURNED, timedelta(minutes=5), True),
        (AssignmentStatus.ACCEPTED, timedelta(minutes=5), True),
    ],
    ids=["withdrawn in time", "withdrawn past its deadline", "declined", "timed out", "returned", "accepted"],
)
async def test_which_offers_of_today_use_up_the_daily_cap(
    status: AssignmentStatus,
    answered_after: timedelta,
    counts: bool,
    client: AsyncClient,
    key: str,
    session: AsyncSession,
    resources: Resources,
    settings: Settings,
) -> None:
    ben = await helpers.agent(session, ["TX"], name="Ben", daily_cap=1)
    await session.commit()
    # Sent at the moment of the next routing, so on the same day of Ben's whatever the time of day;
    # its answer and deadline are only data to the count.
    sent = utcnow()
    session.add(
        Assignment(
            lead_id=await submit(client, key),
            agent_id=ben.id,
            attempt=1,
            slot=0,
            strategy="round_robin",
            explanation={},
            status=status,
            created_at=sent,
            expires_at=sent + timedelta(minutes=15),
            responded_at=sent + answered_after,
        )
    )
    await session.commit()
    lead_id = await submit(client, key)
    async with resources.unit_of_work() as s:
        lead = await leads_repository.get(s, lead_id, lock=True)
        assert lead is not None
        offers = await routing.route(s, settings, lead, sent, [ben.id])
        status_after = lead.status
    if counts:
        assert (offers, status_after) == ([], LeadStatus.UNASSIGNED)
    else:
        assert [offer.agent_id for offer in offers] == [ben.id]

"""What the pipeline makes of a vendor's test lead, which earlier lead of a person makes a new one a
duplicate, and the day on which the graph checks licence expiry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth.roles import Principal, Role
from leadgen.compliance import repository as dnc
from leadgen.core.resources import Resources
from leadgen.core.security import keyed_hash
from leadgen.core.settings import Settings
from leadgen.leads import outcomes
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, DoNotContact, Lead, OutboxEvent
from leadgen.models.base import utcnow
from leadgen.pipeline.service import TEST_LEAD, pipeline_for, process_lead
from leadgen.routing import service as routing
from leadgen.targets.api import create_app
from tests import helpers
from tests.conftest import lead_payload, started, sync_graph


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for c in started(create_app(settings)):
        yield c


@pytest.fixture
async def key(session: AsyncSession) -> str:
    plaintext = await helpers.api_key(session)
    await session.commit()
    return plaintext


@pytest.fixture
async def texas_agent(session: AsyncSession) -> Agent:
    agent = await helpers.agent(session, ["TX"])
    await session.commit()
    return agent


async def submit(client: AsyncClient, key: str, payload: dict[str, Any]) -> uuid.UUID:
    response = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


async def run(resources: Resources, lead_id: uuid.UUID, now: datetime | None = None) -> Lead:
    """The lead through the pipeline (with the agents the test created synced to the graph), read back."""
    await sync_graph(resources)
    async with resources.unit_of_work() as s:
        await process_lead(s, pipeline_for(resources), lead_id, now or utcnow())
    async with resources.require_sessions()() as s:
        lead = await s.get(Lead, lead_id)
        assert lead is not None
        return lead


async def offers_of(session: AsyncSession, lead_id: uuid.UUID) -> list[Assignment]:
    query = select(Assignment).where(Assignment.lead_id == lead_id).order_by(Assignment.attempt)
    return list(await session.scalars(query.execution_options(populate_existing=True)))


async def event_names(session: AsyncSession, lead_id: uuid.UUID) -> list[str]:
    return [e.name for e in await audit.lead_events(session, lead_id)]


def same_person(payload: dict[str, Any], **changes: object) -> dict[str, Any]:
    """Another lead of the person in ``payload`` (same phone and e-mail), with top-level changes."""
    again = lead_payload(**changes)
    again["contact"] = payload["contact"]
    return again


def email_hash(settings: Settings, payload: dict[str, Any]) -> str:
    """The keyed hash the do-not-contact list holds for the payload's e-mail address."""
    return keyed_hash(settings.security.pii_hash_key.get_secret_value(), "email", payload["contact"]["email"])


class TestTestLeads:
    """A vendor's test lead is screened and scored like a live one, then offered to nobody."""

    async def test_a_test_lead_gets_the_live_leads_score_and_ends_test_with_nobody_offered_or_messaged(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, texas_agent: Agent
    ) -> None:
        live_id = await submit(client, key, lead_payload())
        test_id = await submit(client, key, lead_payload(test=True))
        # Received at the same moment, so that the time of day scores alike too.
        same_moment = utcnow()
        await session.execute(update(Lead).where(Lead.id.in_([live_id, test_id])).values(received_at=same_moment))
        await session.commit()
        live, test = await run(resources, live_id), await run(resources, test_id)

        assert live.status == LeadStatus.ROUTED and len(await offers_of(session, live.id)) == 1
        assert (test.status, test.status_reason) == (LeadStatus.TEST, TEST_LEAD)
        assert test.score == live.score and test.score_factors == live.score_factors
        assert await offers_of(session, test.id) == []
        # No offer e-mail, no acknowledgement, no alert: only its own intake event went out.
        topics = await session.scalars(select(OutboxEvent.topic).where(OutboxEvent.key.startswith(str(test.id))))
        assert list(topics) == ["lead.received"]
        events = set(await event_names(session, test.id))
        assert {"lead.scored", "lead.test"} <= events and not {"lead.routed", "lead.unassigned"} & events
        # Nothing counts against the agent's caps but the live lead.
        agents_offers = await session.scalars(select(Assignment.lead_id).where(Assignment.agent_id == texas_agent.id))
        assert list(agents_offers) == [live.id]
        assert await pipeline_for(resources).vectors.get(test.id) is None  # search knows live leads only

    @pytest.mark.parametrize("problem", ["ZIP and state disagree", "on the do-not-contact list"])
    async def test_a_test_lead_is_screened_out_like_a_live_one(
        self,
        problem: str,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
        texas_agent: Agent,
    ) -> None:
        live, test = lead_payload(), lead_payload(test=True)
        ids = [await submit(client, key, live), await submit(client, key, test)]
        if problem == "ZIP and state disagree":
            await session.execute(update(Lead).where(Lead.id.in_(ids)).values(state="OK"))
        else:
            hashes = [("email", email_hash(settings, payload)) for payload in (live, test)]
            await dnc.add_many(session, hashes, "asked not to be called")
        await session.commit()
        expected = LeadStatus.INVALID if problem == "ZIP and state disagree" else LeadStatus.REJECTED
        for lead_id in ids:
            lead = await run(resources, lead_id)
            assert (lead.status, lead.status_reason) == (expected, problem)
            assert await offers_of(session, lead_id) == []

    async def test_a_live_lead_after_a_test_lead_of_the_same_person_is_routed(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, texas_agent: Agent
    ) -> None:
        test_payload = lead_payload(test=True)
        test = await run(resources, await submit(client, key, test_payload))
        assert test.status == LeadStatus.TEST
        live = await run(resources, await submit(client, key, same_person(test_payload)))
        assert (live.status, live.duplicate_of_id) == (LeadStatus.ROUTED, None)
        assert await pipeline_for(resources).graph.duplicates_of(live.id) == []  # the test lead links nobody

    async def test_a_test_lead_still_waiting_for_the_pipeline_is_nobodys_original(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, texas_agent: Agent
    ) -> None:
        test_payload = lead_payload(test=True)
        test_id = await submit(client, key, test_payload)
        live = await run(resources, await submit(client, key, same_person(test_payload)))
        assert (live.status, live.duplicate_of_id) == (LeadStatus.ROUTED, None)
        test = await run(resources, test_id)
        assert (test.status, test.duplicate_of_id) == (LeadStatus.TEST, None)

    async def test_a_test_lead_after_a_live_lead_of_the_same_person_is_no_duplicate(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, texas_agent: Agent
    ) -> None:
        live_payload = lead_payload()
        live = await run(resources, await submit(client, key, live_payload))
        assert live.status == LeadStatus.ROUTED
        test = await run(resources, await submit(client, key, same_person(live_payload, test=True)))
        assert (test.status, test.duplicate_of_id) == (LeadStatus.TEST, None)
        assert "lead.requested_again" not in await event_names(session, live.id)


class TestOriginals:
    """An earlier lead of the person stops a new one only while someone has the person or may get them."""

    async def _accepted(self, resources: Resources, session: AsyncSession, lead: Lead) -> Principal:
        [offer] = await offers_of(session, lead.id)
        agent = Principal(uuid.uuid4(), Role.AGENT, offer.agent_id)
        async with resources.unit_of_work() as s:
            await routing.accept(s, agent, offer.id)
        return agent

    @pytest.mark.parametrize("ended", ["returned", "unassigned", "rejected"])
    async def test_a_new_request_after_an_earlier_lead_nobody_holds_is_routed(
        self,
        ended: str,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
    ) -> None:
        first_payload = lead_payload()
        if ended == "unassigned":  # nobody licensed in Texas yet
            first = await run(resources, await submit(client, key, first_payload))
            await helpers.agent(session, ["TX"])
            await session.commit()
        elif ended == "returned":
            await helpers.agent(session, ["TX"])
            await session.commit()
            first = await run(resources, await submit(client, key, first_payload))
            agent = await self._accepted(resources, session, first)
            async with resources.unit_of_work() as s:
                await outcomes.return_lead(s, settings, agent, first.id, "not_interested_never_requested", None)
        else:  # on the list then, taken off it since with the person's new written consent
            await helpers.agent(session, ["TX"])
            email = email_hash(settings, first_payload)
            await dnc.add_many(session, [("email", email)], "asked not to be called")
            await session.commit()
            first = await run(resources, await submit(client, key, first_payload))
            await session.execute(delete(DoNotContact).where(DoNotContact.value_hash == email))
            await session.commit()
        ended_as = await session.get(Lead, first.id, populate_existing=True)
        assert ended_as is not None and ended_as.status == LeadStatus[ended.upper()]

        again = await run(resources, await submit(client, key, same_person(first_payload)))
        assert (again.status, again.duplicate_of_id) == (LeadStatus.ROUTED, None)
        assert [o.status for o in await offers_of(session, again.id)] == [AssignmentStatus.PENDING]

    @pytest.mark.parametrize("recorded", [LeadStatus.ACCEPTED, LeadStatus.LOST])
    async def test_a_new_request_after_a_lead_an_agent_took_goes_to_that_agent(
        self,
        recorded: LeadStatus,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        texas_agent: Agent,
    ) -> None:
        first_payload = lead_payload()
        first = await run(resources, await submit(client, key, first_payload))
        agent = await self._accepted(resources, session, first)
        if recorded == LeadStatus.LOST:
            async with resources.unit_of_work() as s:
                await outcomes.record_outcome(s, agent, first.id, LeadStatus.LOST, None)

        again = await run(resources, await submit(client, key, same_person(first_payload)))
        assert (again.status, again.duplicate_of_id) == (LeadStatus.DUPLICATE, first.id)
        assert await offers_of(session, again.id) == []
        assert "lead.passed_to_owner" in await event_names(session, again.id)


class TestLicenceExpiryInTheGraph:
    """A licence holds through its expiry day in the agent's own time zone, for the graph's
    pre-filter as for routing's hard filter."""

    EXPIRES_ON = date(2026, 7, 15)

    async def _los_angeles_agent_and_a_california_lead(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> tuple[Agent, uuid.UUID]:
        agent = await helpers.agent(
            session, ["CA"], expires_on=self.EXPIRES_ON, timezone="America/Los_Angeles", name="Los Angeles"
        )
        # An agent whose clock is already on the next day (licensed elsewhere): the graph is asked
        # about the earliest date among the agents' zones, not the latest.
        await helpers.agent(session, ["NV"], timezone="Asia/Tokyo")
        await session.commit()
        payload = lead_payload()
        payload["contact"]["address"] = {"street": "1 Main Street", "city": "Los Angeles", "zip": "90012"}
        return agent, await submit(client, key, payload)

    async def test_an_agent_is_offered_leads_until_the_end_of_the_expiry_day_in_their_time_zone(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources
    ) -> None:
        agent, lead_id = await self._los_angeles_agent_and_a_california_lead(client, key, session)
        evening = datetime(2026, 7, 16, 3, 0, tzinfo=UTC)  # 20:00 PDT on the expiry day
        lead = await run(resources, lead_id, evening)
        assert lead.status == LeadStatus.ROUTED, lead.status_reason
        assert [o.agent_id for o in await offers_of(session, lead.id)] == [agent.id]

    async def test_the_next_day_in_their_time_zone_the_licence_has_expired(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources
    ) -> None:
        _, lead_id = await self._los_angeles_agent_and_a_california_lead(client, key, session)
        after_midnight = datetime(2026, 7, 16, 8, 0, tzinfo=UTC)  # 01:00 PDT the day after
        lead = await run(resources, lead_id, after_midnight)
        assert (lead.status, lead.status_reason) == (LeadStatus.UNASSIGNED, "no agent licensed for auto in CA")

"""What the pipeline makes of a vendor's test lead, which earlier lead of a person makes a new one a
duplicate, and the day on which the graph checks licence expiry."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents import service as agents_service
from leadgen.agents.schemas import AgentUpdate
from leadgen.audit import repository as audit
from leadgen.auth.roles import Principal, Role
from leadgen.compliance import repository as dnc
from leadgen.core.resources import Resources
from leadgen.core.security import keyed_hash
from leadgen.core.settings import Settings
from leadgen.leads import outcomes
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, DoNotContact, Lead, LeadEvent, OutboxEvent
from leadgen.models.base import utcnow
from leadgen.pipeline import tasks as pipeline_tasks
from leadgen.pipeline.service import TEST_LEAD, duplicates_to_release, pipeline_for, process_lead, release_duplicate
from leadgen.privacy import service as privacy
from leadgen.routing import service as routing
from tests import helpers
from tests.conftest import lead_payload, sync_graph


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


async def accepted(resources: Resources, session: AsyncSession, lead: Lead) -> Principal:
    """The lead's one offer accepted by its agent, who is returned."""
    [offer] = await offers_of(session, lead.id)
    agent = Principal(uuid.uuid4(), Role.AGENT, offer.agent_id)
    async with resources.unit_of_work() as s:
        await routing.accept(s, agent, offer.id)
    return agent


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
            agent = await accepted(resources, session, first)
            async with resources.unit_of_work() as s:
                await outcomes.return_lead(s, settings, agent, first.id, "not_interested_never_requested", None)
        else:  # on the list then, taken off it since with the person's new written consent
            await helpers.agent(session, ["TX"])
            email = email_hash(settings, first_payload)
            await dnc.add_many(session, [("email", email)], "asked not to be called")
            await session.commit()
            first = await run(resources, await submit(client, key, first_payload))
            # The person's e-mail address and the phone the rejected lead gave with it, which joined it.
            await session.execute(delete(DoNotContact))
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
        agent = await accepted(resources, session, first)
        if recorded == LeadStatus.LOST:
            async with resources.unit_of_work() as s:
                await outcomes.record_outcome(s, agent, first.id, LeadStatus.LOST, None)

        again = await run(resources, await submit(client, key, same_person(first_payload)))
        assert (again.status, again.duplicate_of_id) == (LeadStatus.DUPLICATE, first.id)
        assert await offers_of(session, again.id) == []
        assert "lead.passed_to_owner" in await event_names(session, again.id)

    async def test_a_new_request_after_a_lead_whose_agent_was_deactivated_is_routed(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, texas_agent: Agent
    ) -> None:
        """A taken lead counts only while an active agent holds it: the deactivated agent is told
        nothing, so the new request goes to an agent who can work it."""
        first_payload = lead_payload()
        first = await run(resources, await submit(client, key, first_payload))
        await accepted(resources, session, first)
        async with resources.unit_of_work() as s:
            await agents_service.update(s, texas_agent.id, AgentUpdate(active=False), "test")
        active = await helpers.agent(session, ["TX"])
        await session.commit()

        again = await run(resources, await submit(client, key, same_person(first_payload)))
        assert (again.status, again.duplicate_of_id) == (LeadStatus.ROUTED, None)
        assert [(o.agent_id, o.status) for o in await offers_of(session, again.id)] == [
            (active.id, AssignmentStatus.PENDING)
        ]
        assert "lead.passed_to_owner" not in await event_names(session, again.id)
        assert "lead.requested_again" not in await event_names(session, first.id)


async def released_event(session: AsyncSession, lead_id: uuid.UUID) -> dict[str, Any] | None:
    query = select(LeadEvent.data).where(LeadEvent.lead_id == lead_id, LeadEvent.name == "lead.released")
    return await session.scalar(query)


async def topics_of(session: AsyncSession, lead_id: uuid.UUID) -> list[str]:
    query = select(OutboxEvent.topic).where(OutboxEvent.key.startswith(str(lead_id))).order_by(OutboxEvent.created_at)
    return list(await session.scalars(query))


@pytest.mark.usefixtures("worker")
class TestReleasedDuplicates:
    """A duplicate whose original stops counting after the duplicate was screened goes through the
    pipeline again (the periodic ``pipeline.release_duplicates``), or the person's request would
    reach nobody."""

    async def _duplicate_of_a_lead_still_in_flight(
        self, client: AsyncClient, key: str, resources: Resources, payload: dict[str, Any]
    ) -> tuple[uuid.UUID, Lead]:
        """The person's first lead, still waiting for the pipeline, and their second one, screened
        first (parallel workers, a retry of the first): a duplicate of the first."""
        first_id = await submit(client, key, payload)
        second = await run(resources, await submit(client, key, same_person(payload)))
        assert (second.status, second.duplicate_of_id) == (LeadStatus.DUPLICATE, first_id)
        return first_id, second

    @pytest.mark.parametrize("original_ends", ["INVALID", "UNASSIGNED", "RETURNED", "agent deactivated"])
    async def test_a_duplicate_whose_original_stopped_counting_is_released_and_routed(
        self,
        original_ends: str,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
    ) -> None:
        payload = lead_payload()
        holder = None if original_ends == "UNASSIGNED" else await helpers.agent(session, ["TX"])
        await session.commit()
        first_id, second = await self._duplicate_of_a_lead_still_in_flight(client, key, resources, payload)
        if original_ends == "INVALID":
            await session.execute(update(Lead).where(Lead.id == first_id).values(state="OK"))
            await session.commit()
        first = await run(resources, first_id)
        if original_ends in ("RETURNED", "agent deactivated"):
            agent = await accepted(resources, session, first)
            # Still the person's agent's: nothing to release yet.
            assert pipeline_tasks.release_duplicates() == 0
            async with resources.unit_of_work() as s:
                if original_ends == "RETURNED":
                    await outcomes.return_lead(s, settings, agent, first.id, "wrong_number", None)
                else:
                    assert holder is not None
                    await agents_service.update(s, holder.id, AgentUpdate(active=False), "test")
        if holder is None or original_ends == "agent deactivated":
            await helpers.agent(session, ["TX"])  # an agent who can take the person now
            await session.commit()
        reason = {
            "INVALID": "the original ended INVALID",
            "UNASSIGNED": "the original ended UNASSIGNED",
            "RETURNED": "the original ended RETURNED",
            "agent deactivated": "no active agent holds the original",
        }[original_ends]

        assert pipeline_tasks.release_duplicates() == 1
        released = await session.get(Lead, second.id, populate_existing=True)
        assert released is not None
        assert (released.status, released.status_reason, released.duplicate_of_id) == (LeadStatus.RECEIVED, None, None)
        assert await released_event(session, second.id) == {"original": str(first_id), "reason": reason}
        unprocessed = select(OutboxEvent.id).where(
            OutboxEvent.topic == "lead.received", OutboxEvent.key == str(second.id), OutboxEvent.processed_at.is_(None)
        )
        assert await session.scalar(unprocessed) is not None  # the pipeline gets it through the outbox
        assert pipeline_tasks.release_duplicates() == 0  # released once

        routed = await run(resources, second.id)
        assert (routed.status, routed.duplicate_of_id) == (LeadStatus.ROUTED, None)
        assert [o.status for o in await offers_of(session, second.id)] == [AssignmentStatus.PENDING]

    async def test_a_duplicate_whose_original_still_counts_or_older_than_the_window_is_left_alone(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        await helpers.agent(session, ["TX"])
        await session.commit()
        in_flight_id, waiting = await self._duplicate_of_a_lead_still_in_flight(client, key, resources, lead_payload())
        screened_out_id, old = await self._duplicate_of_a_lead_still_in_flight(client, key, resources, lead_payload())
        window = timedelta(days=settings.intake.dedupe_window_days)
        await session.execute(update(Lead).where(Lead.id == screened_out_id).values(state="OK"))
        await session.execute(
            update(Lead).where(Lead.id == old.id).values(received_at=utcnow() - window - timedelta(hours=1))
        )
        await session.commit()
        assert (await run(resources, screened_out_id)).status == LeadStatus.INVALID
        assert (await run(resources, in_flight_id)).status == LeadStatus.ROUTED

        assert pipeline_tasks.release_duplicates() == 0
        for lead_id in (waiting.id, old.id):
            lead = await session.get(Lead, lead_id, populate_existing=True)
            assert lead is not None and lead.status == LeadStatus.DUPLICATE
            assert await released_event(session, lead_id) is None

    async def test_the_original_is_checked_again_under_the_duplicates_lock(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        """Staff reopened the original between the sweep's query and the duplicate's release: it is
        being offered again, so the duplicate stays one."""
        payload = lead_payload()
        first_id, second = await self._duplicate_of_a_lead_still_in_flight(client, key, resources, payload)
        assert (await run(resources, first_id)).status == LeadStatus.UNASSIGNED
        async with resources.unit_of_work() as s:
            assert await duplicates_to_release(s, settings, utcnow(), 10) == [second.id]
        await helpers.agent(session, ["TX"])
        await session.commit()
        async with resources.unit_of_work() as s:
            await routing.reopen(s, Principal(uuid.uuid4(), Role.ADMIN, None), first_id, None)
        async with resources.unit_of_work() as s:
            assert await release_duplicate(s, settings, second.id, utcnow()) is False
        kept = await session.get(Lead, second.id, populate_existing=True)
        assert kept is not None and (kept.status, kept.duplicate_of_id) == (LeadStatus.DUPLICATE, first_id)

    async def test_a_released_duplicate_may_be_a_duplicate_of_another_lead(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, texas_agent: Agent
    ) -> None:
        """Screened from the start: of the person's two duplicates, the earlier is routed and the
        later is a duplicate of it."""
        payload = lead_payload()
        first_id, second = await self._duplicate_of_a_lead_still_in_flight(client, key, resources, payload)
        third = await run(resources, await submit(client, key, same_person(payload)))
        assert third.duplicate_of_id == first_id
        await session.execute(update(Lead).where(Lead.id == first_id).values(state="OK"))
        await session.commit()
        assert (await run(resources, first_id)).status == LeadStatus.INVALID

        assert pipeline_tasks.release_duplicates() == 2
        assert (await run(resources, third.id)).duplicate_of_id == second.id  # the second waits, RECEIVED
        assert (await run(resources, second.id)).status == LeadStatus.ROUTED
        again = await session.get(Lead, third.id, populate_existing=True)
        assert again is not None and again.status == LeadStatus.DUPLICATE
        assert pipeline_tasks.release_duplicates() == 0

    async def test_a_released_duplicate_of_a_person_on_the_do_not_contact_list_is_offered_to_nobody(
        self,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
        texas_agent: Agent,
    ) -> None:
        payload = lead_payload()
        first_id, second = await self._duplicate_of_a_lead_still_in_flight(client, key, resources, payload)
        await session.execute(update(Lead).where(Lead.id == first_id).values(state="OK"))
        await dnc.add_many(session, [("email", email_hash(settings, payload))], "asked not to be called")
        await session.commit()
        assert (await run(resources, first_id)).status == LeadStatus.INVALID

        assert pipeline_tasks.release_duplicates() == 1
        rejected = await run(resources, second.id)
        assert (rejected.status, rejected.status_reason) == (LeadStatus.REJECTED, "on the do-not-contact list")
        assert await offers_of(session, second.id) == []
        # Nothing to send; its phone joined the list with the listed address (``person.linked``).
        assert await topics_of(session, second.id) == ["lead.received", "lead.received", "person.linked"]

    async def test_an_erased_duplicate_is_left_as_it_is(
        self,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
        texas_agent: Agent,
    ) -> None:
        payload = lead_payload()
        first_id, second = await self._duplicate_of_a_lead_still_in_flight(client, key, resources, payload)
        async with resources.unit_of_work() as s:
            hash_key = settings.security.pii_hash_key.get_secret_value()
            await privacy.erase(s, privacy.person_hashes(hash_key, payload["contact"]["email"], None), "test")
        assert (await run(resources, first_id)).status == LeadStatus.REJECTED

        assert pipeline_tasks.release_duplicates() == 0
        kept = await session.get(Lead, second.id, populate_existing=True)
        assert kept is not None and kept.status == LeadStatus.DUPLICATE
        assert await offers_of(session, second.id) == []


class TestLicenceExpiry:
    """A licence holds through its expiry day in the state that issued it, whatever the agent's
    clock says, for the graph's pre-filter as for routing's hard filter."""

    EXPIRES_ON = date(2026, 7, 15)

    async def _licensed_far_from_home(
        self, client: AsyncClient, key: str, session: AsyncSession, state: str, timezone: str, zip_code: str
    ) -> tuple[Agent, uuid.UUID]:
        """An agent in ``timezone`` whose auto licence in ``state`` expires on EXPIRES_ON, and a lead there."""
        agent = await helpers.agent(session, [state], expires_on=self.EXPIRES_ON, timezone=timezone, name="Remote")
        await session.commit()
        payload = lead_payload()
        payload["contact"]["address"] = {"street": "1 Main Street", "city": "Somewhere", "zip": zip_code}
        return agent, await submit(client, key, payload)

    async def test_a_california_licence_holds_until_the_day_ends_in_california(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources
    ) -> None:
        agent, lead_id = await self._licensed_far_from_home(client, key, session, "CA", "America/New_York", "90012")
        late = datetime(2026, 7, 16, 5, 0, tzinfo=UTC)  # 22:00 in Los Angeles; 01:00 the next day in New York
        lead = await run(resources, lead_id, late)
        assert lead.status == LeadStatus.ROUTED, lead.status_reason
        assert [o.agent_id for o in await offers_of(session, lead.id)] == [agent.id]

    async def test_the_next_day_in_california_the_licence_has_expired(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources
    ) -> None:
        _, lead_id = await self._licensed_far_from_home(client, key, session, "CA", "America/New_York", "90012")
        after_midnight = datetime(2026, 7, 16, 8, 0, tzinfo=UTC)  # 01:00 in Los Angeles the day after
        lead = await run(resources, lead_id, after_midnight)
        assert (lead.status, lead.status_reason) == (LeadStatus.UNASSIGNED, "no agent licensed for auto in CA")

    async def test_a_texas_licence_has_expired_once_the_day_ended_in_texas_though_not_for_the_agent(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources
    ) -> None:
        # Texas spans two zones: at 00:30 in Austin it is 23:30 in El Paso, and the licence has lapsed.
        _, lead_id = await self._licensed_far_from_home(client, key, session, "TX", "America/Los_Angeles", "78701")
        past_midnight = datetime(2026, 7, 16, 5, 30, tzinfo=UTC)  # 22:30 in Los Angeles
        lead = await run(resources, lead_id, past_midnight)
        assert (lead.status, lead.status_reason) == (LeadStatus.UNASSIGNED, "no agent licensed for auto in TX")

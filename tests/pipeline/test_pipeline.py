"""The pipeline against a real database: routing, unassigned, duplicates, do-not-contact, SLA."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents import service as agents_service
from leadgen.agents.schemas import AgentUpdate
from leadgen.audit import repository as audit
from leadgen.auth.roles import Principal, Role
from leadgen.compliance import repository as dnc
from leadgen.core.errors import Conflict
from leadgen.core.resources import Resources
from leadgen.core.security import keyed_hash
from leadgen.core.settings import Settings
from leadgen.insights.prompt import user_message
from leadgen.leads import outcomes
from leadgen.leads import repository as leads_repository
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus, Line
from leadgen.leads.service import visible_lead
from leadgen.models import Agent, Assignment, DoNotContact, Lead, Licence, OutboxEvent, RoutingPolicy
from leadgen.models.base import utcnow
from leadgen.pipeline.service import (
    expire_offer,
    notes_to_read,
    pipeline_for,
    process_lead,
    read_notes,
    reopen,
    reroute,
    sync_outcome,
)
from leadgen.privacy import service as privacy
from leadgen.routing import repository as routing_repository
from leadgen.routing import service as routing
from leadgen.routing import tasks as routing_tasks
from leadgen.routing.rules import Candidate, LeadFacts, eligible, hard_filter
from tests import helpers
from tests.conftest import lead_payload, sync_graph


async def submit(client: AsyncClient, key: str, **overrides: object) -> uuid.UUID:
    response = await client.post("/api/v1/leads", json=lead_payload(**overrides), headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


async def run(resources: Resources, settings: Settings, lead_id: uuid.UUID, now: datetime | None = None) -> Lead:
    await sync_graph(resources)
    async with resources.unit_of_work() as s:
        await process_lead(s, pipeline_for(resources), lead_id, now or utcnow())
    async with resources.require_sessions()() as s:
        lead = await s.get(Lead, lead_id)
        assert lead is not None
        return lead


async def assignments(session: AsyncSession, lead_id: uuid.UUID) -> list[Assignment]:
    query = select(Assignment).where(Assignment.lead_id == lead_id).order_by(Assignment.attempt)
    return list(await session.scalars(query.execution_options(populate_existing=True)))


async def deactivate(resources: Resources, session: AsyncSession, agent_id: uuid.UUID) -> int:
    """An admin's deactivation, then what a worker does with its outbox event; returns how many of
    the agent's offers the worker withdrew."""
    async with resources.unit_of_work() as s:
        await agents_service.update(s, agent_id, AgentUpdate(active=False), "admin")
    return await deactivate_event_withdrawals(session, agent_id)


async def deactivate_event_withdrawals(session: AsyncSession, agent_id: uuid.UUID) -> int:
    """What a worker does with the agent's ``agent.deactivated`` event (the Celery task, here)."""
    query = select(OutboxEvent.key).where(
        OutboxEvent.topic == "agent.deactivated",
        OutboxEvent.key.startswith(f"{agent_id}:"),
        OutboxEvent.processed_at.is_(None),
    )
    [event_key] = await session.scalars(query)
    withdrawn: int = routing_tasks.withdraw_agent_offers(event_key)
    return withdrawn


class TestRouting:
    async def test_routes_to_the_only_eligible_agent(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        good = await helpers.agent(session, ["TX"])
        await helpers.agent(session, ["TX"], expires_on=date(2020, 1, 1))  # expired licence
        await helpers.agent(session, ["CA"])  # wrong state
        await helpers.agent(session, ["TX"], [Line.HOME])  # wrong line
        await helpers.agent(session, ["TX"], daily_cap=0)  # capped
        await session.commit()
        lead = await run(resources, settings, await submit(client, key))
        assert lead.status == LeadStatus.ROUTED
        offers = await assignments(session, lead.id)
        assert [(a.agent_id, a.status, a.attempt) for a in offers] == [(good.id, AssignmentStatus.PENDING, 1)]
        assert offers[0].explanation["eligible"] == 1
        assert lead.score is not None and lead.score_factors

    @pytest.mark.usefixtures("texas_agent")
    async def test_nobody_licensed_means_unassigned(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        payload = lead_payload()
        payload["contact"]["address"] = {"zip": "99501", "city": "Anchorage"}
        lead = await run(resources, settings, await submit(client, key, contact=payload["contact"]))
        assert lead.status == LeadStatus.UNASSIGNED
        assert lead.status_reason == "no agent licensed for auto in AK"
        assert await assignments(session, lead.id) == []

    async def test_off_shift_agent_is_skipped(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        # One instant for the shift and the routing: read twice, the clock could cross midnight between.
        now = utcnow()
        tomorrow = (now.astimezone(ZoneInfo("America/Chicago")).weekday() + 1) % 7  # Sunday's is Monday (0)
        await helpers.agent(session, ["TX"], days=range(tomorrow, tomorrow + 1))
        await session.commit()
        lead = await run(resources, settings, await submit(client, key), now)
        assert lead.status == LeadStatus.UNASSIGNED
        assert lead.status_reason == "no eligible agent"

    async def test_shifts_are_read_for_the_agent_local_day_and_the_night_before(self, session: AsyncSession) -> None:
        # Tuesday 03:00 in Chicago: covered by Monday's overnight shift, not by Monday's day shift.
        now = datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
        night = await helpers.agent(
            session, ["TX"], hours=(time(22), time(6)), days=range(0, 1), timezone="America/Chicago"
        )
        day = await helpers.agent(
            session, ["TX"], hours=(time(9), time(17)), days=range(0, 2), timezone="America/Chicago"
        )
        # The same instant is 17:00 on Tuesday in Tokyo, inside that agent's Tuesday shift.
        tokyo = await helpers.agent(session, ["TX"], hours=(time(9), time(18)), days=range(1, 2), timezone="Asia/Tokyo")
        await session.commit()
        lead = Lead(id=uuid.uuid4(), state="TX", line=Line.AUTO)
        found = await routing_repository.candidates(session, lead, now, [night.id, day.id, tokyo.id])
        on_shift = {c.agent_id: c for c in eligible(found, LeadFacts(lead.id, "TX", Line.AUTO), now)}
        assert set(on_shift) == {night.id, tokyo.id}

    async def test_round_robin_spreads_leads(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        agents = [await helpers.agent(session, ["TX"]) for _ in range(3)]
        await session.commit()
        chosen = []
        for _ in range(6):
            lead = await run(resources, settings, await submit(client, key))
            chosen.append((await assignments(session, lead.id))[0].agent_id)
        assert sorted(chosen.count(a.id) for a in agents) == [2, 2, 2]
        assert chosen[:3] == chosen[3:]

    @pytest.mark.usefixtures("texas_agent")
    async def test_processing_twice_routes_once(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        lead_id = await submit(client, key)
        await run(resources, settings, lead_id)
        await run(resources, settings, lead_id)
        assert len(await assignments(session, lead_id)) == 1
        pending = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.topic == "lead.received", OutboxEvent.processed_at.is_(None))
        )
        assert pending == 0

    async def test_an_agent_inactive_in_the_database_is_never_offered_a_lead(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, texas_agent: Agent
    ) -> None:
        """The graph may still list an agent made inactive (in SQL, or before its write-through):
        routing checks the database row."""
        await sync_graph(resources)
        await session.execute(update(Agent).where(Agent.id == texas_agent.id).values(active=False))
        await session.commit()
        lead = await self._route_without_graph_sync(resources, await submit(client, key))
        assert (lead.status, lead.status_reason) == (LeadStatus.UNASSIGNED, "no eligible agent")
        assert await assignments(session, lead.id) == []

    async def test_an_agent_deactivated_after_routing_read_the_candidates_is_not_offered_the_lead(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, texas_agent: Agent
    ) -> None:
        """A deactivation that commits between routing's read of the candidates and its lock on the
        chosen agent: the read still says active, the row under the lock does not."""
        await sync_graph(resources)
        await session.execute(update(Agent).where(Agent.id == texas_agent.id).values(active=False))
        await session.commit()
        read_candidates = routing_repository.candidates
        reads: list[int] = []

        async def read_before_the_deactivation(*args: Any, **kwargs: Any) -> list[Candidate]:
            found = await read_candidates(*args, **kwargs)
            if not reads:  # the first read, not the one under the agent's lock
                for candidate in found:
                    candidate.active = True
            reads.append(len(found))
            return found

        with patch.object(routing_repository, "candidates", read_before_the_deactivation):
            lead = await self._route_without_graph_sync(resources, await submit(client, key))
        assert (lead.status, lead.status_reason) == (LeadStatus.UNASSIGNED, "no eligible agent")
        assert await assignments(session, lead.id) == []

    @pytest.mark.parametrize("backend", ["postgres"])  # SQLite lets one writer in: nothing commits in between
    @pytest.mark.parametrize("committed", ["before routing locks the agent", "while routing waits for the agent"])
    @pytest.mark.parametrize(
        "change",
        [
            AgentUpdate(active=False),
            AgentUpdate(licences=[]),
            AgentUpdate(shifts=[]),
            AgentUpdate(daily_cap=0),
            AgentUpdate(open_cap=0),
        ],
        ids=["deactivated", "licence removed", "shifts removed", "daily cap 0", "open cap 0"],
    )
    async def test_an_admins_change_committed_after_routing_chose_its_candidates_is_seen_under_the_agents_lock(
        self,
        change: AgentUpdate,
        committed: str,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        texas_agent: Agent,
    ) -> None:
        """An admin changes the agent in a transaction of their own while routing, in another, holds
        the lead and a list of candidates that says the agent may take it: the offer is made or not
        on what routing reads once it holds the agent's row."""
        await sync_graph(resources)
        lead_id = await submit(client, key)
        read_candidates = routing_repository.candidates
        admin_holds_the_agent, candidates_read = asyncio.Event(), asyncio.Event()

        async def admin() -> None:
            async with resources.unit_of_work() as s:
                await agents_service.update(s, texas_agent.id, change, "admin")
                admin_holds_the_agent.set()
                if committed == "while routing waits for the agent":
                    await candidates_read.wait()
                    await asyncio.sleep(0.3)  # routing now waits for the agent's row

        async def candidates_as_routing_reads_them(*args: Any, **kwargs: Any) -> list[Candidate]:
            if candidates_read.is_set():  # read again under the agent's lock
                return await read_candidates(*args, **kwargs)
            if committed == "while routing waits for the agent":
                await admin_holds_the_agent.wait()
            found = await read_candidates(*args, **kwargs)
            assert [c.rejections or hard_filter(c, LeadFacts(lead_id, "TX", "auto"), utcnow()) for c in found] == [[]]
            candidates_read.set()
            if committed == "before routing locks the agent":
                await admin()  # commits before routing goes on with the candidates it read
            return found

        async def route() -> Lead:
            return await self._route_without_graph_sync(resources, lead_id)

        with patch.object(routing_repository, "candidates", candidates_as_routing_reads_them):
            if committed == "before routing locks the agent":
                lead = await route()
            else:
                _, lead = await asyncio.gather(admin(), route())
        assert (lead.status, lead.status_reason) == (LeadStatus.UNASSIGNED, "no eligible agent")
        assert await assignments(session, lead.id) == []

    @staticmethod
    async def _route_without_graph_sync(resources: Resources, lead_id: uuid.UUID) -> Lead:
        async with resources.unit_of_work() as s:
            await process_lead(s, pipeline_for(resources), lead_id, utcnow())
        async with resources.require_sessions()() as s:
            lead = await s.get(Lead, lead_id)
            assert lead is not None
            return lead


class TestNotes:
    async def test_notes_are_read_before_the_transaction_and_stored(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources
    ) -> None:
        await helpers.agent(session, ["TX"])
        await session.commit()
        lead_id = await submit(client, key, notes="My policy renews next week, call me today please at 512-555-0199")
        pipe = pipeline_for(resources)
        async with resources.require_sessions()() as s:
            asked = await notes_to_read(s, lead_id)
        assert asked is not None
        insight = await read_notes(pipe, asked)
        assert insight is not None and insight.provider == "local"
        assert insight.urgency == "high"
        await sync_graph(resources)
        async with resources.unit_of_work() as s:
            await process_lead(s, pipe, lead_id, utcnow(), insight)
        lead = await session.get(Lead, lead_id, populate_existing=True)
        assert lead is not None and lead.insights is not None
        assert lead.insights["urgency"] == "high" and lead.status == LeadStatus.ROUTED

    async def test_a_remote_provider_is_asked_only_about_leads_screening_will_not_end_and_never_the_birth_date(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        """A person who must not be contacted, a vendor's test lead, a lead without the consent it
        needs: screening ends each without reading the notes, so they never leave the platform."""
        hash_key = settings.security.pii_hash_key.get_secret_value()
        listed = lead_payload(notes="Do not call me, renewal in May")
        await dnc.add_many(session, [("email", keyed_hash(hash_key, "email", listed["contact"]["email"]))], "asked")
        await session.commit()
        kept_back = [
            listed,
            lead_payload(test=True, notes="TEST LEAD, comparing rates"),
            lead_payload(consent=None, origin="phone", notes="comparing rates"),  # no web traces yet: taken
        ]
        sent_back = [await submit(client, key, **payload) for payload in kept_back[:2]]
        async with resources.unit_of_work() as s:  # a web trace the sender left out of its own lead
            no_consent = await submit(client, key, **kept_back[2])
            await s.execute(update(Lead).where(Lead.id == no_consent).values(user_agent="Mozilla/5.0"))
        born = lead_payload(notes="Born 03/14/1962, need cover now, on 203.0.113.9")
        born["contact"]["date_of_birth"] = "1962-03-14"
        asked_about = await submit(client, key, ip="203.0.113.9", **born)
        async with resources.require_sessions()() as s:
            assert [await notes_to_read(s, lead_id) for lead_id in [*sent_back, no_consent]] == [None] * 3
            asked = await notes_to_read(s, asked_about)
        assert asked is not None and "1962-03-14" in asked.known_pii and "203.0.113.9" in asked.known_pii
        assert user_message(asked.notes, asked.line, asked.known_pii).count("1962") == 0


class TestScreening:
    @pytest.mark.usefixtures("texas_agent")
    async def test_duplicate_links_to_original(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        first = lead_payload()
        first_id = await submit(client, key, contact=first["contact"])
        again = dict(first["contact"], email="other@example.com")  # same phone, other e-mail
        second_id = await submit(client, key, contact=again)
        # Processed in reverse order: the earlier lead is still the original.
        second = await run(resources, settings, second_id)
        original = await run(resources, settings, first_id)
        assert second.status == LeadStatus.DUPLICATE and second.duplicate_of_id == first_id
        assert original.status == LeadStatus.ROUTED

    @pytest.mark.usefixtures("texas_agent")
    async def test_a_lead_erased_before_the_pipeline_reaches_it_is_offered_to_nobody(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        payload = lead_payload()
        lead_id = await submit(client, key, contact=payload["contact"])
        hash_key = settings.security.pii_hash_key.get_secret_value()
        async with resources.unit_of_work() as s:
            await privacy.erase(s, privacy.person_hashes(hash_key, payload["contact"]["email"], None), "test")
        lead = await run(resources, settings, lead_id)
        assert (lead.status, lead.status_reason) == (LeadStatus.REJECTED, "the person's data was erased")
        assert await assignments(session, lead.id) == []

    async def test_do_not_contact_is_rejected(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        await helpers.agent(session, ["TX"])
        payload = lead_payload()
        email = keyed_hash(settings.security.pii_hash_key.get_secret_value(), "email", payload["contact"]["email"])
        await dnc.add_many(session, [("email", email)], "asked not to be called")
        await session.commit()
        lead = await run(resources, settings, await submit(client, key, contact=payload["contact"]))
        assert lead.status == LeadStatus.REJECTED
        assert await assignments(session, lead.id) == []


class TestOffers:
    async def _routed(
        self,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
        agents: int,
    ) -> tuple[Lead, list[uuid.UUID]]:
        ids = [(await helpers.agent(session, ["TX"])).id for _ in range(agents)]
        await session.commit()
        return await run(resources, settings, await submit(client, key)), ids

    async def test_accept(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        lead, _ = await self._routed(client, key, session, resources, settings, 1)
        offer = (await assignments(session, lead.id))[0]
        async with resources.unit_of_work() as s:
            await routing.accept(s, Principal(uuid.uuid4(), Role.AGENT, offer.agent_id), offer.id)
        accepted = await session.get(Lead, lead.id, populate_existing=True)
        assert accepted is not None and accepted.status == LeadStatus.ACCEPTED
        # The search's copy of the lead says ACCEPTED too, once the event is handled.
        outcome_events = select(OutboxEvent.key).where(OutboxEvent.topic == "lead.outcome")
        assert list(await session.scalars(outcome_events)) == [str(lead.id)]

    @pytest.mark.parametrize("licence", ["lapsed", "removed"])
    async def test_an_offer_whose_licence_no_longer_holds_is_withdrawn_when_accepted_and_the_lead_moves_on(
        self,
        licence: str,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
    ) -> None:
        """Lapsed since the offer (no admin acted: nothing else withdraws it), or removed by an admin
        before a worker withdrew it: refused, and withdrawn in a transaction that commits, rather
        than left pending until the SLA sweep times it out as the agent's breach."""
        lead, agent_ids = await self._routed(client, key, session, resources, settings, 2)
        [offer] = await assignments(session, lead.id)
        agent = Principal(uuid.uuid4(), Role.AGENT, offer.agent_id)
        async with resources.unit_of_work() as s:
            if licence == "lapsed":  # at the end of yesterday in Texas
                lapsed = update(Licence).where(Licence.agent_id == offer.agent_id).values(expires_on=date(2026, 1, 1))
                await s.execute(lapsed)
            else:
                await agents_service.update(s, offer.agent_id, AgentUpdate(licences=[]), "admin")
        async with resources.unit_of_work() as s:  # as the API answers it: 409, the withdrawal committed
            with pytest.raises(routing.OfferWithdrawn, match="licence in TX no longer holds"):
                await routing.accept(s, agent, offer.id)
        [withdrawn] = await assignments(session, lead.id)
        assert (withdrawn.status, withdrawn.reason) == (AssignmentStatus.WITHDRAWN, "licence no longer holds")
        assert withdrawn.responded_at is not None and withdrawn.responded_at < withdrawn.expires_at  # no breach
        async with resources.unit_of_work() as s:  # no second try, and the sweep has nothing to time out
            with pytest.raises(Conflict, match="is WITHDRAWN, not PENDING"):
                await routing.accept(s, agent, offer.id)
            assert not await expire_offer(s, pipeline_for(resources), offer.id, offer.expires_at)
        reroutes = select(OutboxEvent.key).where(OutboxEvent.topic == "lead.reroute")
        assert list(await session.scalars(reroutes)) == [str(lead.id)]
        async with resources.unit_of_work() as s:
            assert await reroute(s, pipeline_for(resources), lead.id, utcnow()) == LeadStatus.ROUTED
        [other] = set(agent_ids) - {offer.agent_id}
        assert [(o.agent_id, o.status) for o in await assignments(session, lead.id)] == [
            (offer.agent_id, AssignmentStatus.WITHDRAWN),
            (other, AssignmentStatus.PENDING),
        ]

    async def test_an_offer_past_its_deadline_cannot_be_declined_and_is_timed_out(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        """Past the deadline the offer is an SLA breach, as the reports count it, whatever the answer."""
        lead, [agent_id] = await self._routed(client, key, session, resources, settings, 1)
        offer = (await assignments(session, lead.id))[0]
        late = offer.expires_at + timedelta(minutes=10)
        with patch.object(routing, "utcnow", lambda: late), pytest.raises(Conflict, match="the offer expired"):
            async with resources.unit_of_work() as s:
                await routing.reject(s, Principal(uuid.uuid4(), Role.AGENT, agent_id), offer.id, "busy")
        async with resources.unit_of_work() as s:
            assert await routing.time_out(s, offer.id, late) is not None
        assert [o.status for o in await assignments(session, lead.id)] == [AssignmentStatus.TIMED_OUT]

    async def test_other_agent_cannot_accept(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        lead, _ = await self._routed(client, key, session, resources, settings, 1)
        offer = (await assignments(session, lead.id))[0]
        with pytest.raises(Exception, match="not found"):
            async with resources.unit_of_work() as s:
                await routing.accept(s, Principal(uuid.uuid4(), Role.AGENT, uuid.uuid4()), offer.id)

    async def test_a_shared_leads_conversion_is_credited_to_the_agent_who_converted_it(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        """Both agents took it and the second sold the policy: search and best match's "similar leads
        that converted" credit the second."""
        session.add(RoutingPolicy(strategy="round_robin", max_agents=2))
        for _ in range(2):
            await helpers.agent(session, ["TX"])
        await session.commit()
        lead = await run(resources, settings, await submit(client, key, exclusive=False))
        offers = sorted(await assignments(session, lead.id), key=lambda offer: offer.slot)
        agents = {offer.agent_id: Principal(uuid.uuid4(), Role.AGENT, offer.agent_id) for offer in offers}
        for offer in offers:
            async with resources.unit_of_work() as s:
                await routing.accept(s, agents[offer.agent_id], offer.id)
        seller = offers[1].agent_id
        for step in (LeadStatus.CONTACTED, LeadStatus.QUOTED, LeadStatus.CONVERTED):
            async with resources.unit_of_work() as s:
                await outcomes.record_outcome(s, agents[seller], lead.id, step, None)
        pipe = pipeline_for(resources)
        async with resources.unit_of_work() as s:
            await sync_outcome(s, pipe, lead.id)
        found = await pipe.vectors.get(lead.id)
        assert found is not None and found.payload["agent_id"] == str(seller)

    async def test_on_a_shared_lead_each_agent_sees_their_own_offer_and_staff_the_accepted_one(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        session.add(RoutingPolicy(strategy="round_robin", max_agents=2))
        for _ in range(2):
            await helpers.agent(session, ["TX"])
        await session.commit()
        lead = await run(resources, settings, await submit(client, key, exclusive=False))
        offers = await assignments(session, lead.id)
        assert len(offers) == 2
        second = offers[1]
        async with resources.unit_of_work() as s:
            await routing.accept(s, Principal(uuid.uuid4(), Role.AGENT, second.agent_id), second.id)
        async with resources.unit_of_work() as s:
            for offer in offers:
                seen = await visible_lead(s, settings, lead.id, Principal(uuid.uuid4(), Role.AGENT, offer.agent_id))
                assert seen.assignment is not None and seen.assignment.id == offer.id
            staff = await visible_lead(s, settings, lead.id, Principal(uuid.uuid4(), Role.MANAGER, None))
            assert staff.assignment is not None and staff.assignment.id == second.id

    @pytest.mark.usefixtures("worker")
    async def test_deactivating_an_agent_moves_a_shared_lead_on_once_its_round_has_no_open_offer(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        session.add(RoutingPolicy(strategy="round_robin", max_agents=2))
        for _ in range(2):
            await helpers.agent(session, ["TX"])
        await session.commit()
        lead = await run(resources, settings, await submit(client, key, exclusive=False))
        offers = await assignments(session, lead.id)
        reroutes = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic == "lead.reroute")
        for n, offer in enumerate(offers):
            assert await deactivate(resources, session, offer.agent_id) == 1
            # The other agent's offer keeps the round open; the second deactivation closes it.
            assert await session.scalar(reroutes) == n
        after = await assignments(session, lead.id)
        assert {(o.status, o.reason) for o in after} == {(AssignmentStatus.WITHDRAWN, "agent deactivated")}
        async with resources.unit_of_work() as s:
            assert await reroute(s, pipeline_for(resources), lead.id, utcnow()) == LeadStatus.UNASSIGNED

    @pytest.mark.parametrize("backend", ["postgres"])  # row locks
    @pytest.mark.usefixtures("worker")
    async def test_a_deactivation_while_the_sla_sweep_and_routing_hold_leads_deadlocks_nobody(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        """Routing and the SLA sweep lock a lead, then agents. Withdrawing the agent's offers in the
        admin's transaction locked the agent, then leads: with the sweep holding a lead and waiting
        for an agent that routing holds, and routing then waiting for the deactivated agent, each
        waited for the next. The deactivation now commits without locking any lead."""
        holder = await helpers.agent(session, ["TX"])
        await session.commit()
        first = await run(resources, settings, await submit(client, key))
        [offer] = await assignments(session, first.id)
        assert offer.agent_id == holder.id
        other = await helpers.agent(session, ["TX"])
        overdue = utcnow() - timedelta(minutes=1)
        await session.execute(update(Assignment).where(Assignment.id == offer.id).values(expires_at=overdue))
        await session.commit()
        second_id = await submit(client, key)
        await sync_graph(resources)

        async def sweep() -> bool:  # times the holder's offer out and routes the first lead again
            async with resources.unit_of_work() as s:
                return await expire_offer(s, pipeline_for(resources), offer.id, utcnow())

        async def admin() -> None:
            async with resources.unit_of_work() as s:
                await agents_service.update(s, holder.id, AgentUpdate(active=False), "admin")

        async with resources.require_sessions()() as routing_second:
            # Routing of the second lead, part-way: the lead locked, then its first candidate.
            lock = "SELECT id FROM {} WHERE id = :id FOR UPDATE"
            await routing_second.execute(text(lock.format("leads")), {"id": second_id})
            await routing_second.execute(text(lock.format("agents")), {"id": other.id})
            sweeping = asyncio.create_task(sweep())  # holds the first lead, waits for the other agent
            await asyncio.sleep(0.5)
            deactivating = asyncio.create_task(admin())
            await asyncio.sleep(0.5)
            try:
                # Routing goes on to its next candidate: the agent being deactivated.
                await routing_second.execute(text(lock.format("agents")), {"id": holder.id})
            finally:
                await routing_second.rollback()
        assert list(await asyncio.gather(deactivating, sweeping)) == [None, True]
        assert await deactivate_event_withdrawals(session, holder.id) == 0  # the sweep had timed it out
        offers = await assignments(session, first.id)
        assert [(o.agent_id, o.status) for o in offers] == [
            (holder.id, AssignmentStatus.TIMED_OUT),
            (other.id, AssignmentStatus.PENDING),
        ]

    @pytest.mark.parametrize("first_agent_did", ["contacted", "returned"])
    async def test_a_second_accept_on_a_shared_lead_never_moves_it_back(
        self,
        first_agent_did: str,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
    ) -> None:
        session.add(RoutingPolicy(strategy="round_robin", max_agents=2))
        for _ in range(2):
            await helpers.agent(session, ["TX"])
        await session.commit()
        lead = await run(resources, settings, await submit(client, key, exclusive=False))
        first, second = (Principal(uuid.uuid4(), Role.AGENT, o.agent_id) for o in await assignments(session, lead.id))
        offers = await assignments(session, lead.id)
        async with resources.unit_of_work() as s:
            await routing.accept(s, first, offers[0].id)
        async with resources.unit_of_work() as s:
            if first_agent_did == "contacted":
                await outcomes.record_outcome(s, first, lead.id, LeadStatus.CONTACTED, None)
            else:
                await outcomes.return_lead(s, settings, first, lead.id, "wrong_number", None)
        if first_agent_did == "contacted":
            async with resources.unit_of_work() as s:
                await routing.accept(s, second, offers[1].id)
            expected = LeadStatus.CONTACTED
        else:
            # The return withdrew the second agent's offer: the lead's takers finished it.
            with pytest.raises(Conflict, match="is WITHDRAWN, not PENDING"):
                async with resources.unit_of_work() as s:
                    await routing.accept(s, second, offers[1].id)
            expected = LeadStatus.RETURNED
        final = await session.get(Lead, lead.id, populate_existing=True)
        assert final is not None and final.status == expected

    async def test_concurrent_routing_never_exceeds_a_daily_cap(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        """Two leads routed at once to the one agent who has room for one more today: one offer."""
        capped = await helpers.agent(session, ["TX"], daily_cap=1)
        await session.commit()
        first, second = await submit(client, key), await submit(client, key)

        async def route(lead_id: uuid.UUID) -> int:
            async with resources.unit_of_work() as s:
                lead = await leads_repository.get(s, lead_id, lock=True)
                assert lead is not None
                await asyncio.sleep(0)  # let the other unit of work read the agent's load too
                return len(await routing.route(s, settings, lead, utcnow(), [capped.id]))

        assert sorted(await asyncio.gather(route(first), route(second))) == [0, 1]

    async def test_an_accept_racing_the_sla_sweep_leaves_one_agent_with_the_lead(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        lead, _ = await self._routed(client, key, session, resources, settings, 2)
        offer = (await assignments(session, lead.id))[0]
        now = utcnow()
        await session.execute(update(Assignment).where(Assignment.id == offer.id).values(expires_at=now))
        await session.commit()

        async def accept() -> str:
            async with resources.unit_of_work() as s:
                await routing.accept(s, Principal(uuid.uuid4(), Role.AGENT, offer.agent_id), offer.id)
            return "accepted"

        async def sweep() -> str:
            async with resources.unit_of_work() as s:
                await expire_offer(s, pipeline_for(resources), offer.id, now + timedelta(seconds=1))
            return "timed out"

        # The agent's clock says the offer has a moment left (an offer expires at its deadline).
        with patch.object(routing, "utcnow", lambda: now - timedelta(seconds=1)):
            outcomes = await asyncio.gather(accept(), sweep(), return_exceptions=True)
        assert outcomes[1] == "timed out"  # the sweep ran through either way, without an error
        offers = await assignments(session, lead.id)
        final = await session.get(Lead, lead.id, populate_existing=True)
        assert final is not None
        if outcomes[0] == "accepted":  # the accept went first: the sweep found nothing to time out
            assert [o.status for o in offers] == [AssignmentStatus.ACCEPTED]
            assert final.status == LeadStatus.ACCEPTED
        else:  # the sweep went first: the accept was refused, the lead offered to the other agent
            assert isinstance(outcomes[0], Conflict)
            assert [o.status for o in offers] == [AssignmentStatus.TIMED_OUT, AssignmentStatus.PENDING]
            assert final.status == LeadStatus.ROUTED

    async def test_a_locking_read_sees_the_lead_as_committed_since_the_session_first_read_it(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        """A request read the lead (an opt-out by link), an agent accepted it meanwhile: locked, the lead
        is ACCEPTED, so withdrawing its offers does not turn it back to UNASSIGNED."""
        lead, _ = await self._routed(client, key, session, resources, settings, 1)
        offer = (await assignments(session, lead.id))[0]
        async with resources.unit_of_work() as opting_out:
            stale = await opting_out.get(Lead, lead.id)
            assert stale is not None and stale.status == LeadStatus.ROUTED
            async with resources.unit_of_work() as accepting:
                await routing.accept(accepting, Principal(uuid.uuid4(), Role.AGENT, offer.agent_id), offer.id)
            [locked] = await dnc.leads_with_any(opting_out, [stale.phone_hash or ""])
            assert locked.status == LeadStatus.ACCEPTED
            await routing.withdraw_offers(opting_out, locked, "the person opted out")
        final = await session.get(Lead, lead.id, populate_existing=True)
        assert final is not None and final.status == LeadStatus.ACCEPTED

    async def test_reject_moves_to_next_agent(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        lead, ids = await self._routed(client, key, session, resources, settings, 2)
        first = (await assignments(session, lead.id))[0]
        async with resources.unit_of_work() as s:
            await routing.reject(s, Principal(uuid.uuid4(), Role.AGENT, first.agent_id), first.id, "not my area")
        # The decline queued a reroute (outbox); the pipeline picks it up.
        async with resources.unit_of_work() as s:
            await reroute(s, pipeline_for(resources), lead.id, utcnow())
        offers = await assignments(session, lead.id)
        assert [o.status for o in offers] == [AssignmentStatus.REJECTED, AssignmentStatus.PENDING]
        assert {o.agent_id for o in offers} == set(ids)

    async def test_expiry_moves_on_then_unassigns_after_last_attempt(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        lead, _ = await self._routed(client, key, session, resources, settings, 2)
        later = utcnow() + timedelta(minutes=settings.routing.sla_minutes + 1)
        for _ in range(2):
            pending = [o for o in await assignments(session, lead.id) if o.status == AssignmentStatus.PENDING]
            async with resources.unit_of_work() as s:
                assert await expire_offer(s, pipeline_for(resources), pending[0].id, later)
            later += timedelta(minutes=settings.routing.sla_minutes + 1)
        offers = await assignments(session, lead.id)
        assert [o.status for o in offers] == [AssignmentStatus.TIMED_OUT, AssignmentStatus.TIMED_OUT]
        final = await session.get(Lead, lead.id, populate_existing=True)
        assert final is not None and final.status == LeadStatus.UNASSIGNED
        assert final.status_reason == "no eligible agent"


class TestReopen:
    """Staff put an UNASSIGNED lead back into routing once agents can take it."""

    MANAGER = Principal(uuid.uuid4(), Role.MANAGER, None)

    async def _left_unassigned(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> Lead:
        """A lead whose one allowed round timed out (the campaign allows a single attempt)."""
        session.add(RoutingPolicy(strategy="round_robin", max_agents=1, max_attempts=1))
        await helpers.agent(session, ["TX"])
        await session.commit()
        lead = await run(resources, settings, await submit(client, key))
        await self._time_out_pending(session, resources, settings, lead)
        return await self._reread(session, lead.id, LeadStatus.UNASSIGNED)

    async def _time_out_pending(
        self, session: AsyncSession, resources: Resources, settings: Settings, lead: Lead
    ) -> None:
        later = utcnow() + timedelta(minutes=settings.routing.sla_minutes + 1)
        [pending] = [o for o in await assignments(session, lead.id) if o.status == AssignmentStatus.PENDING]
        async with resources.unit_of_work() as s:
            assert await expire_offer(s, pipeline_for(resources), pending.id, later)

    async def _reopen_and_run_the_round(self, resources: Resources, lead_id: uuid.UUID) -> None:
        async with resources.unit_of_work() as s:
            await routing.reopen(s, self.MANAGER, lead_id, None)
        await self._run_the_round(resources, lead_id)

    async def _run_the_round(self, resources: Resources, lead_id: uuid.UUID) -> None:
        async with resources.unit_of_work() as s:
            await reopen(s, pipeline_for(resources), lead_id, utcnow())

    async def _reread(self, session: AsyncSession, lead_id: uuid.UUID, status: LeadStatus) -> Lead:
        lead = await session.get(Lead, lead_id, populate_existing=True)
        assert lead is not None and lead.status == status, lead and (lead.status, lead.status_reason)
        return lead

    async def _queued(self, session: AsyncSession, topic: str) -> list[str]:
        query = select(OutboxEvent.key).where(OutboxEvent.topic == topic, OutboxEvent.processed_at.is_(None))
        return list(await session.scalars(query.execution_options(populate_existing=True)))

    async def test_a_reopened_lead_gets_the_campaigns_attempts_again_and_alerts_again_when_left(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        lead = await self._left_unassigned(client, key, session, resources, settings)
        assert lead.status_reason == "no agent accepted after 1 offers"
        newcomer = await helpers.agent(session, ["TX"])
        await session.commit()
        await sync_graph(resources)

        async with resources.unit_of_work() as s:
            reopened = await routing.reopen(s, self.MANAGER, lead.id, "hired a TX agent")
        assert (reopened.status, reopened.reopenings, reopened.attempts_before_reopening) == (LeadStatus.SCORED, 1, 1)
        assert await self._queued(session, "lead.reopened") == [str(lead.id)]
        with pytest.raises(Conflict, match="only an UNASSIGNED lead"):
            async with resources.unit_of_work() as s:
                await routing.reopen(s, self.MANAGER, lead.id, None)
        for _ in range(2):  # the event delivered twice: one round
            await self._run_the_round(resources, lead.id)
        assert await self._queued(session, "lead.reopened") == []
        offers = await assignments(session, lead.id)
        assert [(o.attempt, o.status) for o in offers] == [
            (1, AssignmentStatus.TIMED_OUT),
            (2, AssignmentStatus.PENDING),
        ]
        assert offers[1].agent_id == newcomer.id

        await self._time_out_pending(session, resources, settings, lead)
        assert (await self._reread(session, lead.id, LeadStatus.UNASSIGNED)).status_reason == (
            "no agent accepted after 1 offers"
        )
        # Both agents were offered it: reopened again, nobody is offered it twice.
        await self._reopen_and_run_the_round(resources, lead.id)
        final = await self._reread(session, lead.id, LeadStatus.UNASSIGNED)
        assert final.status_reason == "no eligible agent" and len(await assignments(session, lead.id)) == 2
        alerts = await session.scalars(select(OutboxEvent.key).where(OutboxEvent.topic == "lead.unassigned"))
        assert sorted(alerts) == sorted([str(lead.id), f"{lead.id}:1", f"{lead.id}:2"])
        events = [(e.name, e.data) for e in await audit.lead_events(session, lead.id)]
        assert ("lead.reopened", {"by": self.MANAGER.label(), "note": "hired a TX agent"}) in events

    async def test_a_person_who_asked_not_to_be_contacted_meanwhile_is_offered_to_nobody(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        lead = await self._left_unassigned(client, key, session, resources, settings)
        await helpers.agent(session, ["TX"])
        await session.commit()
        await sync_graph(resources)
        async with resources.unit_of_work() as s:
            await routing.reopen(s, self.MANAGER, lead.id, None)
        await dnc.add_many(session, [("phone", lead.phone_hash or "")], "asked not to be called")
        await session.commit()
        await self._run_the_round(resources, lead.id)
        barred = await self._reread(session, lead.id, LeadStatus.UNASSIGNED)
        assert barred.status_reason == "the person is on the do-not-contact list"
        assert len(await assignments(session, lead.id)) == 1
        assert await self._queued(session, "lead.unassigned") == [str(lead.id)]  # only the first time's alert

    async def test_only_staff_reopen_and_only_a_lead_that_may_still_be_offered(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        lead = await self._left_unassigned(client, key, session, resources, settings)
        staff, agent = await helpers.user(session, Role.ADMIN), await helpers.agent(session, ["TX"])
        agent_user = await helpers.user(session, Role.AGENT, agent.id)
        await session.commit()
        admin, as_agent = await helpers.bearer(client, staff), await helpers.bearer(client, agent_user)
        url = f"/api/v1/leads/{lead.id}/reopen"

        assert (await client.post(url, json={})).status_code == 401
        assert (await client.post(url, json={}, headers=as_agent)).status_code == 403
        missing = await client.post(f"/api/v1/leads/{uuid.uuid4()}/reopen", json={}, headers=admin)
        assert missing.status_code == 404
        too_long = await client.post(url, json={"note": "x" * 1001}, headers=admin)
        assert too_long.status_code == 422 and "note" in too_long.text

        await dnc.add_many(session, [("phone", lead.phone_hash or "")], "asked not to be called")
        await session.commit()
        listed = await client.post(url, json={}, headers=admin)
        assert listed.status_code == 409 and "do-not-contact" in listed.json()["detail"]
        await session.execute(delete(DoNotContact).where(DoNotContact.value_hash == lead.phone_hash))
        await session.execute(update(Lead).where(Lead.id == lead.id).values(anonymised_at=utcnow()))
        await session.commit()
        erased = await client.post(url, json={}, headers=admin)
        assert erased.status_code == 409 and "erased" in erased.json()["detail"]
        unchanged = await self._reread(session, lead.id, LeadStatus.UNASSIGNED)
        assert unchanged.reopenings == 0 and await self._queued(session, "lead.reopened") == []

        await session.execute(update(Lead).where(Lead.id == lead.id).values(anonymised_at=None))
        await session.commit()
        answer = await client.post(url, json={"note": "new agent"}, headers=admin)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"id": str(lead.id), "status": "SCORED"}
        assert (await client.post(url, json={}, headers=admin)).status_code == 409

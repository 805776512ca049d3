"""Admins change agents through the data-service: details, caps, licences, shifts, deactivation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents import service as agents_service
from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, AuditEntry, Lead, LeadEvent, OutboxEvent
from leadgen.models.base import utcnow
from leadgen.pipeline.service import expire_offer, pipeline_for, reroute
from leadgen.routing import tasks as routing_tasks
from tests import helpers
from tests.conftest import lead_payload

RENEWED = "2036-06-30"


@dataclass
class World:
    """Two TX agents with users (a lead offered to ``holder``), an admin and a manager."""

    lead_id: uuid.UUID
    offer_id: uuid.UUID
    holder: uuid.UUID
    other: uuid.UUID
    key: str
    headers: dict[str, dict[str, str]]  # "holder", "other", "admin", "manager"


@pytest.fixture
async def world(client: AsyncClient, data_client: AsyncClient, session: AsyncSession, resources: Resources) -> World:
    agents = [await helpers.agent(session, ["TX"]) for _ in range(2)]
    emails = {f"agent{n}": await helpers.user(session, Role.AGENT, a.id) for n, a in enumerate(agents)}
    emails |= {"admin": await helpers.user(session, Role.ADMIN), "manager": await helpers.user(session, Role.MANAGER)}
    key = await helpers.api_key(session)
    await session.commit()
    lead_id = await helpers.submitted_and_processed(client, resources, key, lead_payload())
    [offer] = await offers_of(session, lead_id)
    holder = 0 if offer.agent_id == agents[0].id else 1
    headers = {name: await helpers.bearer(client, email) for name, email in emails.items()}
    headers["holder"], headers["other"] = headers.pop(f"agent{holder}"), headers.pop(f"agent{1 - holder}")
    return World(lead_id, offer.id, agents[holder].id, agents[1 - holder].id, key, headers)


async def offers_of(session: AsyncSession, lead_id: uuid.UUID) -> list[Assignment]:
    query = select(Assignment).where(Assignment.lead_id == lead_id).order_by(Assignment.attempt)
    return list(await session.scalars(query.execution_options(populate_existing=True)))


async def withdrawn_by_the_worker_and_offered_to_the_other(
    session: AsyncSession, resources: Resources, world: World, reason: str
) -> None:
    """A worker takes the holder's outbox event: their offer is withdrawn for ``reason`` and the
    lead's next round queued, which goes to the other agent."""
    [event] = await deactivations(session, world.holder)
    assert withdraw_offers(event) == 1
    [offer] = await offers_of(session, world.lead_id)
    assert (offer.status, offer.reason) == (AssignmentStatus.WITHDRAWN, reason)
    withdrawn = await session.scalars(
        select(LeadEvent.data).where(LeadEvent.lead_id == world.lead_id, LeadEvent.name == "assignment.withdrawn")
    )
    assert list(withdrawn) == [{"agent_id": str(world.holder), "reason": reason}]
    queued = await session.scalars(select(OutboxEvent.key).where(OutboxEvent.topic == "lead.reroute"))
    assert list(queued) == [str(world.lead_id)]
    [event] = await deactivations(session, world.holder)
    assert event.processed_at is not None
    async with resources.unit_of_work() as s:
        assert await reroute(s, pipeline_for(resources), world.lead_id, utcnow()) == LeadStatus.ROUTED
    offers = await offers_of(session, world.lead_id)
    assert [(o.agent_id, o.status) for o in offers] == [
        (world.holder, AssignmentStatus.WITHDRAWN),
        (world.other, AssignmentStatus.PENDING),
    ]


async def audit_entries(session: AsyncSession, agent_id: uuid.UUID) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == "agent.updated", AuditEntry.subject_id == str(agent_id))
    return list(await session.scalars(query))


async def patch(data_client: AsyncClient, world: World, agent_id: uuid.UUID, body: dict[str, Any]) -> Any:
    response = await data_client.patch(f"/api/v1/agents/{agent_id}", json=body, headers=world.headers["admin"])
    assert response.status_code == 200, response.text
    return response.json()


async def deactivations(session: AsyncSession, agent_id: uuid.UUID) -> list[OutboxEvent]:
    """The agent's ``agent.deactivated`` events, read afresh."""
    query = select(OutboxEvent).where(
        OutboxEvent.topic == "agent.deactivated", OutboxEvent.key.startswith(f"{agent_id}:")
    )
    return list(await session.scalars(query.execution_options(populate_existing=True)))


def withdraw_offers(event: OutboxEvent) -> int:
    """What a worker does with the event the relay hands it: the Celery task, in this process."""
    withdrawn: int = routing_tasks.withdraw_agent_offers(event.key)
    return withdrawn


async def routable(resources: Resources, agent_id: uuid.UUID, state: str = "TX", line: str = "auto") -> bool:
    """Whether the graph (where routing looks for candidates) offers the agent leads of this market."""
    assert resources.graph is not None
    return str(agent_id) in await resources.graph.candidates(state, line, date.today())


class TestChange:
    async def test_only_the_fields_sent_change_and_the_audit_names_them_without_personal_data(
        self, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        before = (await data_client.get(f"/api/v1/agents/{world.holder}", headers=world.headers["admin"])).json()
        body = {"name": "Renamed Agent", "phone": "(512) 555-0147", "daily_cap": 7, "timezone": "America/Denver"}
        after = await patch(data_client, world, world.holder, body)
        assert after == before | {"name": "Renamed Agent", "phone": "+15125550147", "daily_cap": 7} | {
            "timezone": "America/Denver",
            "revision": before["revision"] + 1,
        }
        assert (await data_client.get(f"/api/v1/agents/{world.holder}", headers=world.headers["admin"])).json() == after
        [entry] = await audit_entries(session, world.holder)
        assert entry.actor.startswith("user:")
        assert entry.data == {
            "changed": ["name", "phone", "timezone", "daily_cap"],
            "timezone": ["America/Chicago", "America/Denver"],
            "daily_cap": [1000, 7],
        }

    async def test_the_same_values_again_change_nothing_and_audit_nothing(
        self, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        agent = (await data_client.get(f"/api/v1/agents/{world.holder}", headers=world.headers["admin"])).json()
        same = {k: agent[k] for k in ("name", "email", "timezone", "daily_cap", "active", "licences", "shifts")}
        assert await patch(data_client, world, world.holder, same) == agent
        assert await audit_entries(session, world.holder) == []

    async def test_a_change_sent_for_an_older_revision_is_412_and_changes_nothing(
        self, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        """Two admins read the agent; the second one's change, made on what it read, is refused
        once the first one's landed."""
        path, admin = f"/api/v1/agents/{world.holder}", world.headers["admin"]
        read = await data_client.get(path, headers=admin)
        seen = read.headers["etag"]
        assert seen == f'"{read.json()["revision"]}"'
        first = await data_client.patch(path, json={"daily_cap": 7}, headers=admin | {"if-match": seen})
        assert first.status_code == 200, first.text
        assert first.headers["etag"] == f'"{read.json()["revision"] + 1}"' == f'"{first.json()["revision"]}"'
        second = await data_client.patch(path, json={"daily_cap": 30}, headers=admin | {"if-match": seen})
        assert second.status_code == 412, second.text
        assert "changed meanwhile" in second.json()["detail"]
        assert (await data_client.get(path, headers=admin)).json() == first.json()
        assert [entry.data["daily_cap"] for entry in await audit_entries(session, world.holder)] == [[1000, 7]]

    @pytest.mark.parametrize(
        ("if_match", "status"),
        [('W/"{now}"', 412), ('"{now}-x"', 412), ("garbage", 412), ('"{old}", "{now}"', 200), ("*", 200)],
        ids=["weak tag", "foreign tag", "no tag", "a list naming the revision", "any revision"],
    )
    async def test_if_match_is_compared_strongly(
        self, data_client: AsyncClient, world: World, if_match: str, status: int
    ) -> None:
        path, admin = f"/api/v1/agents/{world.holder}", world.headers["admin"]
        now = (await data_client.get(path, headers=admin)).json()["revision"]
        header = if_match.format(now=now, old=now + 5)
        answer = await data_client.patch(path, json={"weight": 3}, headers=admin | {"if-match": header})
        assert answer.status_code == status, answer.text
        assert (await data_client.get(path, headers=admin)).json()["weight"] == (3 if status == 200 else 1)

    async def test_routing_the_agent_leads_does_not_change_their_revision(
        self, client: AsyncClient, data_client: AsyncClient, world: World, resources: Resources
    ) -> None:
        """Offers write the agent's row (the last offer's time), but an admin's form stays current."""
        path, admin = f"/api/v1/agents/{world.holder}", world.headers["admin"]
        before = (await data_client.get(path, headers=admin)).headers["etag"]
        for _ in range(3):
            await helpers.submitted_and_processed(client, resources, world.key, lead_payload())
        answer = await data_client.patch(path, json={"weight": 2}, headers=admin | {"if-match": before})
        assert answer.status_code == 200, answer.text

    async def test_bad_fields_are_422_with_field_and_reason_and_change_nothing(
        self, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        url, admin = f"/api/v1/agents/{world.holder}", world.headers["admin"]
        before = (await data_client.get(url, headers=admin)).json()
        licence = {"state": "TX", "line": "auto", "expires_on": RENEWED}
        bad: list[tuple[dict[str, Any], str]] = [
            ({"name": "Renamed", "phone": "555-01"}, "phone"),
            # Offers are texted to it: a text reaches a switchboard, never its extension.
            ({"phone": "(512) 555-0111 ext. 9"}, "phone"),
            ({"name": None}, "name"),
            ({"active": None}, "active"),
            ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
            # In the time zone database, but no place's zone: the host's own, a placeholder, a template.
            ({"timezone": "localtime"}, "timezone"),
            ({"timezone": "Factory"}, "timezone"),
            ({"timezone": "posixrules"}, "timezone"),
            ({"daily_cap": -1}, "daily_cap"),
            # JSON's booleans are no numbers, though Python takes true for 1.
            ({"daily_cap": True}, "daily_cap"),
            ({"open_cap": False}, "open_cap"),
            ({"weight": True}, "weight"),
            ({"shifts": [{"weekday": True, "starts_at": "09:00", "ends_at": "17:00"}]}, "shifts.0.weekday"),
            ({"licences": [licence, licence | {"state": "tx"}]}, "licences"),
            ({"licences": [licence | {"state": "XX"}]}, "licences.0.state"),
            ({"shifts": [{"weekday": 7, "starts_at": "09:00", "ends_at": "17:00"}]}, "shifts.0.weekday"),
            ({"shifts": [{"weekday": 0, "starts_at": "09:00", "ends_at": "17:00+05:00"}]}, "shifts.0.ends_at"),
            ({"name": "   "}, "name"),
            ({"email": "not-an-address"}, "email"),
            ({"colour": "red"}, "colour"),
        ]
        for body, field in bad:
            response = await data_client.patch(url, json=body, headers=admin)
            assert response.status_code == 422, body
            assert [e["field"] for e in response.json()["errors"]] == [field], response.json()
            assert all(e["reason"] for e in response.json()["errors"])
        assert (await data_client.get(url, headers=admin)).json() == before
        assert await audit_entries(session, world.holder) == []

    async def test_a_number_sent_as_text_is_taken_as_the_agent_form_sends_it(
        self, data_client: AsyncClient, world: World
    ) -> None:
        changed = await patch(data_client, world, world.holder, {"daily_cap": "7", "weight": "2"})
        assert (changed["daily_cap"], changed["weight"]) == (7, 2)

    async def test_another_agents_email_is_409(self, data_client: AsyncClient, world: World) -> None:
        admin = world.headers["admin"]
        theirs = (await data_client.get(f"/api/v1/agents/{world.other}", headers=admin)).json()["email"]
        taken = {"email": theirs.upper()}
        response = await data_client.patch(f"/api/v1/agents/{world.holder}", json=taken, headers=admin)
        assert response.status_code == 409
        # The field and the reason, not the address sent.
        assert response.json()["errors"] == [{"field": "email", "reason": "another agent has this e-mail address"}]
        assert theirs.lower() not in response.text.lower()
        changed = await patch(data_client, world, world.holder, {"email": "New.Address@Agents.Example.com"})
        assert changed["email"] == "new.address@agents.example.com"

    async def test_an_unknown_agent_is_404(self, data_client: AsyncClient, world: World) -> None:
        url = f"/api/v1/agents/{uuid.uuid4()}"
        assert (await data_client.patch(url, json={"weight": 2}, headers=world.headers["admin"])).status_code == 404

    async def test_only_admins_change_agents(self, data_client: AsyncClient, world: World) -> None:
        url = f"/api/v1/agents/{world.holder}"
        assert (await data_client.patch(url, json={"weight": 2})).status_code == 401
        for who in ("manager", "holder"):
            assert (await data_client.patch(url, json={"weight": 2}, headers=world.headers[who])).status_code == 403

    async def test_licences_and_shifts_are_replaced_and_the_graph_follows(
        self, data_client: AsyncClient, world: World, session: AsyncSession, resources: Resources
    ) -> None:
        """An expired licence renewed (the same state and line) makes the agent routable there again
        at once, without waiting for the periodic graph sync."""
        expired = date.today() - timedelta(days=2)
        lapsed = [{"state": "TX", "line": "auto", "expires_on": expired.isoformat()}]
        await patch(data_client, world, world.holder, {"licences": lapsed})
        assert not await routable(resources, world.holder)
        licences = [
            {"state": "TX", "line": "auto", "number": "TX-1", "expires_on": RENEWED},
            {"state": "OK", "line": "home", "number": None, "expires_on": RENEWED},
        ]
        shifts = [{"weekday": 0, "starts_at": "09:00:00", "ends_at": "17:00:00"}]
        agent = await patch(data_client, world, world.holder, {"licences": licences, "shifts": shifts})
        assert (agent["licences"], agent["shifts"]) == (licences, shifts)
        assert await routable(resources, world.holder) and await routable(resources, world.holder, "OK", "home")
        last = (await audit_entries(session, world.holder))[-1]
        assert last.data == {"changed": ["licences", "shifts"], "licences": 2}

    async def test_a_change_whose_commit_fails_leaves_the_graph_as_it_was(
        self, data_client: AsyncClient, world: World, resources: Resources, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The graph is written once the database has committed the change, never before it."""
        real_update = agents_service.update

        async def update_then_fail_at_commit(session: AsyncSession, *args: Any) -> Agent:
            changed = await real_update(session, *args)
            session.add(AuditEntry(actor=None, action="broken", subject_type="agent"))  # NOT NULL, at commit
            return changed

        monkeypatch.setattr(agents_service, "update", update_then_fail_at_commit)
        lapsed = [{"state": "TX", "line": "auto", "expires_on": (date.today() - timedelta(days=2)).isoformat()}]
        url, admin = f"/api/v1/agents/{world.holder}", world.headers["admin"]
        refused = await data_client.patch(url, json={"licences": lapsed}, headers=admin)
        assert refused.status_code == 409, refused.text  # how the data-service answers a refused write
        assert (await data_client.get(url, headers=admin)).json()["licences"][0]["expires_on"] != lapsed[0][
            "expires_on"
        ]
        assert await routable(resources, world.holder)


@pytest.mark.usefixtures("worker")
class TestDeactivation:
    async def test_pending_offers_are_withdrawn_and_each_lead_moves_on(
        self, client: AsyncClient, data_client: AsyncClient, world: World, session: AsyncSession, resources: Resources
    ) -> None:
        agent = await patch(data_client, world, world.holder, {"active": False})
        assert agent["active"] is False
        [entry] = await audit_entries(session, world.holder)
        assert entry.data == {"changed": ["active"], "active": [True, False]}
        assert not await routable(resources, world.holder)
        late = await client.post(f"/api/v1/assignments/{world.offer_id}/accept", headers=world.headers["holder"])
        assert late.status_code == 409
        await withdrawn_by_the_worker_and_offered_to_the_other(session, resources, world, "agent deactivated")

    async def test_the_deactivation_commits_first_and_its_event_outlives_a_process_that_dies(
        self, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        """The PATCH commits ``active = false`` with an outbox event and locks no lead: withdrawing
        there would lock the agent before the leads, and deadlock with routing and the SLA sweep.
        Until a worker takes the event (the relay hands it on again if one dies), the offer is
        still pending but cannot be accepted; taken twice, the event withdraws it once."""
        await patch(data_client, world, world.holder, {"active": False})
        [offer] = await offers_of(session, world.lead_id)
        assert offer.status == AssignmentStatus.PENDING
        [event] = await deactivations(session, world.holder)
        assert event.processed_at is None
        assert await session.scalar(select(OutboxEvent.id).where(OutboxEvent.topic == "lead.reroute")) is None
        assert withdraw_offers(event) == 1
        assert withdraw_offers(event) == 0
        [offer] = await offers_of(session, world.lead_id)
        assert offer.status == AssignmentStatus.WITHDRAWN

    async def test_an_agent_reactivated_before_the_worker_came_keeps_their_offers(
        self, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        await patch(data_client, world, world.holder, {"active": False})
        await patch(data_client, world, world.holder, {"active": True})
        [event] = await deactivations(session, world.holder)
        assert withdraw_offers(event) == 0
        [offer] = await offers_of(session, world.lead_id)
        assert offer.status == AssignmentStatus.PENDING
        [event] = await deactivations(session, world.holder)
        assert event.processed_at is not None

    async def test_a_lead_the_agent_accepted_stays_with_them(
        self, client: AsyncClient, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        accepted = await client.post(f"/api/v1/assignments/{world.offer_id}/accept", headers=world.headers["holder"])
        assert accepted.status_code == 200, accepted.text
        await patch(data_client, world, world.holder, {"active": False})
        [event] = await deactivations(session, world.holder)
        assert withdraw_offers(event) == 0
        [offer] = await offers_of(session, world.lead_id)
        assert offer.status == AssignmentStatus.ACCEPTED
        lead = await session.get(Lead, world.lead_id, populate_existing=True)
        assert lead is not None and lead.status == LeadStatus.ACCEPTED
        assert await session.scalar(select(OutboxEvent.id).where(OutboxEvent.topic == "lead.reroute")) is None

    async def test_an_offer_of_an_agent_made_inactive_another_way_cannot_be_accepted(
        self, client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        await session.execute(update(Agent).where(Agent.id == world.holder).values(active=False))
        await session.commit()
        answer = await client.post(f"/api/v1/assignments/{world.offer_id}/accept", headers=world.headers["holder"])
        assert answer.status_code == 409
        assert "deactivated" in answer.json()["detail"]
        [offer] = await offers_of(session, world.lead_id)
        assert offer.status == AssignmentStatus.PENDING

    @pytest.mark.parametrize("change", [{"active": False}, {"licences": []}])
    async def test_a_round_whose_offers_were_all_withdrawn_uses_none_of_the_leads_attempts(
        self,
        change: dict[str, Any],
        data_client: AsyncClient,
        world: World,
        session: AsyncSession,
        resources: Resources,
    ) -> None:
        """One attempt, and the holder deactivated or no longer licensed before answering: the
        lead goes to the other agent, never offered it, rather than ending UNASSIGNED. A round its
        agent let time out counts."""
        answer = await data_client.put(
            "/api/v1/routing-policies", json={"max_attempts": 1}, headers=world.headers["admin"]
        )
        assert answer.status_code == 200, answer.text
        await patch(data_client, world, world.holder, change)
        [event] = await deactivations(session, world.holder)
        assert withdraw_offers(event) == 1
        async with resources.unit_of_work() as s:
            assert await reroute(s, pipeline_for(resources), world.lead_id, utcnow()) == LeadStatus.ROUTED
        withdrawn, offered = await offers_of(session, world.lead_id)
        assert (withdrawn.status, offered.agent_id, offered.status) == (
            AssignmentStatus.WITHDRAWN,
            world.other,
            AssignmentStatus.PENDING,
        )
        late = offered.expires_at + timedelta(seconds=1)
        async with resources.unit_of_work() as s:
            assert await expire_offer(s, pipeline_for(resources), offered.id, late)
        lead = await session.get(Lead, world.lead_id, populate_existing=True)
        assert lead is not None
        assert (lead.status, lead.status_reason) == (LeadStatus.UNASSIGNED, "no agent accepted after 1 offers")

    async def test_reactivating_makes_the_agent_routable_again(
        self, client: AsyncClient, data_client: AsyncClient, world: World, session: AsyncSession, resources: Resources
    ) -> None:
        await patch(data_client, world, world.other, {"active": False})
        await patch(data_client, world, world.holder, {"active": False})
        assert (
            await patch(data_client, world, world.holder, {"active": True})
            == (await data_client.get(f"/api/v1/agents/{world.holder}", headers=world.headers["admin"])).json()
        )
        assert await routable(resources, world.holder) and not await routable(resources, world.other)
        lead_id = await helpers.submitted_and_processed(client, resources, world.key, lead_payload())
        assert [o.agent_id for o in await offers_of(session, lead_id)] == [world.holder]
        entries = await audit_entries(session, world.holder)
        assert [e.data["active"] for e in entries] == [[True, False], [False, True]]


@pytest.mark.usefixtures("worker")
class TestLicenceChange:
    """Licences an admin changes: the agent's offers of leads they are no longer licensed for are
    withdrawn (through the same outbox event as a deactivation), the others stay theirs."""

    async def test_an_offer_the_agent_is_no_longer_licensed_for_is_withdrawn_and_the_lead_moves_on(
        self, data_client: AsyncClient, world: World, session: AsyncSession, resources: Resources
    ) -> None:
        moved = [{"state": "OK", "line": "auto", "expires_on": RENEWED}]
        await patch(data_client, world, world.holder, {"licences": moved})
        [offer] = await offers_of(session, world.lead_id)
        assert offer.status == AssignmentStatus.PENDING  # until a worker takes the event
        await withdrawn_by_the_worker_and_offered_to_the_other(session, resources, world, "licence no longer holds")

    async def test_a_licence_renewed_or_added_withdraws_nothing(
        self, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        more = [
            {"state": "TX", "line": "auto", "expires_on": RENEWED},
            {"state": "OK", "line": "auto", "expires_on": RENEWED},
        ]
        await patch(data_client, world, world.holder, {"licences": more})
        [event] = await deactivations(session, world.holder)
        assert withdraw_offers(event) == 0
        [offer] = await offers_of(session, world.lead_id)
        assert offer.status == AssignmentStatus.PENDING
        [event] = await deactivations(session, world.holder)
        assert event.processed_at is not None

    async def test_accepting_once_the_licence_was_removed_is_409_and_the_offer_is_withdrawn_for_good(
        self, client: AsyncClient, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        """The refusal commits the withdrawal and the lead's next round: the offer is not left
        pending for the SLA sweep to time out, reported as the agent's breach."""
        await patch(data_client, world, world.holder, {"licences": []})
        url = f"/api/v1/assignments/{world.offer_id}/accept"
        refused = await client.post(url, headers=world.headers["holder"])
        assert refused.status_code == 409, refused.text
        assert "auto licence in TX no longer holds" in refused.json()["detail"]
        [offer] = await offers_of(session, world.lead_id)
        assert (offer.status, offer.reason) == (AssignmentStatus.WITHDRAWN, "licence no longer holds")
        queued = await session.scalars(select(OutboxEvent.key).where(OutboxEvent.topic == "lead.reroute"))
        assert list(queued) == [str(world.lead_id)]
        [event] = await deactivations(session, world.holder)
        assert withdraw_offers(event) == 0  # the accept got there first
        again = await client.post(url, headers=world.headers["holder"])
        assert again.status_code == 409 and "WITHDRAWN" in again.json()["detail"]
        report = await data_client.get(
            "/api/v1/reports/performance", params={"by": "agent"}, headers=world.headers["admin"]
        )
        assert report.status_code == 200, report.text
        breaches = {row["agent_id"]: row["sla_breaches"] for row in report.json()["rows"]}
        assert breaches.get(str(world.holder), 0) == 0


class TestCreate:
    async def test_the_phone_is_stored_in_e164_and_an_invalid_one_is_422(
        self, data_client: AsyncClient, world: World
    ) -> None:
        body = {"name": "New Agent", "email": "new@agents.example.com", "phone": "512.555.0148"}
        created = await data_client.post("/api/v1/agents", json=body, headers=world.headers["admin"])
        assert created.status_code == 201, created.text
        assert created.json()["phone"] == "+15125550148"
        bad = body | {"email": "other@agents.example.com", "phone": "call me"}
        refused = await data_client.post("/api/v1/agents", json=bad, headers=world.headers["admin"])
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["phone"]

    async def test_a_name_is_kept_without_its_surrounding_spaces_and_a_blank_one_is_422(
        self, data_client: AsyncClient, world: World
    ) -> None:
        body = {"name": "  New Agent ", "email": "new@agents.example.com"}
        created = await data_client.post("/api/v1/agents", json=body, headers=world.headers["admin"])
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "New Agent"
        blank = body | {"name": " \t ", "email": "other@agents.example.com"}
        refused = await data_client.post("/api/v1/agents", json=blank, headers=world.headers["admin"])
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["name"]

    async def test_a_boolean_for_a_number_is_422_on_its_field(self, data_client: AsyncClient, world: World) -> None:
        body = {"name": "New Agent", "email": "new@agents.example.com", "weight": True}
        refused = await data_client.post("/api/v1/agents", json=body, headers=world.headers["admin"])
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["weight"]

    async def test_a_shift_time_with_a_utc_offset_is_422_on_its_field(
        self, data_client: AsyncClient, world: World
    ) -> None:
        shift = {"weekday": 0, "starts_at": "09:00+05:00", "ends_at": "17:00Z"}
        body = {"name": "New Agent", "email": "new@agents.example.com", "shifts": [shift]}
        refused = await data_client.post("/api/v1/agents", json=body, headers=world.headers["admin"])
        assert refused.status_code == 422
        errors = refused.json()["errors"]
        assert [e["field"] for e in errors] == ["shifts.0.starts_at", "shifts.0.ends_at"]
        assert all("wall-clock times in the agent's time zone" in e["reason"] for e in errors)

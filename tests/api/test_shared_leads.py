"""A shared lead's agents each work it on their own: outcomes, returns, the reports and routing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.models import Lead, RoutingPolicy, Source
from leadgen.models.base import utcnow
from leadgen.routing import repository as routing
from tests import helpers
from tests.conftest import lead_payload

PRICE_CENTS = 3000


@dataclass(frozen=True)
class Shared:
    """A shared lead bought at $30.00 that both of its agents, Ana and Ben, accepted."""

    lead_id: uuid.UUID
    agent_ids: dict[str, uuid.UUID]
    headers: dict[str, dict[str, str]]  # Ana's, Ben's and an admin's


@pytest.fixture
async def shared(client: AsyncClient, session: AsyncSession, resources: Resources) -> Shared:
    session.add(RoutingPolicy(strategy="round_robin", max_agents=2))
    agents = {name: await helpers.agent(session, ["TX"], name=name.title()) for name in ("ana", "ben")}
    users = {name: await helpers.user(session, Role.AGENT, agent.id) for name, agent in agents.items()}
    users["admin"] = await helpers.user(session, Role.ADMIN)
    key = await helpers.api_key(session)
    await session.execute(update(Source).values(cost_per_lead_cents=PRICE_CENTS))
    await session.commit()
    lead_id = await helpers.submitted_and_processed(client, resources, key, lead_payload(exclusive=False))
    headers = {name: await helpers.bearer(client, email) for name, email in users.items()}
    for name in agents:
        [offer] = (await client.get("/api/v1/assignments", headers=headers[name])).json()
        accepted = await client.post(f"/api/v1/assignments/{offer['assignment_id']}/accept", headers=headers[name])
        assert accepted.status_code == 200, accepted.text
    return Shared(lead_id, {name: agent.id for name, agent in agents.items()}, headers)


async def record(client: AsyncClient, shared: Shared, agent: str, outcome: str) -> str:
    """The agent records the outcome; the lead's status after it."""
    answer = await client.post(
        f"/api/v1/leads/{shared.lead_id}/outcome", json={"status": outcome}, headers=shared.headers[agent]
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


async def lead_as_seen_by(client: AsyncClient, shared: Shared, who: str) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/leads/{shared.lead_id}", headers=shared.headers[who])
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def performance(data_client: AsyncClient, shared: Shared, by: str) -> dict[str, dict[str, Any]]:
    answer = await data_client.get("/api/v1/reports/performance", params={"by": by}, headers=shared.headers["admin"])
    assert answer.status_code == 200, answer.text
    return {row["key"]: row for row in answer.json()["rows"]}


async def open_leads(session: AsyncSession, shared: Shared) -> dict[uuid.UUID, int]:
    """Each agent's open leads as routing counts them for the caps, as committed now."""
    await session.rollback()
    lead = await session.get(Lead, shared.lead_id)
    assert lead is not None
    found = await routing.candidates(session, lead, utcnow(), list(shared.agent_ids.values()))
    return {candidate.agent_id: candidate.open_leads for candidate in found}


FIGURES = ("leads", "accepted", "contacted", "converted", "returned", "billed", "spend_cents")


async def test_each_agent_records_their_own_outcomes_and_a_return_leaves_the_lead_to_the_other(
    client: AsyncClient, data_client: AsyncClient, shared: Shared
) -> None:
    """The review's case: both reach the person; Ana returns the lead, Ben quotes and sells."""
    assert await record(client, shared, "ana", "CONTACTED") == "CONTACTED"
    assert await record(client, shared, "ben", "CONTACTED") == "CONTACTED"  # was 409
    returned = await client.post(
        f"/api/v1/leads/{shared.lead_id}/return", json={"reason": "wrong_number"}, headers=shared.headers["ana"]
    )
    assert returned.status_code == 200 and returned.json()["status"] == "CONTACTED"  # Ben still holds it
    assert await record(client, shared, "ben", "QUOTED") == "QUOTED"
    assert await record(client, shared, "ben", "CONVERTED") == "CONVERTED"
    after_return = await client.post(
        f"/api/v1/leads/{shared.lead_id}/outcome", json={"status": "QUOTED"}, headers=shared.headers["ana"]
    )
    assert after_return.status_code == 409  # no longer Ana's to work, though she reads it
    assert "you returned the lead" in after_return.json()["detail"]

    staff_view = await lead_as_seen_by(client, shared, "admin")
    assert (staff_view["status"], staff_view["status_reason"]) == ("CONVERTED", None)
    anas, bens = [(await lead_as_seen_by(client, shared, who))["assignment"] for who in ("ana", "ben")]
    assert (anas["status"], anas["outcome"]) == ("RETURNED", "CONTACTED")
    assert (bens["status"], bens["outcome"]) == ("ACCEPTED", "CONVERTED") and bens["outcome_at"] is not None
    [bens_offer] = (await client.get("/api/v1/assignments", headers=shared.headers["ben"])).json()
    assert (bens_offer["lead_status"], bens_offer["outcome"]) == ("CONVERTED", "CONVERTED")

    by_agent = await performance(data_client, shared, "agent")
    # Ana returned it: credited. Ben kept it: the whole price is his.
    assert [by_agent["Ana"][f] for f in FIGURES] == [1, 1, 1, 0, 1, 0, 0]
    assert [by_agent["Ben"][f] for f in FIGURES] == [1, 1, 1, 1, 0, 1, PRICE_CENTS]
    by_source = await performance(data_client, shared, "source")
    # Converted once and paid for once, though two agents took it.
    assert [by_source["test-vendor"][f] for f in FIGURES] == [1, 1, 1, 1, 0, 1, PRICE_CENTS]


async def test_the_lead_is_returned_only_when_every_agent_returned_it(client: AsyncClient, shared: Shared) -> None:
    for agent, status in (("ana", "ACCEPTED"), ("ben", "RETURNED")):
        answer = await client.post(
            f"/api/v1/leads/{shared.lead_id}/return", json={"reason": "fraud"}, headers=shared.headers[agent]
        )
        assert answer.status_code == 200 and answer.json()["status"] == status
    assert (await lead_as_seen_by(client, shared, "admin"))["status_reason"] == "returned: fraud"


async def test_conversions_are_each_agents_own(
    client: AsyncClient, data_client: AsyncClient, session: AsyncSession, shared: Shared
) -> None:
    """Ana quotes and loses the lead; Ben goes on and sells. Routing's conversion rate counts what
    each did, and the lead's status never moves back on the way."""
    for agent, outcome, lead_status in [
        ("ana", "CONTACTED", "CONTACTED"),
        ("ana", "QUOTED", "QUOTED"),
        ("ben", "CONTACTED", "QUOTED"),
        ("ana", "LOST", "QUOTED"),  # Ben still works it: not LOST, and not back to CONTACTED
        ("ben", "QUOTED", "QUOTED"),
    ]:
        assert await record(client, shared, agent, outcome) == lead_status
    assert await record(client, shared, "ben", "CONVERTED") == "CONVERTED"
    ana, ben = shared.agent_ids["ana"], shared.agent_ids["ben"]
    await session.rollback()  # a fresh snapshot, with the outcomes committed
    assert await routing.outcome_counts(session, [ana, ben], "auto") == {ana: (0, 1), ben: (1, 1)}
    by_agent = await performance(data_client, shared, "agent")
    assert [by_agent["Ana"][f] for f in FIGURES] == [1, 1, 1, 0, 0, 1, PRICE_CENTS // 2]
    assert [by_agent["Ben"][f] for f in FIGURES] == [1, 1, 1, 1, 0, 1, PRICE_CENTS // 2]


async def test_a_lead_another_agent_converted_stays_in_the_load_of_the_agent_still_working_it(
    client: AsyncClient, session: AsyncSession, shared: Shared
) -> None:
    """Routing's open-lead cap counts Ben's lead until Ben ends his own work on it."""
    ana, ben = shared.agent_ids["ana"], shared.agent_ids["ben"]
    for agent, outcome in (("ana", "CONTACTED"), ("ana", "QUOTED"), ("ben", "CONTACTED"), ("ana", "CONVERTED")):
        await record(client, shared, agent, outcome)
    assert await open_leads(session, shared) == {ana: 0, ben: 1}
    assert await record(client, shared, "ben", "QUOTED") == "CONVERTED"  # Ben may go on; the lead stays converted
    assert await record(client, shared, "ben", "LOST") == "CONVERTED"
    assert await open_leads(session, shared) == {ana: 0, ben: 0}


async def test_offers_not_yet_answered_are_withdrawn_once_the_takers_finish_the_lead(
    client: AsyncClient, data_client: AsyncClient, session: AsyncSession, resources: Resources
) -> None:
    """Ana returns a shared lead Ben has not answered yet: the lead is RETURNED at once, and Ben's
    offer is withdrawn, not left to be refused at accept and timed out as his SLA breach."""
    session.add(RoutingPolicy(strategy="round_robin", max_agents=2))
    agents = {name: await helpers.agent(session, ["TX"], name=name.title()) for name in ("ana", "ben")}
    users = {name: await helpers.user(session, Role.AGENT, agent.id) for name, agent in agents.items()}
    admin_email = await helpers.user(session, Role.ADMIN)
    key = await helpers.api_key(session)
    await session.commit()
    lead_id = await helpers.submitted_and_processed(client, resources, key, lead_payload(exclusive=False))
    headers = {name: await helpers.bearer(client, email) for name, email in users.items()}
    [anas] = (await client.get("/api/v1/assignments", headers=headers["ana"])).json()
    [bens] = (await client.get("/api/v1/assignments", headers=headers["ben"])).json()
    assert (await client.post(f"/api/v1/assignments/{anas['assignment_id']}/accept", headers=headers["ana"])).is_success
    returned = await client.post(f"/api/v1/leads/{lead_id}/return", json={"reason": "fraud"}, headers=headers["ana"])
    assert returned.json()["status"] == "RETURNED"

    [bens_now] = (await client.get("/api/v1/assignments", headers=headers["ben"])).json()
    assert bens_now["status"] == "WITHDRAWN"
    too_late = await client.post(f"/api/v1/assignments/{bens['assignment_id']}/accept", headers=headers["ben"])
    assert too_late.status_code == 409
    admin = await helpers.bearer(client, admin_email)
    report = await data_client.get("/api/v1/reports/performance", params={"by": "agent"}, headers=admin)
    assert {row["key"]: row["sla_breaches"] for row in report.json()["rows"]}["Ben"] == 0

"""What each reader of a lead sees of it: its source, the agents it was offered to, staff."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.leads.lifecycle import Line
from leadgen.leads.visibility import DETAILS_FACTOR, reason_for_source, score_factors_for_agent
from leadgen.models.base import utcnow
from leadgen.pipeline.service import pipeline_for, reroute
from tests import helpers
from tests.conftest import lead_payload

DECLINED_BECAUSE = "the person is my neighbour, conflict of interest"


async def offered_to(client: AsyncClient, agents: list[dict[str, str]]) -> list[dict[str, str]]:
    """Those of the agents (their Authorization headers) who hold an offer."""
    return [h for h in agents if (await client.get("/api/v1/assignments", headers=h)).json()]


@pytest.fixture
async def declined_then_offered(client: AsyncClient, session: AsyncSession, resources: Resources) -> dict[str, Any]:
    """A lead that the agent first offered it declined, in words; the next round had two agents
    eligible, ranked both and offered it to one of them."""
    agents = [await helpers.agent(session, ["TX"], name=name) for name in ("Avery", "Blake", "Casey")]
    users = [await helpers.user(session, Role.AGENT, agent.id) for agent in agents]
    admin = await helpers.user(session, Role.ADMIN)
    key = await helpers.api_key(session)
    await session.commit()
    lead_id = await helpers.submitted_and_processed(client, resources, key, lead_payload())
    headers = [await helpers.bearer(client, email) for email in users]
    [declined] = await offered_to(client, headers)
    offer = (await client.get("/api/v1/assignments", headers=declined)).json()[0]["assignment_id"]
    answer = await client.post(
        f"/api/v1/assignments/{offer}/reject", json={"reason": DECLINED_BECAUSE}, headers=declined
    )
    assert answer.status_code == 200, answer.text
    async with resources.unit_of_work() as work:
        await reroute(work, pipeline_for(resources), lead_id, utcnow())
    [offered] = await offered_to(client, [h for h in headers if h is not declined])
    staff = await helpers.bearer(client, admin)
    return {"lead": lead_id, "declined": declined, "offered": offered, "staff": staff, "key": key}


async def test_the_source_reads_how_its_lead_fared_not_who_worked_it(
    client: AsyncClient, declined_then_offered: dict[str, Any]
) -> None:
    lead = declined_then_offered["lead"]
    seen = (await client.get(f"/api/v1/leads/{lead}", headers={"X-API-Key": declined_then_offered["key"]})).json()
    assert set(seen) == {"id", "line", "state", "status", "status_reason", "received_at", "score"}
    assert seen["status"] == "ROUTED"


async def test_an_agent_reads_their_own_offer_and_not_the_other_agents(
    client: AsyncClient, declined_then_offered: dict[str, Any]
) -> None:
    lead, offered = declined_then_offered["lead"], declined_then_offered["offered"]
    as_staff = (await client.get(f"/api/v1/leads/{lead}", headers=declined_then_offered["staff"])).json()
    assert len(as_staff["assignment"]["explanation"]["ranking"]) == 2  # the round ranked two agents
    seen = (await client.get(f"/api/v1/leads/{lead}", headers=offered)).json()
    me = seen["assignment"]["agent_id"]
    explanation = seen["assignment"]["explanation"]
    assert "excluded" not in explanation
    assert set(explanation["ranking"]) == {me}
    assert explanation["ranking"][me] == as_staff["assignment"]["explanation"]["ranking"][me]
    assert (explanation["chosen"], explanation["eligible"]) == (me, 2)
    about_agents = [e["data"]["agent_id"] for e in seen["events"] if "agent_id" in e["data"]]
    assert about_agents and set(about_agents) == {me}
    assert DECLINED_BECAUSE not in str(seen)


async def test_staff_read_everything(client: AsyncClient, declined_then_offered: dict[str, Any]) -> None:
    lead = declined_then_offered["lead"]
    seen = (await client.get(f"/api/v1/leads/{lead}", headers=declined_then_offered["staff"])).json()
    rejected = [e for e in seen["events"] if e["name"] == "assignment.rejected"]
    assert rejected[0]["data"]["reason"] == DECLINED_BECAUSE
    assert "excluded" in seen["assignment"]["explanation"]


async def test_an_agent_who_declined_no_longer_reads_or_lists_the_lead(
    client: AsyncClient, declined_then_offered: dict[str, Any]
) -> None:
    lead, declined = declined_then_offered["lead"], declined_then_offered["declined"]
    assert (await client.get(f"/api/v1/leads/{lead}", headers=declined)).status_code == 404
    assert (await client.get("/api/v1/leads", headers=declined)).json() == []
    listed = (await client.get("/api/v1/leads", headers=declined_then_offered["offered"])).json()
    assert [row["id"] for row in listed] == [str(lead)]


async def test_the_score_reasons_drawn_from_the_details_reach_an_agent_once_they_accept(
    client: AsyncClient, session: AsyncSession, resources: Resources
) -> None:
    """A life lead's health (tobacco, a BMI over 35) moves its score; an agent with the offer not yet
    accepted reads the points those reasons add, not the reasons."""
    agent = await helpers.agent(session, ["TX"], [Line.LIFE])
    user = await helpers.user(session, Role.AGENT, agent.id)
    admin = await helpers.user(session, Role.ADMIN)
    key = await helpers.api_key(session)
    await session.commit()
    health = {"height_inches": 64, "weight_pounds": 230, "tobacco": True, "face_amount": 500_000, "product": "term"}
    lead = await helpers.submitted_and_processed(
        client, resources, key, lead_payload(line="life", details=health, campaign=None)
    )
    as_agent, as_staff = await helpers.bearer(client, user), await helpers.bearer(client, admin)

    staff_factors = (await client.get(f"/api/v1/leads/{lead}", headers=as_staff)).json()["score_factors"]["factors"]
    from_details = [f for f in staff_factors if f["from_details"]]
    assert "tobacco use, BMI over 35" in [f["factor"] for f in from_details]
    pending = (await client.get(f"/api/v1/leads/{lead}", headers=as_agent)).json()
    assert pending["assignment"]["status"] == "PENDING"
    factors = pending["score_factors"]["factors"]
    assert [f for f in factors if not f["from_details"]] == [f for f in staff_factors if not f["from_details"]]
    [together] = [f for f in factors if f["from_details"]]
    assert together["factor"] == DETAILS_FACTOR
    assert together["points"] == pytest.approx(sum(f["points"] for f in from_details), abs=0.05)
    assert "tobacco" not in str(pending) and "BMI" not in str(pending)

    accepted = await client.post(f"/api/v1/assignments/{pending['assignment']['id']}/accept", headers=as_agent)
    assert accepted.status_code == 200, accepted.text
    working = (await client.get(f"/api/v1/leads/{lead}", headers=as_agent)).json()
    assert working["score_factors"]["factors"] == staff_factors


def test_factors_not_marked_count_as_drawn_from_the_details() -> None:
    """A score stored before its factors were marked is shown as if all were drawn from them."""
    stored = {
        "model": "lead-score-v1",
        "probability": 0.2,
        "factors": [{"factor": "tobacco user, BMI 39", "points": -3.0}],
    }
    shown = score_factors_for_agent(stored, "PENDING")
    assert shown == {**stored, "factors": [{"factor": DETAILS_FACTOR, "points": -3.0, "from_details": True}]}
    assert score_factors_for_agent(stored, "ACCEPTED") == stored
    assert score_factors_for_agent(None, "PENDING") is None


def test_a_duplicate_does_not_name_the_earlier_lead_to_its_source() -> None:
    earlier = uuid.uuid4()
    assert str(earlier) not in (reason_for_source("DUPLICATE", f"same person as lead {earlier}") or "")
    assert reason_for_source("REJECTED", "on the do-not-contact list") == "on the do-not-contact list"

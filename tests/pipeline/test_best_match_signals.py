"""Best match's signals as routing reads them from the database and stores them with the offer:
conversion rate over the leads each agent finished, line fit over the licences that hold, and
similar-lead success named unavailable while the vector store is down."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads import repository as leads_repository
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus, Line
from leadgen.models import Agent, Assignment, Licence, RoutingPolicy
from leadgen.models.base import utcnow
from leadgen.routing import repository as routing_repository
from leadgen.routing import service as routing
from tests import helpers
from tests.conftest import lead_payload


async def submit(client: AsyncClient, key: str) -> uuid.UUID:
    response = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


async def best_match_ranking(
    client: AsyncClient, key: str, resources: Resources, settings: Settings, agents: list[Agent]
) -> dict[str, dict[str, float]]:
    """The best-match numbers of each agent, as stored with the offer of a new Texas auto lead."""
    lead_id = await submit(client, key)
    async with resources.unit_of_work() as s:
        lead = await leads_repository.get(s, lead_id, lock=True)
        assert lead is not None
        [offer] = await routing.route(s, settings, lead, utcnow(), [agent.id for agent in agents])
    ranking: dict[str, dict[str, float]] = offer.explanation["ranking"]
    return ranking


async def accepted_offer(
    session: AsyncSession, client: AsyncClient, key: str, agent: Agent, outcome: LeadStatus | None
) -> None:
    """An auto lead the agent accepted two days ago; closed when ``outcome`` is CONVERTED or LOST."""
    now = utcnow()
    closed = outcome in (LeadStatus.CONVERTED, LeadStatus.LOST)
    session.add(
        Assignment(
            lead_id=await submit(client, key),
            agent_id=agent.id,
            attempt=1,
            slot=0,
            strategy="round_robin",
            explanation={},
            status=AssignmentStatus.ACCEPTED,
            created_at=now - timedelta(days=2),
            expires_at=now - timedelta(days=2) + timedelta(minutes=15),
            responded_at=now - timedelta(days=2) + timedelta(minutes=5),
            outcome=outcome,
            outcome_at=now - timedelta(days=1) if outcome else None,
            closed_at=now - timedelta(days=1) if closed else None,
        )
    )


async def test_conversion_rate_leaves_out_leads_still_being_worked(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """P and Q each finished four auto leads, converting two. Q also works three more, one quoted
    and two not called yet: they are neither sales nor losses, and Q's rate is P's."""
    session.add(RoutingPolicy(strategy="best_match"))
    p = await helpers.agent(session, ["TX"], name="P")
    q = await helpers.agent(session, ["TX"], name="Q")
    await session.commit()
    finished = [LeadStatus.CONVERTED, LeadStatus.CONVERTED, LeadStatus.LOST, LeadStatus.LOST]
    for outcome in finished:
        await accepted_offer(session, client, key, p, outcome)
        await accepted_offer(session, client, key, q, outcome)
    for working in (LeadStatus.QUOTED, None, None):
        await accepted_offer(session, client, key, q, working)
    await session.commit()
    assert await routing_repository.outcome_counts(session, [p.id, q.id], "auto") == {p.id: (2, 4), q.id: (2, 4)}
    ranking = await best_match_ranking(client, key, resources, settings, [p, q])
    assert ranking[str(q.id)]["conversion_rate"] == ranking[str(p.id)]["conversion_rate"]


async def test_line_fit_counts_only_the_licences_that_hold_in_the_leads_state(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """R and S sell auto in Texas only: R's home licence in Texas expired in 2019, and R's home
    licence in California is of another state; both are auto specialists for a Texas lead. T also
    sells home in Texas: half a specialist."""
    session.add(RoutingPolicy(strategy="best_match"))
    r = await helpers.agent(session, ["TX"], name="R")
    s = await helpers.agent(session, ["TX"], name="S")
    t = await helpers.agent(session, ["TX"], [Line.AUTO, Line.HOME], name="T")
    session.add(Licence(agent_id=r.id, state="TX", line=Line.HOME.value, expires_on=date(2019, 12, 31)))
    session.add(Licence(agent_id=r.id, state="CA", line=Line.HOME.value, expires_on=date(2035, 1, 1)))
    await session.commit()
    ranking = await best_match_ranking(client, key, resources, settings, [r, s, t])
    assert [ranking[str(agent.id)]["line_fit"] for agent in (r, s, t)] == [1.0, 1.0, 0.5]


@pytest.mark.parametrize("vectors", ["up", "down"])
async def test_the_explanation_names_the_similar_lead_signal_unavailable_while_the_vector_store_is_down(
    vectors: str,
    client: AsyncClient,
    key: str,
    session: AsyncSession,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lead is still offered, matched on the other signals; the stored decision says it went
    without similar-lead success, rather than that no similar lead went well for any agent."""
    session.add(RoutingPolicy(strategy="best_match"))
    agents = [await helpers.agent(session, ["TX"]) for _ in range(2)]
    users = {agent.id: await helpers.user(session, Role.AGENT, agent.id) for agent in agents}
    await session.commit()
    if vectors == "down":

        async def refused(*_: object) -> dict[str, float]:
            raise ConnectionError("the vector store does not answer")

        monkeypatch.setattr(type(resources.vectors), "agent_success", refused)
    lead_id = await helpers.submitted_and_processed(client, resources, key, lead_payload())
    [offer] = await session.scalars(select(Assignment).where(Assignment.lead_id == lead_id))
    expected = ["similar_success"] if vectors == "down" else None
    assert offer.explanation.get("unavailable") == expected
    assert offer.explanation["eligible"] == 2
    # The agent offered the lead is told too: their similar-lead number of 0 was not measured.
    holder = await helpers.bearer(client, users[offer.agent_id])
    seen = (await client.get(f"/api/v1/leads/{lead_id}", headers=holder)).json()["assignment"]["explanation"]
    assert seen.get("unavailable") == expected

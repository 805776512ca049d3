"""Routing two or more leads at the same moment, each in a transaction of its own: the strategy's
spread holds, caps hold, the stored explanation matches the decision, and round robin's clock never
goes back. The interleavings need row locks, so most of these run on PostgreSQL only (SQLite lets
one writer in at a time, from the lead's lock on: nothing commits while a routing runs)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads import repository as leads_repository
from leadgen.models import Agent, Assignment, Lead, Notification, RoutingPolicy
from leadgen.models.base import utcnow
from leadgen.pipeline.service import pipeline_for, process_lead
from leadgen.routing import repository as routing_repository
from leadgen.routing import service as routing
from leadgen.routing.rules import Candidate
from tests import helpers
from tests.conftest import lead_payload, sync_graph

postgres_only = pytest.mark.parametrize("backend", ["postgres"])


async def submit(client: AsyncClient, key: str) -> uuid.UUID:
    response = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


async def route(
    resources: Resources,
    settings: Settings,
    lead_id: uuid.UUID,
    agent_ids: list[uuid.UUID],
    now: datetime | None = None,
) -> list[Assignment]:
    """One routing round of the lead, committed, as the orchestrator runs it (the lead locked first)."""
    async with resources.unit_of_work() as s:
        lead = await leads_repository.get(s, lead_id, lock=True)
        assert lead is not None
        await asyncio.sleep(0)  # lets routings started together read the agents together
        return await routing.route(s, settings, lead, now or utcnow(), agent_ids)


async def two_agents(session: AsyncSession, **first: Any) -> tuple[Agent, Agent]:
    """Two TX agents, in the order round robin offers them when neither has had a lead (agent id)."""
    made = [await helpers.agent(session, ["TX"]) for _ in range(2)]
    x, y = sorted(made, key=lambda agent: str(agent.id))
    for field, value in first.items():
        setattr(x, field, value)
    await session.commit()
    return x, y


def committed_meanwhile(other_routing: Callable[[], Awaitable[None]]) -> AbstractContextManager[object]:
    """``routing_repository.candidates`` as a routing reads it when ``other_routing`` runs and
    commits right after its first read: the routing goes on with agents read before that commit."""
    read_candidates = routing_repository.candidates
    interleaved = False

    async def candidates(*args: Any, **kwargs: Any) -> list[Candidate]:
        nonlocal interleaved
        found = await read_candidates(*args, **kwargs)
        if not interleaved:
            interleaved = True
            await other_routing()
        return found

    return patch.object(routing_repository, "candidates", candidates)


@postgres_only
async def test_an_agent_offered_a_lead_since_routing_read_them_goes_behind_the_others(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """Both routings read X and Y as never assigned; the other one offers X its lead and commits
    before this one locks X. Round robin now puts X last: this lead goes to Y."""
    x, y = await two_agents(session)
    first, second = await submit(client, key), await submit(client, key)
    offered: dict[uuid.UUID, uuid.UUID] = {}

    async def other_routing() -> None:
        [offer] = await route(resources, settings, first, [x.id, y.id])
        offered[first] = offer.agent_id

    with committed_meanwhile(other_routing):
        [offer] = await route(resources, settings, second, [x.id, y.id])
    offered[second] = offer.agent_id
    assert offered == {first: x.id, second: y.id}
    assert offer.explanation["chosen"] == str(y.id)
    assert offer.explanation["ranking"][str(y.id)]["rank"] == 1


@postgres_only
async def test_a_cap_filled_since_routing_read_the_agent_is_explained(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """X had room for one more lead when this routing read it; another routing filled it before this
    one locked X. The offer to Y says why X was skipped, and counts one eligible agent, not two."""
    x, y = await two_agents(session, daily_cap=1)
    first, second = await submit(client, key), await submit(client, key)

    async def other_routing() -> None:
        [offer] = await route(resources, settings, first, [x.id, y.id])
        assert offer.agent_id == x.id

    with committed_meanwhile(other_routing):
        [offer] = await route(resources, settings, second, [x.id, y.id])
    assert offer.agent_id == y.id
    why = offer.explanation
    assert (why["chosen"], why["eligible"], why["considered"]) == (str(y.id), 1, 2)
    assert why["excluded"] == {str(x.id): ["daily cap reached"]}
    assert set(why["ranking"]) == {str(y.id)}
    offers_to_x = await session.scalars(select(Assignment.id).where(Assignment.agent_id == x.id))
    assert len(list(offers_to_x)) == 1


@postgres_only
async def test_an_agent_another_routing_holds_is_passed_over_without_waiting(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """One routing has offered X a lead and not committed yet. Another routing, which also read X as
    first in line, offers Y its lead at once rather than waiting for X and offering X a second."""
    x, y = await two_agents(session)
    first, second = await submit(client, key), await submit(client, key)
    async with resources.unit_of_work() as s:
        lead = await leads_repository.get(s, first, lock=True)
        assert lead is not None
        [held] = await routing.route(s, settings, lead, utcnow(), [x.id, y.id])
        assert held.agent_id == x.id
        other = asyncio.create_task(route(resources, settings, second, [x.id, y.id]))
        await asyncio.wait({other}, timeout=3)
        finished_while_x_was_held = other.done()
    [offer] = await other
    assert offer.agent_id == y.id
    assert finished_while_x_was_held
    # X, held by the other routing, is why Y came first: the explanation says so.
    assert list(offer.explanation["excluded"]) == [str(x.id)]
    assert (offer.explanation["chosen"], offer.explanation["eligible"]) == (str(y.id), 1)


@postgres_only
async def test_a_row_written_about_the_agent_elsewhere_does_not_hold_the_agent(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """A notification to X being recorded in another transaction (its foreign key share-locks X's
    row) neither holds routing up nor makes it pass X over: only a change to X does."""
    x, y = await two_agents(session)
    lead_id = await submit(client, key)
    async with resources.unit_of_work() as s:
        s.add(Notification(channel="email", recipient_kind="agent", agent_id=x.id, template="offer", status="sending"))
        await s.flush()
        routing_task = asyncio.create_task(route(resources, settings, lead_id, [x.id, y.id]))
        await asyncio.wait({routing_task}, timeout=3)
        finished_while_x_was_written_about = routing_task.done()
    [offer] = await routing_task
    assert (offer.agent_id, finished_while_x_was_written_about) == (x.id, True)


@postgres_only
async def test_when_every_agent_is_held_routing_waits_rather_than_leave_the_lead_unassigned(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    x = await helpers.agent(session, ["TX"])
    await session.commit()
    first, second = await submit(client, key), await submit(client, key)
    async with resources.unit_of_work() as s:
        lead = await leads_repository.get(s, first, lock=True)
        assert lead is not None
        await routing.route(s, settings, lead, utcnow(), [x.id])
        other = asyncio.create_task(route(resources, settings, second, [x.id]))
        await asyncio.wait({other}, timeout=0.5)
        assert not other.done()  # waits for X's row
    [offer] = await other
    assert offer.agent_id == x.id
    assert (await session.get(Lead, second, populate_existing=True)).status == "ROUTED"  # type: ignore[union-attr]


@postgres_only
@pytest.mark.parametrize("strategy", ["round_robin", "weighted", "best_match"])
async def test_leads_routed_at_once_spread_over_the_agents(
    strategy: str, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """Three leads routed at once go to three agents, one each, and so do three more, whatever the
    strategy. (In one burst of more leads than agents, a routing passes over an agent that another,
    slower routing is offering a lead, which can leave that agent one lead behind.)"""
    session.add(RoutingPolicy(strategy=strategy))
    agents = [await helpers.agent(session, ["TX"]) for _ in range(3)]
    await session.commit()
    ids = [agent.id for agent in agents]
    for _ in range(2):
        leads = [await submit(client, key) for _ in range(3)]
        results = await asyncio.gather(*(route(resources, settings, lead_id, ids) for lead_id in leads))
        assert sorted((offer.agent_id for offers in results for offer in offers), key=str) == sorted(ids, key=str)


@postgres_only
async def test_four_leads_through_the_pipeline_at_once_go_to_four_idle_agents(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources
) -> None:
    """As the worker runs four pipeline tasks at a time (``LEADGEN_WORKER_CONCURRENCY``)."""
    agents = [await helpers.agent(session, ["TX"]) for _ in range(4)]
    await session.commit()
    await sync_graph(resources)
    leads = [await submit(client, key) for _ in range(4)]
    pipe = pipeline_for(resources)

    async def process(lead_id: uuid.UUID) -> None:
        async with resources.unit_of_work() as s:
            await process_lead(s, pipe, lead_id, utcnow())

    await asyncio.gather(*(process(lead_id) for lead_id in leads))
    offered = await session.scalars(select(Assignment.agent_id).where(Assignment.lead_id.in_(leads)))
    assert sorted(offered, key=str) == sorted((agent.id for agent in agents), key=str)


async def test_round_robins_clock_never_goes_back(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """A routing whose clock is behind another's (it began earlier, or runs on a host whose clock
    is behind) offers the agent a lead after the other committed: the agent's last assignment stays
    the later one."""
    x = await helpers.agent(session, ["TX"])
    await session.commit()
    ahead = utcnow() + timedelta(minutes=5)
    first, second = await submit(client, key), await submit(client, key)
    await route(resources, settings, first, [x.id], ahead)
    await route(resources, settings, second, [x.id], utcnow())
    agent = await session.get(Agent, x.id, populate_existing=True)
    assert agent is not None and agent.last_assigned_at == ahead


async def test_round_robins_clock_is_when_the_agent_got_the_lead(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    """Not when the routing began: a routing that began an hour ago (or waited that long for the
    agent's row) gave the agent its lead now, after every lead given since the hour began."""
    x = await helpers.agent(session, ["TX"])
    await session.commit()
    began = utcnow() - timedelta(hours=1)
    await route(resources, settings, await submit(client, key), [x.id], began)
    agent = await session.get(Agent, x.id, populate_existing=True)
    assert agent is not None and agent.last_assigned_at is not None
    assert agent.last_assigned_at > began + timedelta(minutes=59)

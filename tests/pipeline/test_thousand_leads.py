"""1,000 generated leads across lines and states, then every assignment is read back and checked
against the hard filters: licence (state x line, unexpired), shift, daily and open caps;
exclusive leads go to exactly one agent; duplicates link to their original, and a repeat of a lead
that was routed is a duplicate.

Runs on SQLite (the embedded shape) and on PostgreSQL, where leads are processed concurrently so
that the row locks guarding the caps are exercised.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from leadgen.core.resources import Resources
from leadgen.core.runtime import run_in_transaction
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import LeadStatus, Line
from leadgen.models import Agent, Assignment, Lead, RoutingPolicy, Source
from leadgen.models.base import utcnow
from leadgen.pipeline.service import pipeline_for, process_lead
from leadgen.targets.api import create_app
from tests import helpers
from tests.conftest import lead_payload, started, sync_graph

STATES = {"TX": "78701", "FL": "33101", "CA": "90012", "NY": "10001", "IL": "60601", "AK": "99501"}
DETAILS = {
    "auto": {"drivers": [{"age_first_licensed": 17}], "vehicles": [{"year": 2018, "make": "Ford", "model": "F-150"}]},
    "home": {"year_built": 1995, "square_feet": 2100, "dwelling_coverage": 400000},
    "life": {"height_inches": 68, "weight_pounds": 170, "tobacco": False, "face_amount": 500000},
    "health": {"household": [{"relationship": "self", "age": 40}]},
    "commercial": {
        "legal_name": "Acme LLC",
        "entity_type": "llc",
        "years_in_business": 4,
        "employees": 12,
        "coverages": ["general_liability"],
    },
}
LEADS = 1000
DUPLICATE_EVERY = 20  # one lead in twenty repeats an earlier person


async def build_book(session: AsyncSession, rng: random.Random) -> None:
    lines = list(Line)
    now = utcnow()
    for i in range(24):
        states = rng.sample([s for s in STATES if s != "AK"], k=rng.randint(1, 3))
        tz = rng.choice(["America/Chicago", "America/New_York", "America/Los_Angeles"])
        local_hour = now.astimezone(ZoneInfo(tz)).hour
        # A third work around the clock, a third only now-ish, a third only at another time.
        hours = [
            helpers.ALL_DAY,
            (time(local_hour), time(23, 59)),
            (time((local_hour + 6) % 24), time((local_hour + 7) % 24)),
        ][i % 3]
        await helpers.agent(
            session,
            states,
            rng.sample(lines, k=rng.randint(1, 3)),
            expires_on=date(2020, 1, 1) if i % 7 == 0 else date(2031, 1, 1),
            hours=hours,
            timezone=tz,
            daily_cap=rng.randint(20, 80),
            open_cap=rng.randint(30, 90),
        )
    # Shared leads of this campaign go to up to two agents.
    session.add(RoutingPolicy(campaign="shared-pilot", strategy="weighted", max_agents=2))


def payloads(rng: random.Random) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for n in range(LEADS):
        if n and n % DUPLICATE_EVERY == 0:
            earlier = rng.choice(out)
            out.append(dict(earlier, campaign="repeat"))
            continue
        state = rng.choice(list(STATES))
        line = rng.choice(list(DETAILS))
        payload = lead_payload(line=line, details=DETAILS[line], campaign=rng.choice(["spring", "shared-pilot"]))
        payload["exclusive"] = payload["campaign"] != "shared-pilot"
        payload["contact"]["phone"] = f"{rng.choice(['512', '305', '213', '212', '312'])}-555-{n:04d}"
        payload["contact"]["email"] = f"person{n}@example.com"
        payload["contact"]["address"] = {"street": f"{n} Main St", "zip": STATES[state]}
        out.append(payload)
    return out


@pytest.mark.slow
async def test_thousand_leads_respect_every_hard_filter(
    settings: Settings, session: AsyncSession, resources: Resources, backend: str
) -> None:
    rng = random.Random(7)
    await build_book(session, rng)
    key = await helpers.api_key(session)
    await session.commit()
    ids: list[uuid.UUID] = []
    async for client in started(create_app(settings)):
        for payload in payloads(rng):
            ids.append(await _post(client, key, payload))

    await sync_graph(resources)
    started_at = utcnow()
    parallel = 8 if backend == "postgres" else 1
    queue = list(ids)
    pipe = pipeline_for(resources)

    async def worker() -> None:
        # As the orchestrator's tasks do: best-match routing locks agents in ranking order, so
        # concurrent routings may deadlock, and PostgreSQL's victim runs again.
        while queue:
            lead_id = queue.pop(0)

            async def route(session: AsyncSession, lead: uuid.UUID = lead_id) -> LeadStatus | None:
                return await process_lead(session, pipe, lead, utcnow())

            await run_in_transaction(resources, route)

    await asyncio.gather(*(worker() for _ in range(parallel)))
    await check(session, started_at)


async def _post(client: AsyncClient, key: str, payload: dict[str, object]) -> uuid.UUID:
    response = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


async def check(session: AsyncSession, started_at: datetime) -> None:
    leads = {lead.id: lead for lead in await session.scalars(select(Lead))}
    agents = {
        a.id: a
        for a in await session.scalars(select(Agent).options(selectinload(Agent.licences), selectinload(Agent.shifts)))
    }
    offers = list(await session.scalars(select(Assignment)))
    assert len(leads) == LEADS
    statuses = Counter(lead.status for lead in leads.values())
    assert statuses[LeadStatus.RECEIVED] == 0
    assert statuses[LeadStatus.ROUTED] > LEADS / 3, statuses
    assert statuses[LeadStatus.DUPLICATE] > 0, statuses
    # A repeat is a duplicate whenever an earlier lead of the person was routed. A repeat of a lead
    # left UNASSIGNED is nobody's and is routed afresh (processed concurrently, it may still find
    # the earlier lead in the pipeline, and be its duplicate).
    leads_of_person: defaultdict[str | None, list[Lead]] = defaultdict(list)
    for lead in sorted(leads.values(), key=lambda lead: (lead.received_at, lead.id)):
        leads_of_person[lead.phone_hash].append(lead)
    for same_person in leads_of_person.values():
        for n, lead in enumerate(same_person):
            if any(earlier.status == LeadStatus.ROUTED for earlier in same_person[:n]):
                assert lead.status == LeadStatus.DUPLICATE, f"repeat {lead.id} of a routed lead is {lead.status}"

    per_lead: dict[uuid.UUID, list[Assignment]] = defaultdict(list)
    per_agent_day: Counter[tuple[uuid.UUID, date]] = Counter()
    for offer in offers:
        lead, agent = leads[offer.lead_id], agents[offer.agent_id]
        per_lead[lead.id].append(offer)
        local = offer.created_at.astimezone(ZoneInfo(agent.timezone))
        per_agent_day[(agent.id, local.date())] += 1
        assert agent.active
        assert any(
            li.state == lead.state and li.line == lead.line and li.expires_on >= local.date() for li in agent.licences
        ), f"unlicensed offer {offer.id}"
        assert any(s.weekday == local.weekday() and s.starts_at <= local.time() < s.ends_at for s in agent.shifts), (
            f"off-shift offer {offer.id}"
        )
    for (agent_id, _), count in per_agent_day.items():
        assert count <= agents[agent_id].daily_cap
    for agent_id, count in Counter(o.agent_id for o in offers).items():
        assert count <= agents[agent_id].open_cap

    for lead in leads.values():
        got = per_lead.get(lead.id, [])
        assert len({o.agent_id for o in got}) == len(got), "an agent was offered a lead twice"
        if lead.status == LeadStatus.ROUTED:
            assert len(got) == 1 if lead.exclusive else 1 <= len(got) <= 2
        elif lead.status in (LeadStatus.UNASSIGNED, LeadStatus.DUPLICATE):
            assert got == []
        if lead.state == "AK":
            assert lead.status in (LeadStatus.UNASSIGNED, LeadStatus.DUPLICATE)
        if lead.status == LeadStatus.DUPLICATE:
            assert lead.duplicate_of_id is not None
            original = leads[lead.duplicate_of_id]
            assert original.line == lead.line and original.received_at <= lead.received_at
            assert original.phone_hash == lead.phone_hash or original.email_hash == lead.email_hash
    assert any(len(v) == 2 for v in per_lead.values()), "no shared lead went to two agents"
    assert utcnow() - started_at < timedelta(minutes=10)
    assert all(s.name for s in await session.scalars(select(Source)))

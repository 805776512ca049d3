"""1,000 generated leads across lines and states, then every assignment is read back and checked
against the hard filters: licence (state x line, unexpired), shift, daily and open caps;
exclusive leads go to exactly one agent; duplicates link to their original, and a repeat of a lead
that was routed is a duplicate.

Runs twice, with one check of what was written:

- embedded: SQLite, the leads posted to the api app in this process and routed by the pipeline
  called here, one at a time;
- as deployed: PostgreSQL and Redis, the leads posted over HTTP to a real ``leadgen serve --target
  api`` and handed on through the outbox and the Redis broker to ONE real ``serve --target
  orchestrator``, which routes them as they arrive, several at once (the row locks guarding the caps
  and the person locks of dedupe are exercised). No worker runs: the messages it would send change
  no lead and no assignment.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from leadgen.core.resources import Resources
from leadgen.core.runtime import run_in_transaction
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import LeadStatus, Line
from leadgen.models import Agent, Assignment, Lead, OutboxEvent, RoutingPolicy, Source
from leadgen.models.base import utcnow
from leadgen.pipeline.service import pipeline_for, process_lead
from leadgen.targets.api import create_app
from tests import helpers
from tests.conftest import lead_payload, started, sync_graph
from tests.targets.processes import Served, base_env, serving

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
            (clock(local_hour), clock(23, 59)),
            (clock((local_hour + 6) % 24), clock((local_hour + 7) % 24)),
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
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_thousand_leads_embedded_respect_every_hard_filter(
    settings: Settings, session: AsyncSession, resources: Resources
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
    pipe = pipeline_for(resources)
    for lead_id in ids:

        async def route(session: AsyncSession, lead: uuid.UUID = lead_id) -> LeadStatus | None:
            return await process_lead(session, pipe, lead, utcnow())

        await run_in_transaction(resources, route)
    await check(session, started_at)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgres"])
async def test_thousand_leads_through_the_deployed_services_respect_every_hard_filter(
    database_url: str, redis_url: str, session: AsyncSession, tmp_path: Path
) -> None:
    rng = random.Random(7)
    await build_book(session, rng)
    key = await helpers.api_key(session)
    await session.commit()
    async with Redis.from_url(redis_url) as redis:
        await redis.flushdb()  # no task of an earlier test waits in the queues
    env = base_env(
        LEADGEN_DB_URL=database_url,
        LEADGEN_REDIS_URL=redis_url,
        # Not this process's: Qdrant's local mode admits one process per folder.
        LEADGEN_DATA_DIR=str(tmp_path / "services"),
        LEADGEN_INTAKE_RATE_LIMIT="10000/second",
        LEADGEN_LOG_LEVEL="WARNING",
    )
    logs = tmp_path / "logs"
    started_at = utcnow()
    # The orchestrator starts after the book is committed: it copies the agents into its graph as it starts.
    with serving("api", env, logs) as api, serving("orchestrator", env, logs) as orchestrator:
        assert api.http is not None
        ids = await _post_over_http(api.http, key, payloads(rng))
        await _until_routed(database_url, ids, orchestrator)
    await check(session, started_at)
    undelivered = await session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.topic == "lead.received", OutboxEvent.processed_at.is_(None))
    )
    assert undelivered == 0, f"{undelivered} leads' lead.received events were left unprocessed"


POSTING_CONNECTIONS = 4
# A thousand leads take the orchestrator some 25 s here; a slow CI machine gets ten times that.
ROUTING_SECONDS = 300.0


async def _post_over_http(api: str, key: str, leads: list[dict[str, object]]) -> list[uuid.UUID]:
    """Every lead posted to the real api, by a few senders at once, as vendors' clients do."""
    waiting = iter(leads)
    ids: list[uuid.UUID] = []
    async with AsyncClient(base_url=api, timeout=30) as client:

        async def sender() -> None:
            for payload in waiting:
                ids.append(await _post(client, key, payload))

        await asyncio.gather(*(sender() for _ in range(POSTING_CONNECTIONS)))
    return ids


async def _until_routed(database_url: str, ids: list[uuid.UUID], orchestrator: Served) -> None:
    """Wait until no lead is RECEIVED any more; fail naming those that still are."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        started = time.monotonic()
        while True:
            waiting = [
                row["id"]
                for row in await conn.fetch(
                    "SELECT id FROM leads WHERE id = ANY($1::uuid[]) AND status = $2", ids, LeadStatus.RECEIVED.value
                )
            ]
            if not waiting:
                return
            waited = time.monotonic() - started
            if not orchestrator.alive() or waited > ROUTING_SECONDS:
                raise AssertionError(
                    f"{len(waiting)} of {len(ids)} leads are still RECEIVED after {waited:.0f}s "
                    f"(orchestrator {'running' if orchestrator.alive() else 'exited'}), among them "
                    f"{', '.join(map(str, waiting[:10]))}; the orchestrator's log:\n{orchestrator.log_tail()}"
                )
            await asyncio.sleep(1)
    finally:
        await conn.close()


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

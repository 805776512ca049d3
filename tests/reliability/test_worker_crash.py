"""SIGKILL the worker in the middle of a burst of 500 leads: nothing is lost, nothing routed twice.

Real processes against the real servers: the api (``leadgen serve --target api``) takes the
burst and hands each lead to Redis through the transactional outbox; the worker
(``leadgen serve --target worker``) runs the pipeline. Once some but not all leads are processed
the worker is killed with SIGKILL: the tasks it had reserved stay unacknowledged in Redis (for the
broker's hour-long visibility timeout), so only the outbox relay can bring them back. A new worker
and the scheduler (beat, which sends ``outbox.relay`` every 5 s; the lease is 3 s here) finish
the job. At the end every lead must be ROUTED or UNASSIGNED, with one assignment per routed lead.

Uses a database of its own and its own Redis db (``LEADGEN_TEST_RELIABILITY_REDIS_DB``, 11 by
default), flushed first.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus, Line
from leadgen.models import Agent, Assignment, Lead, Licence, OutboxEvent
from tests import helpers
from tests.conftest import PG_HOST, PG_PORT, lead_payload, require_server, worker_id
from tests.targets.processes import Served, base_env, drop_database, free_port, fresh_database, migrate, serve

pytestmark = pytest.mark.slow

LEADS = 500
LEASE_SECONDS = 3
KILL_AFTER_PROCESSED = 40
POST_CONCURRENCY = 16
SETTLE_SECONDS = 300.0
REDIS_DB = int(os.environ.get("LEADGEN_TEST_RELIABILITY_REDIS_DB", "11"))
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# state: (ZIP, area code); AK has no licensed agent, so its leads must end UNASSIGNED.
PLACES = {"TX": ("78701", "512"), "FL": ("33101", "305"), "NY": ("10001", "212"), "CA": ("90012", "213")}
UNLICENSED = ("AK", "99501", "907")
TERMINAL = (LeadStatus.ROUTED, LeadStatus.UNASSIGNED)


def burst_lead(i: int) -> tuple[str, dict[str, Any]]:
    """The i-th lead: every tenth one from Alaska; distinct phone and e-mail, so none is a duplicate."""
    if i % 10 == 9:
        state, zip_code, area = UNLICENSED
    else:
        state = list(PLACES)[i % len(PLACES)]
        zip_code, area = PLACES[state]
    payload = lead_payload()
    payload["contact"]["phone"] = f"{area}-555-{i:04d}"
    payload["contact"]["email"] = f"burst{i}@example.com"
    payload["contact"]["address"] = {"street": f"{i} Main Street", "zip": zip_code}
    return state, payload


@dataclass
class Stack:
    env: dict[str, str]
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    logs: Path
    processes: list[Served] = field(default_factory=list)

    async def start(self, target: str, *, http: bool = False, label: str = "") -> Served:
        served = serve(target, self.env, self.logs, http=http, label=label)
        self.processes.append(served)
        await asyncio.to_thread(served.wait_healthy)
        return served

    async def scalar(self, query: Any) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(query) or 0)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    require_server("Redis", REDIS_HOST, REDIS_PORT)
    name = f"leadgen_reliability_{worker_id()}"
    url = await fresh_database(name)
    redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = base_env(
        LEADGEN_DATA_DIR=str(tmp_path / "data"),
        LEADGEN_DB_URL=url,
        LEADGEN_REDIS_URL=redis_url,
        LEADGEN_WORKER_OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
        LEADGEN_INTAKE_RATE_LIMIT="100000/second",
        LEADGEN_SMTP_HOST="127.0.0.1",
        LEADGEN_SMTP_PORT=str(smtp.port),
        LEADGEN_LOG_LEVEL="WARNING",
    )
    await asyncio.to_thread(migrate, env)
    engine: AsyncEngine = create_async_engine(url)
    stack = Stack(env, async_sessionmaker(engine, expire_on_commit=False), redis, tmp_path / "logs")
    try:
        yield stack
    finally:
        for served in stack.processes:
            if served.alive():
                served.process.kill()
                served.process.wait(10)
        await engine.dispose()
        await redis.flushdb()
        await redis.aclose()
        smtp.stop()
        await drop_database(name)


@dataclass
class Burst:
    sent: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    state_of: dict[str, str] = field(default_factory=dict)  # lead id -> state


async def post_burst(api: str, key: str, burst: Burst) -> None:
    queue = list(range(LEADS))

    async def poster(client: httpx.AsyncClient) -> None:
        while queue:
            state, payload = burst_lead(queue.pop(0))
            response = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
            burst.codes[response.status_code] += 1
            burst.sent += 1
            if response.status_code == 202:
                burst.state_of[response.json()["id"]] = state

    async with httpx.AsyncClient(base_url=api, timeout=60) as client:
        await asyncio.gather(*(poster(client) for _ in range(POST_CONCURRENCY)))


async def stranded_leads(redis: Redis) -> set[str]:
    """Lead ids of the ``pipeline.process_lead`` messages delivered but never acknowledged.

    kombu's Redis transport keeps each delivered message in the ``unacked`` hash until the ack,
    as ``[message, exchange, routing_key]``; a Celery message body is ``[args, kwargs, embed]``.
    """
    ids = set()
    for raw in await redis.hvals("unacked"):
        message = json.loads(raw)[0]
        if message["headers"]["task"] == "pipeline.process_lead":
            args = json.loads(base64.b64decode(message["body"]))[0]
            ids.add(str(args[0]))
    return ids


async def test_sigkilled_worker_loses_nothing_and_routes_nothing_twice(stack: Stack) -> None:
    # Agents licensed in every state used (large caps, on shift around the clock), and two that must
    # never receive anything: one whose only licence (AK) expired, one never on shift.
    async with stack.sessions() as session:
        licensed = [
            await helpers.agent(session, states, daily_cap=600, open_cap=600)
            for states in (["TX", "FL"], ["TX", "NY"], ["CA", "FL"], ["NY", "CA", "TX"], list(PLACES))
        ]
        expired = await helpers.agent(session, ["AK", "TX"], expires_on=date(2020, 1, 1))
        off_shift = await helpers.agent(session, list(PLACES), days=range(0))
        key = await helpers.api_key(session)
        await session.commit()
    ineligible = {expired.id, off_shift.id}
    assert len(licensed) == 5

    api = await stack.start("api", http=True)
    worker = await stack.start("worker", label="-first")
    assert api.http is not None

    burst = Burst()
    posting = asyncio.create_task(post_burst(api.http, key, burst))
    processed = select(func.count()).select_from(Lead).where(Lead.status != LeadStatus.RECEIVED)

    # Kill the worker once it has processed some leads, while the burst is still coming in.
    deadline = time.monotonic() + 120
    while (done := await stack.scalar(processed)) < KILL_AFTER_PROCESSED:
        assert time.monotonic() < deadline, f"the worker processed only {done} leads\n{worker.log_tail()}"
        assert worker.alive(), worker.log_tail()
        await asyncio.sleep(0.05)
    worker.signal(signal.SIGKILL)
    assert await asyncio.to_thread(worker.process.wait, 10) == -signal.SIGKILL
    sent_at_kill = burst.sent
    processed_at_kill = await stack.scalar(processed)
    assert 0 < processed_at_kill < LEADS, processed_at_kill
    # Leads whose task the dead worker had taken but not finished: only the relay can save them.
    async with stack.sessions() as session:
        waiting = {str(i) for i in await session.scalars(select(Lead.id).where(Lead.status == LeadStatus.RECEIVED))}
    stranded = await stranded_leads(stack.redis) & waiting

    # A new worker, and beat to send the relay; the relay re-dispatches leases older than 3 s.
    second = await stack.start("worker", label="-second")
    await stack.start("scheduler")
    await posting
    assert burst.codes == Counter({202: LEADS}), burst.codes

    async def settled() -> bool:
        terminal = select(func.count()).select_from(Lead).where(Lead.status.in_(TERMINAL))
        backlog = (
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.topic == "lead.received", OutboxEvent.processed_at.is_(None))
        )
        return await stack.scalar(terminal) == LEADS and await stack.scalar(backlog) == 0

    deadline = time.monotonic() + SETTLE_SECONDS
    while not await settled():
        if time.monotonic() > deadline:
            async with stack.sessions() as session:
                statuses = dict(Counter(await session.scalars(select(Lead.status))))
            pytest.fail(f"not settled in {SETTLE_SECONDS:.0f}s: {statuses}\n{second.log_tail()}")
        await asyncio.sleep(0.5)

    async with stack.sessions() as session:
        rows = (await session.execute(select(Lead.id, Lead.status, Lead.state, Lead.line))).all()
        leads = {str(lead_id): status for lead_id, status, _, _ in rows}
        lead_facts = {str(lead_id): (state, line) for lead_id, _, state, line in rows}
        assignments = (await session.execute(select(Assignment.lead_id, Assignment.agent_id, Assignment.status))).all()
        events = (
            await session.execute(
                select(OutboxEvent.key, OutboxEvent.dispatch_count).where(OutboxEvent.topic == "lead.received")
            )
        ).all()
        agents = {a.id: a for a in await session.scalars(select(Agent))}
        licences = {
            (li.agent_id, li.state, li.line)
            for li in await session.scalars(select(Licence))
            if li.expires_on >= date.today()
        }

    # All 500 accepted leads are stored and ended ROUTED or, for Alaska only, UNASSIGNED.
    assert set(leads) == set(burst.state_of)
    for lead_id, state in burst.state_of.items():
        expected = LeadStatus.UNASSIGNED if state == UNLICENSED[0] else LeadStatus.ROUTED
        assert leads[lead_id] == expected, (lead_id, state, leads[lead_id])

    # One assignment per routed lead, none for the others; none routed twice.
    per_lead = Counter(str(lead_id) for lead_id, _, _ in assignments)
    assert max(per_lead.values()) == 1, per_lead.most_common(3)
    assert set(per_lead) == {i for i, s in leads.items() if s == LeadStatus.ROUTED}
    assert all(status == AssignmentStatus.PENDING for _, _, status in assignments)

    # Every lead.received event was written once and processed; the stranded ones the relay re-sent.
    assert sorted(key for key, _ in events) == sorted(leads)
    resent = {key for key, count in events if count > 0}
    assert stranded <= resent, f"stranded by the kill but never re-sent: {stranded - resent}"

    # No cap, licence or shift was violated.
    per_agent = Counter(agent_id for _, agent_id, _ in assignments)
    assert not (set(per_agent) & ineligible), per_agent
    for agent_id, count in per_agent.items():
        assert count <= min(agents[agent_id].daily_cap, agents[agent_id].open_cap), (agents[agent_id].name, count)
    for assigned, agent_id, _ in assignments:
        state, line = lead_facts[str(assigned)]
        assert (agent_id, state, line) in licences, (assigned, agent_id, state, line)
        assert line == Line.AUTO

    print(  # shown with -s: what the kill actually interrupted
        f"\nkilled after {processed_at_kill} processed / {sent_at_kill} posted; {len(stranded)} leads stranded;"
        f" {len(resent)} events re-sent by the relay; routed {sum(per_lead.values())},"
        f" unassigned {sum(1 for s in leads.values() if s == LeadStatus.UNASSIGNED)};"
        f" per agent {sorted(per_agent.values())}"
    )

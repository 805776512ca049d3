"""Redis cut under a running api: intake goes on, sign-in is refused, and nothing accepted is lost.

Real processes (``leadgen serve``) on a PostgreSQL database of their own and the test Redis db
(``LEADGEN_TEST_REDIS_URL``), reached through a :class:`~tests.targets.processes.TcpProxy` that the
test cuts and restores. While it is cut, the api accepts leads sent with an API key and quote
requests (202: the lead and its outbox event are in PostgreSQL, the rate limits fail open) and
refuses sign-ins (503 with Retry-After: the lockout fails closed). Once Redis is back the worker
and the scheduler start, as Kubernetes would bring them back, and every lead accepted during the
outage is decided: the outbox relay hands on what the api could not queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from leadgen.auth.roles import Role
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import Lead
from tests import helpers
from tests.api.test_quote_requests import QUOTES, quote_request_payload
from tests.conftest import PG_HOST, PG_PORT, REDIS_URL, lead_payload, require_server, worker_id
from tests.targets.processes import Served, TcpProxy, base_env, drop_database, fresh_database, migrate, serve

pytestmark = pytest.mark.slow

# The pipeline's decisions here; DUPLICATE when two of the test's random people share a number.
DECIDED = (LeadStatus.ROUTED, LeadStatus.UNASSIGNED, LeadStatus.DUPLICATE)
SETTLE_SECONDS = 90.0


@dataclass
class Platform:
    env: dict[str, str]
    logs: Path
    redis: TcpProxy
    key: str
    email: str
    sessions: async_sessionmaker[AsyncSession]
    processes: list[Served]

    async def start(self, target: str, *, http: bool = False) -> Served:
        served = serve(target, self.env, self.logs, http=http)
        self.processes.append(served)
        await asyncio.to_thread(served.wait_healthy)
        return served

    async def undecided(self, ids: list[str]) -> dict[str, str]:
        async with self.sessions() as session:
            rows = await session.execute(select(Lead.id, Lead.status).where(Lead.id.in_(ids)))
            return {str(i): status for i, status in rows if status not in DECIDED}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    upstream = urlsplit(REDIS_URL)
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    require_server("Redis", upstream.hostname or "127.0.0.1", upstream.port or 6379)
    name = f"leadgen_redis_outage_{worker_id()}"
    url = await fresh_database(name)
    proxy = TcpProxy((upstream.hostname or "127.0.0.1", upstream.port or 6379))
    env = base_env(
        LEADGEN_DATA_DIR=str(tmp_path / "data"),
        LEADGEN_DB_URL=url,
        LEADGEN_REDIS_URL=f"redis://127.0.0.1:{proxy.port}{upstream.path}",
        LEADGEN_WORKER_OUTBOX_LEASE_SECONDS="3",
        LEADGEN_LOG_LEVEL="WARNING",
    )
    await asyncio.to_thread(migrate, env)
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        await helpers.agent(session, ["TX"])
        key = await helpers.api_key(session)
        email = await helpers.user(session, Role.MANAGER)
        await session.commit()
    platform = Platform(env, tmp_path / "logs", proxy, key, email, sessions, [])
    try:
        yield platform
    finally:
        for served in platform.processes:
            if served.alive():
                served.process.kill()
                served.process.wait(10)
        proxy.cut()
        await engine.dispose()
        await drop_database(name)


async def test_intake_goes_on_and_sign_in_is_refused_while_redis_is_down(platform: Platform) -> None:
    api = await platform.start("api", http=True)
    assert api.http is not None
    vendor = {"X-API-Key": platform.key}
    sign_in = {"username": platform.email, "password": helpers.PASSWORD}
    async with httpx.AsyncClient(base_url=api.http, timeout=30) as client:
        # Connections to Redis pooled while it is up, which the cut then closes.
        assert (await client.post("/api/v1/auth/token", data=sign_in)).status_code == 200
        assert (await client.post("/api/v1/leads", json=lead_payload(), headers=vendor)).status_code == 202

        platform.redis.cut()
        during = [await client.post("/api/v1/leads", json=lead_payload(), headers=vendor) for _ in range(5)]
        during.append(await client.post(QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend()))
        assert [a.status_code for a in during] == [202] * 6, [a.text for a in during]
        refused = await client.post("/api/v1/auth/token", data=sign_in)
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) > 0
        assert "access_token" not in refused.json()

        platform.redis.restore()
        signed_in = await client.post("/api/v1/auth/token", data=sign_in)
        assert signed_in.status_code == 200, signed_in.text
        after = await client.post("/api/v1/leads", json=lead_payload(), headers=vendor)
        assert after.status_code == 202, after.text

    await platform.start("worker")
    await platform.start("scheduler")
    accepted = [a.json()["id"] for a in [*during, after]]
    deadline = time.monotonic() + SETTLE_SECONDS
    while undecided := await platform.undecided(accepted):
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.target}\n{p.log_tail(15)}" for p in platform.processes)
            pytest.fail(f"not decided in {SETTLE_SECONDS:.0f}s: {undecided}\n{tails}")
        await asyncio.sleep(0.5)
    async with platform.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Lead)) == len(accepted) + 1

"""SLA timers survive a worker restart: deadlines live in PostgreSQL, the sweep is a beat job.

A lead is offered; the worker is killed; the offer's deadline passes while no worker runs; a new
worker and the scheduler start; the lead moves to the next agent, and after the last attempt it is
UNASSIGNED with the admins' alert queued.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Assignment, Lead, OutboxEvent
from leadgen.models.base import utcnow
from leadgen.targets.api import create_app
from leadgen.targets.registry import DB, GRAPH
from tests import helpers
from tests.conftest import REDIS_URL, lead_payload, require_server, started, worker_id
from tests.targets.processes import base_env, drop_database, fresh_database, migrate, serve

pytestmark = pytest.mark.slow


@pytest.fixture
async def platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[tuple[dict[str, str], Resources]]:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    require_server("Redis", "127.0.0.1", 6379)
    database = f"leadgen_test_sla_restart_{worker_id()}"
    url = await fresh_database(database)
    redis_url = REDIS_URL  # this test runner's own Redis database
    await Redis.from_url(redis_url).flushdb()
    env = {
        "LEADGEN_DB_URL": url,
        "LEADGEN_REDIS_URL": redis_url,
        "LEADGEN_ROUTING_MAX_ATTEMPTS": "2",
        "LEADGEN_LOG_FORMAT": "console",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    migrate(base_env(**env))
    resources = Resources.build(get_settings(), frozenset({DB, GRAPH}), "test")
    try:
        yield base_env(**env), resources
    finally:
        await resources.close()
        await drop_database(database)


async def offers(resources: Resources, lead_id: uuid.UUID) -> list[Assignment]:
    async with resources.require_sessions()() as s:
        rows = await s.scalars(select(Assignment).where(Assignment.lead_id == lead_id).order_by(Assignment.attempt))
        return list(rows)


async def lead_status(resources: Resources, lead_id: uuid.UUID) -> str:
    async with resources.require_sessions()() as s:
        lead = await s.get(Lead, lead_id)
        assert lead is not None
        return lead.status


async def expire_pending(resources: Resources, lead_id: uuid.UUID) -> None:
    """Move the pending offer's deadline into the past: what the clock does while nobody runs."""
    async with resources.unit_of_work() as s:
        await s.execute(
            update(Assignment)
            .where(Assignment.lead_id == lead_id, Assignment.status == AssignmentStatus.PENDING)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def until(check: object, seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


async def test_offer_deadlines_survive_a_worker_restart(
    platform: tuple[dict[str, str], Resources], tmp_path: Path
) -> None:
    env, resources = platform
    async with resources.unit_of_work() as s:
        for name in ("First", "Second"):
            await helpers.agent(s, ["TX"], name=name)
        key = await helpers.api_key(s)
    settings: Settings = get_settings()
    async for client in started(create_app(settings)):
        response = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
    lead_id = uuid.UUID(response.json()["id"])

    worker = serve("worker", env, tmp_path / "logs", http=False)
    try:
        worker.wait_healthy()
        await until(lambda: _has_offers(resources, lead_id, 1), 60, "the first offer")
    finally:
        worker.signal(signal.SIGKILL)
        worker.process.wait(10)

    await expire_pending(resources, lead_id)  # the SLA runs out while no worker is up
    worker = serve("worker", env, tmp_path / "logs", http=False, label="-restarted")
    scheduler = serve("scheduler", env, tmp_path / "logs", http=False)
    try:
        worker.wait_healthy()
        scheduler.wait_healthy()
        await until(lambda: _has_offers(resources, lead_id, 2), 90, "the offer to move to the second agent")
        first, second = await offers(resources, lead_id)
        assert first.status == AssignmentStatus.TIMED_OUT and second.status == AssignmentStatus.PENDING
        assert first.agent_id != second.agent_id

        await expire_pending(resources, lead_id)
        await until(lambda: _status_is(resources, lead_id, LeadStatus.UNASSIGNED), 90, "the lead to be UNASSIGNED")
    finally:
        for process in (worker, scheduler):
            process.stop()
    async with resources.require_sessions()() as s:
        alert = await s.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == "lead.unassigned", OutboxEvent.key == str(lead_id))
        )
        lead = await s.get(Lead, lead_id)
    assert alert is not None, "admins were not alerted"
    assert lead is not None and lead.status_reason == "no agent accepted after 2 offers"


async def _has_offers(resources: Resources, lead_id: uuid.UUID, count: int) -> bool:
    return len(await offers(resources, lead_id)) >= count


async def _status_is(resources: Resources, lead_id: uuid.UUID, status: LeadStatus) -> bool:
    return await lead_status(resources, lead_id) == status

"""An admin's agent change answers promptly whatever the graph does: its write to the graph is not
what the answer waits for once it takes long, and a failed one is left to the periodic sync."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents import graph_sync
from leadgen.agents.graph_sync import GRAPH_WRITE_WAIT
from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.stores.broker import create_celery
from leadgen.stores.graph.neo4j_store import Neo4jGraphStore
from leadgen.targets import data_service
from tests import helpers
from tests.conftest import started

# What the answer may take on top of the wait, on a busy test machine.
PROMPT = GRAPH_WRITE_WAIT + 2.0


@dataclass
class Admin:
    client: AsyncClient
    resources: Resources
    headers: dict[str, str]
    agent_id: uuid.UUID

    async def rename(self, name: str) -> tuple[int, float]:
        """PATCH the agent's name: the status and how long the answer took."""
        started_at = time.monotonic()
        answer = await self.client.patch(f"/api/v1/agents/{self.agent_id}", json={"name": name}, headers=self.headers)
        return answer.status_code, time.monotonic() - started_at

    async def name(self) -> str:
        answer = await self.client.get(f"/api/v1/agents/{self.agent_id}", headers=self.headers)
        name: str = answer.json()["name"]
        return name


@pytest.fixture
async def admin(settings: Settings, session: AsyncSession, client: AsyncClient) -> AsyncIterator[Admin]:
    agent = await helpers.agent(session, ["TX"])
    email = await helpers.user(session, Role.ADMIN)
    await session.commit()
    headers = await helpers.bearer(client, email)
    app = data_service.create_app(settings)
    async for data_client in started(app):
        yield Admin(data_client, app.state.resources, headers, agent.id)


async def test_a_graph_that_hangs_holds_the_answer_no_longer_than_the_wait(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = admin.resources.graph
    assert graph is not None
    release = asyncio.Event()
    real_upsert = graph.upsert_agent

    async def slow_upsert(*args: Any, **kwargs: Any) -> None:
        await asyncio.wait_for(release.wait(), 10)
        await real_upsert(*args, **kwargs)

    monkeypatch.setattr(graph, "upsert_agent", slow_upsert)

    status, took = await admin.rename("Renamed While The Graph Hangs")

    assert status == 200 and GRAPH_WRITE_WAIT <= took < PROMPT
    assert await admin.name() == "Renamed While The Graph Hangs"
    # The write goes on in the background and lands once the graph answers.
    release.set()
    await asyncio.gather(*graph_sync._writes)
    written = await graph.get_agent(admin.agent_id)
    assert written is not None and written.name == "Renamed While The Graph Hangs"


async def test_a_failed_graph_write_is_logged_and_the_change_kept(
    admin: Admin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    graph = admin.resources.graph
    assert graph is not None

    async def failing_upsert(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("graph down")

    monkeypatch.setattr(graph, "upsert_agent", failing_upsert)

    with caplog.at_level(logging.ERROR, logger="leadgen.agents.graph_sync"):
        status, took = await admin.rename("Renamed While The Graph Fails")

    assert status == 200 and took < PROMPT
    assert await admin.name() == "Renamed While The Graph Fails"
    assert f"agent {admin.agent_id} not written to the graph" in caplog.text


async def test_a_neo4j_server_that_is_down_holds_the_answer_no_longer_than_the_wait(admin: Admin) -> None:
    """The production adapter on a closed port: the driver alone would try for 30 s."""
    embedded = admin.resources.graph
    admin.resources.graph = Neo4jGraphStore.connect("bolt://127.0.0.1:1", "neo4j", "password")
    try:
        status, took = await admin.rename("Renamed While Neo4j Is Down")
        assert status == 200 and took < PROMPT
        await asyncio.gather(*graph_sync._writes)  # fails within seconds, logged
    finally:
        await admin.resources.graph.close()
        admin.resources.graph = embedded


def test_the_periodic_sync_that_repairs_a_missed_write_is_scheduled(settings: Settings) -> None:
    schedule = create_celery(settings).conf.beat_schedule
    assert "agents.sync_graph" in {entry["task"] for entry in schedule.values()}

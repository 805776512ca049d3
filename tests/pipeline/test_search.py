"""Similar-lead search through the orchestrator, over leads the pipeline embedded."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models.base import utcnow
from leadgen.pipeline.service import pipeline_for, process_lead
from leadgen.targets import api, orchestrator
from tests import helpers
from tests.conftest import lead_payload, started, sync_graph


@pytest.fixture
async def clients(settings: Settings, resources: Resources) -> AsyncIterator[tuple[AsyncClient, AsyncClient]]:
    # The orchestrator shares the test's resources: Qdrant local mode allows one client per folder.
    async for api_client in started(api.create_app(settings)):
        async for orch in started(orchestrator.create_app(settings, resources)):
            yield api_client, orch


async def test_search_by_words_and_by_lead(
    clients: tuple[AsyncClient, AsyncClient], session: AsyncSession, resources: Resources
) -> None:
    api_client, orch = clients
    await helpers.agent(session, ["TX"])
    key = await helpers.api_key(session)
    admin = await helpers.user(session, Role.ADMIN)
    await session.commit()
    notes = [
        "needs a state filing after a speeding ticket",
        "renewal in two weeks, wants a cheaper premium",
        "speeding ticket last year, state filing required",
    ]
    ids = []
    for text in notes:
        response = await api_client.post("/api/v1/leads", json=lead_payload(notes=text), headers={"X-API-Key": key})
        ids.append(uuid.UUID(response.json()["id"]))
    await sync_graph(resources)
    for lead_id in ids:
        async with resources.unit_of_work() as s:
            await process_lead(s, pipeline_for(resources), lead_id, utcnow())
    headers = await helpers.bearer(api_client, admin)

    found = (
        await orch.get("/api/v1/search", params={"q": "speeding ticket filing", "limit": 2}, headers=headers)
    ).json()
    assert {f["lead_id"] for f in found} == {str(ids[0]), str(ids[2])}
    assert found[0]["line"] == "auto" and found[0]["outcome"] == "ROUTED"

    alike = (await orch.get(f"/api/v1/search/similar/{ids[0]}", headers=headers)).json()
    assert str(ids[0]) not in {a["lead_id"] for a in alike} and len(alike) == 2
    assert (await orch.get(f"/api/v1/search/similar/{uuid.uuid4()}", headers=headers)).status_code == 404
    assert (await orch.get("/api/v1/search", params={"q": "ticket"})).status_code == 401

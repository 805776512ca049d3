"""Shifts as an admin sends them: "00:00" to "00:00" is the whole day, and the agent is offered leads."""

from __future__ import annotations

import uuid

from httpx import AsyncClient

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads import repository as leads_repository
from leadgen.models.base import utcnow
from leadgen.routing import service as routing
from tests.conftest import lead_payload


async def test_a_round_the_clock_agent_sent_as_midnight_to_midnight_is_offered_leads(
    client: AsyncClient,
    data_client: AsyncClient,
    admin_headers: dict[str, str],
    key: str,
    resources: Resources,
    settings: Settings,
) -> None:
    body = {
        "name": "Night and Day",
        "email": f"{uuid.uuid4().hex[:8]}@agents.example.com",
        "timezone": "America/Chicago",
        "licences": [{"state": "TX", "line": "auto", "expires_on": "2035-01-01"}],
        "shifts": [{"weekday": day, "starts_at": "00:00", "ends_at": "00:00"} for day in range(7)],
    }
    created = await data_client.post("/api/v1/agents", json=body, headers=admin_headers)
    assert created.status_code == 201, created.text
    agent_id = uuid.UUID(created.json()["id"])
    assert created.json()["shifts"][0] == {"weekday": 0, "starts_at": "00:00:00", "ends_at": "00:00:00"}
    submitted = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
    async with resources.unit_of_work() as s:
        lead = await leads_repository.get(s, uuid.UUID(submitted.json()["id"]), lock=True)
        assert lead is not None
        offers = await routing.route(s, settings, lead, utcnow(), [agent_id])
    assert [offer.agent_id for offer in offers] == [agent_id]

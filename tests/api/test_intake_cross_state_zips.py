"""A ZIP code that serves more than one state (Fort Campbell's 42223: Kentucky and Tennessee) takes
a lead of either state, and needs the state said: the api never picks one for the person, since the
state picks the agents licensed to take the lead."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import Assignment, Lead
from tests import helpers
from tests.api.test_quote_requests import quote_request_payload
from tests.conftest import lead_payload


def at(zip_code: str, state: str | None = None) -> dict[str, Any]:
    """A lead's or quote request's contact, living at ``zip_code`` (in ``state`` when given)."""
    contact: dict[str, Any] = lead_payload()["contact"]
    contact["address"] = {"zip": zip_code} | ({"state": state} if state else {})
    return contact


async def stored_states(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(Lead.state)))


class TestLeads:
    async def test_a_lead_of_either_state_is_stored_with_the_state_sent(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        for zip_code, state in (("42223", "TN"), ("97635", "CA")):
            answer = await client.post(
                "/api/v1/leads", json=lead_payload(contact=at(zip_code, state)), headers={"X-API-Key": key}
            )
            assert answer.status_code == 202, answer.text
        assert sorted(await stored_states(session)) == ["CA", "TN"]

    async def test_the_pipeline_routes_a_lead_of_the_second_state_to_that_state_s_agents(
        self, client: AsyncClient, session: AsyncSession, resources: Resources
    ) -> None:
        """Not INVALID as "ZIP and state disagree": the pipeline reads the ZIP's states as intake does."""
        await helpers.agent(session, ["KY"])
        tennessean = await helpers.agent(session, ["TN"])
        source_key = await helpers.api_key(session)
        await session.commit()
        payload = lead_payload(contact=at("42223", "TN"))
        lead_id = await helpers.submitted_and_processed(client, resources, source_key, payload)
        lead = await session.get(Lead, lead_id, populate_existing=True)
        assert lead is not None and (lead.status, lead.state) == (LeadStatus.ROUTED, "TN")
        offered = await session.scalars(select(Assignment.agent_id).where(Assignment.lead_id == lead_id))
        assert list(offered) == [tennessean.id]

    async def test_a_lead_without_the_state_is_refused_on_it_and_nothing_is_stored(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        answer = await client.post("/api/v1/leads", json=lead_payload(contact=at("42223")), headers={"X-API-Key": key})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == [
            {
                "field": "contact.address.state",
                "reason": "ZIP 42223 serves more than one state: give the state, KY or TN",
            }
        ]
        assert await stored_states(session) == []

    async def test_a_quote_request_names_the_state_the_same_way(
        self, client: AsyncClient, settings: Settings, session: AsyncSession
    ) -> None:
        frontend = helpers.vouched_as_frontend(settings)
        refused = await client.post(
            "/api/v1/quote-requests", json=quote_request_payload(contact=at("97635")), headers=frontend
        )
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["contact.address.state"]
        taken = await client.post(
            "/api/v1/quote-requests", json=quote_request_payload(contact=at("97635", "CA")), headers=frontend
        )
        assert taken.status_code == 202, taken.text
        assert await stored_states(session) == ["CA"]

"""A refused lead's 422 names each field by its path in the body as sent, and stores nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models import Agent
from tests import helpers
from tests.api.test_intake import nothing_stored
from tests.api.test_quote_requests import quote_request_payload
from tests.conftest import lead_payload

LEADS = "/api/v1/leads"
LINES = "'auto', 'home', 'life', 'health' or 'commercial'"


@pytest.fixture
async def headers(session: AsyncSession) -> dict[str, str]:
    key = await helpers.api_key(session)
    await session.commit()
    return {"X-API-Key": key}


async def refused(client: AsyncClient, headers: dict[str, str], **request: Any) -> list[dict[str, str]]:
    response = await client.post(LEADS, headers=headers, **request)
    assert response.status_code == 422, response.text
    errors: list[dict[str, str]] = response.json()["errors"]
    return errors


class TestPaths:
    async def test_a_field_is_named_as_the_body_names_it_without_the_lines_tag(
        self, client: AsyncClient, headers: dict[str, str], session: AsyncSession
    ) -> None:
        payload = lead_payload()
        payload["contact"]["phone"] = "12"
        payload["details"]["vehicles"][0]["year"] = 1800
        payload["details"].pop("drivers")
        fields = {e["field"] for e in await refused(client, headers, json=payload)}
        assert fields == {"contact.phone", "details.vehicles.0.year", "details.drivers"}
        assert await nothing_stored(session)

    async def test_a_key_named_like_the_line_does_not_take_the_errors_under_it(
        self, client: AsyncClient, headers: dict[str, str], session: AsyncSession
    ) -> None:
        payload = lead_payload(auto=1)
        payload["contact"]["phone"] = "12"
        assert await refused(client, headers, json=payload) == [
            {"field": "contact.phone", "reason": "Value error, not a valid US phone number"},
            {"field": "auto", "reason": "Extra inputs are not permitted"},
        ]
        assert await nothing_stored(session)

    async def test_a_state_the_zip_is_not_in_points_at_the_state(
        self, client: AsyncClient, headers: dict[str, str], session: AsyncSession
    ) -> None:
        payload = lead_payload()
        payload["contact"]["address"]["state"] = "CA"
        assert await refused(client, headers, json=payload) == [
            {"field": "contact.address.state", "reason": "Value error, state CA does not match ZIP 78701 (TX)"}
        ]
        assert await nothing_stored(session)

    @pytest.mark.parametrize(
        ("line", "reason"), [(None, f"Field required: one of {LINES}"), ("boat", f"Input should be {LINES}")]
    )
    async def test_a_missing_or_unknown_line_is_an_error_on_line(
        self, client: AsyncClient, headers: dict[str, str], session: AsyncSession, line: str | None, reason: str
    ) -> None:
        payload = lead_payload(line=line)
        if line is None:
            del payload["line"]
        assert await refused(client, headers, json=payload) == [{"field": "line", "reason": reason}]
        assert await nothing_stored(session)

    async def test_the_quote_form_gets_the_same_paths(
        self, client: AsyncClient, settings: Settings, session: AsyncSession
    ) -> None:
        frontend = helpers.vouched_as_frontend(settings)
        payload = quote_request_payload()
        del payload["line"]
        response = await client.post("/api/v1/quote-requests", json=payload, headers=frontend)
        assert response.status_code == 422
        assert response.json()["errors"] == [{"field": "line", "reason": f"Field required: one of {LINES}"}]
        payload = quote_request_payload()
        payload["contact"]["address"]["state"] = "CA"
        response = await client.post("/api/v1/quote-requests", json=payload, headers=frontend)
        assert [e["field"] for e in response.json()["errors"]] == ["contact.address.state"]
        assert await nothing_stored(session)


class TestSignInForm:
    async def test_each_missing_field_is_named_once(self, client: AsyncClient) -> None:
        answer = await client.post("/api/v1/auth/token", data={"username": "pat@example.com"})
        assert answer.status_code == 422
        assert answer.json()["errors"] == [{"field": "password", "reason": "Field required"}]


class TestBody:
    async def test_malformed_json_is_an_error_on_the_body_saying_where(
        self, client: AsyncClient, headers: dict[str, str], session: AsyncSession
    ) -> None:
        text = json.dumps(lead_payload(), indent=2).replace('"line": "auto",', '"line": "auto"', 1)
        as_json = {**headers, "content-type": "application/json"}
        [error] = await refused(client, as_json, content=text)
        assert error["field"] == "body"
        assert error["reason"].startswith("the body is not valid JSON: Expecting ',' delimiter at line 3, column 3")
        assert await nothing_stored(session)

    @pytest.mark.parametrize("body", [[], "a lead", 42])
    async def test_a_body_that_is_no_object_is_an_error_on_the_body(
        self, client: AsyncClient, headers: dict[str, str], session: AsyncSession, body: object
    ) -> None:
        [error] = await refused(client, headers, json=body)
        assert error["field"] == "body"
        assert await nothing_stored(session)


class TestConsentTime:
    async def test_a_consent_time_without_its_zone_is_a_422_not_a_500(
        self, client: AsyncClient, headers: dict[str, str], session: AsyncSession
    ) -> None:
        payload = lead_payload()
        payload["consent"]["captured_at"] = "2026-01-01T10:00:00"
        [error] = await refused(client, headers, json=payload)
        assert error["field"] == "consent.captured_at" and "timezone" in error["reason"]
        assert await nothing_stored(session)


class TestPhones:
    @pytest.mark.parametrize("foreign", ["+44 20 7946 0958", "+52 55 1234 5678", "416-555-0199"])
    async def test_a_foreign_number_is_refused(
        self, client: AsyncClient, headers: dict[str, str], session: AsyncSession, foreign: str
    ) -> None:
        payload = lead_payload()
        payload["contact"]["phone"] = foreign
        assert await refused(client, headers, json=payload) == [
            {"field": "contact.phone", "reason": "Value error, not a US phone number"}
        ]
        assert await nothing_stored(session)

    async def test_a_number_of_a_us_territory_is_taken(self, client: AsyncClient, headers: dict[str, str]) -> None:
        payload = lead_payload()
        payload["contact"]["phone"] = "(787) 555-0123"
        assert (await client.post(LEADS, json=payload, headers=headers)).status_code == 202


def commercial_payload(**details: Any) -> dict[str, Any]:
    return lead_payload(
        line="commercial",
        details={
            "legal_name": "Juniper Bakery LLC",
            "entity_type": "llc",
            "years_in_business": 4,
            "employees": 12,
            "coverages": ["general_liability"],
            **details,
        },
    )


class TestWhatTheDatabaseCannotHold:
    """What PostgreSQL would refuse at the insert (a 500, and a vendor retrying for ever) or the
    pipeline could not score: a 422 naming the field, on both databases alike."""

    @pytest.mark.parametrize(
        ("change", "field", "reason"),
        [
            (lambda p: p["contact"].update(first_name="Ze\x00bulon"), "contact.first_name", "NUL character"),
            (lambda p: p.update(notes="call \x00 after six"), "notes", "NUL character"),
            (lambda p: p["details"]["vehicles"][0].update(make="Toy\x00ota"), "details.vehicles.0.make", "NUL"),
            (lambda p: p.update(landing_page="https://quotes.example.com/" + "a" * 3000), "landing_page",
             "at most 2048 characters"),
            (lambda p: p["consent"].update(page_url="https://quotes.example.com/" + "a" * 3000), "consent.page_url",
             "at most 2048 characters"),
            # 1,027 characters as sent, 6,027 once percent-encoded as stored.
            (lambda p: p.update(landing_page="https://quotes.example.com/" + "\u00e9" * 1000), "landing_page",
             "at most 2048 characters, percent-encoded"),
            (lambda p: p.update(ip="fe80::1%" + "z" * 40), "ip", "without a scope id"),
        ],
        ids=["nul in a name", "nul in the notes", "nul in the details", "long landing page", "long consent page",
             "long once encoded", "ip with a scope id"],
    )  # fmt: skip
    async def test_a_value_the_columns_cannot_hold(
        self,
        client: AsyncClient,
        headers: dict[str, str],
        session: AsyncSession,
        change: Any,
        field: str,
        reason: str,
    ) -> None:
        payload = lead_payload()
        change(payload)
        [error] = await refused(client, headers, json=payload)
        assert error["field"] == field and reason in error["reason"], error
        assert await nothing_stored(session)

    async def test_a_revenue_no_business_has_and_an_unbounded_coverage_name(
        self, client: AsyncClient, headers: dict[str, str], session: AsyncSession
    ) -> None:
        payload = commercial_payload(annual_revenue=10**1000, coverages=["x" * 5000])
        fields = {e["field"] for e in await refused(client, headers, json=payload)}
        assert fields == {"details.annual_revenue", "details.coverages.0"}
        assert await nothing_stored(session)

    async def test_the_quote_form_refuses_them_too(
        self, client: AsyncClient, settings: Settings, session: AsyncSession
    ) -> None:
        payload = quote_request_payload()
        payload["contact"]["last_name"] = "Quacken\x00bush"
        response = await client.post(
            "/api/v1/quote-requests", json=payload, headers=helpers.vouched_as_frontend(settings)
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["contact.last_name"]
        assert await nothing_stored(session)


class TestWhatStaffAndAgentsType:
    """Names, notes and numbers typed in the dashboard meet the same columns as a vendor's lead: a
    422 naming the field on both databases, where PostgreSQL alone failed the write with a 500."""

    @pytest.fixture
    async def admin(self, client: AsyncClient, session: AsyncSession) -> dict[str, str]:
        email = await helpers.user(session, Role.ADMIN)
        await session.commit()
        return await helpers.bearer(client, email)

    async def test_an_agent_record_the_columns_cannot_hold(
        self, data_client: AsyncClient, session: AsyncSession, admin: dict[str, str]
    ) -> None:
        licence = {"state": "TX", "line": "auto", "number": "9" * 65, "expires_on": "2030-01-01"}
        body = {"name": "Ana\x00Lima", "email": "ana@agents.example.com", "licences": [licence]}
        response = await data_client.post("/api/v1/agents", json=body, headers=admin)
        assert response.status_code == 422, response.text
        assert {e["field"] for e in response.json()["errors"]} == {"name", "licences.0.number"}
        assert await session.scalar(select(func.count()).select_from(Agent)) == 0

    async def test_an_outcome_note_with_a_nul_character(
        self, client: AsyncClient, session: AsyncSession, key: str, resources: Resources
    ) -> None:
        agent = await helpers.agent(session, ["TX"])
        agent_email = await helpers.user(session, Role.AGENT, agent.id)
        await session.commit()
        mine = await helpers.bearer(client, agent_email)
        lead_id = await helpers.submitted_and_processed(client, resources, key, lead_payload())
        [offer] = (await client.get("/api/v1/assignments", headers=mine)).json()
        await client.post(f"/api/v1/assignments/{offer['assignment_id']}/accept", headers=mine)
        note = {"status": "CONTACTED", "note": "left a message\x00"}
        response = await client.post(f"/api/v1/leads/{lead_id}/outcome", json=note, headers=mine)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["note"]
        assert (await client.get(f"/api/v1/leads/{lead_id}", headers=mine)).json()["status"] == "ACCEPTED"

    async def test_a_path_no_schema_reads_is_refused_by_the_database_as_bad_input(
        self, data_client: AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await data_client.patch("/api/v1/sources/web%00form", json={"price_cents": 5}, headers=admin)
        assert response.status_code in (404, 422), response.text  # SQLite finds no such source

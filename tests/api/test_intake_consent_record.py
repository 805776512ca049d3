"""A consent record a source sends says where the person agreed: a web-form lead's carries the IP
address and the page (the brief's consent record: text, time, IP, page URL), and an IP address no
person's request comes from (loopback, private, link-local, reserved) is refused for any lead. The
quote form's record is the api's own: it keeps the browser's address the frontend vouches for."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.settings import Settings
from leadgen.models import ConsentRecord, Lead
from tests import helpers
from tests.api.test_intake import nothing_stored
from tests.api.test_quote_requests import quote_request_payload
from tests.conftest import lead_payload
from tests.unit.test_consent_and_zip_rules import NOT_A_PERSONS, REQUIRED_IP, REQUIRED_PAGE

LEADS = "/api/v1/leads"


def consent_without(*fields: str) -> dict[str, str]:
    return {name: value for name, value in lead_payload()["consent"].items() if name not in fields}


class TestSentRecords:
    @pytest.mark.parametrize(
        ("missing", "errors"),
        [
            (("ip",), [{"field": "consent.ip", "reason": REQUIRED_IP}]),
            (("page_url",), [{"field": "consent.page_url", "reason": REQUIRED_PAGE}]),
            (
                ("ip", "page_url"),
                [
                    {"field": "consent.ip", "reason": REQUIRED_IP},
                    {"field": "consent.page_url", "reason": REQUIRED_PAGE},
                ],
            ),
        ],
        ids=["ip", "page", "both"],
    )
    async def test_a_web_lead_whose_record_does_not_say_where_is_refused_and_nothing_is_stored(
        self,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        missing: tuple[str, ...],
        errors: list[dict[str, str]],
    ) -> None:
        payload = lead_payload(consent=consent_without(*missing))
        answer = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == errors
        assert await nothing_stored(session)

    @pytest.mark.parametrize("origin", ["web", "phone"])
    @pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "fe80::1"])
    async def test_a_record_naming_no_persons_address_is_refused(
        self, client: AsyncClient, key: str, session: AsyncSession, origin: str, ip: str
    ) -> None:
        payload = lead_payload(origin=origin, consent={**lead_payload()["consent"], "ip": ip})
        answer = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == [{"field": "consent.ip", "reason": NOT_A_PERSONS}]
        assert await nothing_stored(session)

    async def test_a_phone_leads_record_may_leave_out_the_address_and_the_page(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        payload = lead_payload(origin="phone", consent=consent_without("ip", "page_url"))
        answer = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert answer.status_code == 202, answer.text
        record = await session.scalar(select(ConsentRecord))
        assert record is not None and (record.ip_address, record.page_url) == (None, None)

    async def test_a_web_lead_whose_record_says_where_is_stored_with_it(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        answer = await client.post(LEADS, json=lead_payload(), headers={"X-API-Key": key})
        assert answer.status_code == 202, answer.text
        record = await session.scalar(select(ConsentRecord))
        assert record is not None
        assert (record.ip_address, record.page_url) == ("203.0.113.7", "https://quotes.example.com/auto")


class TestQuoteForm:
    """The api witnesses the quote form's consent: the address the frontend vouches for is recorded,
    loopback included."""

    async def test_a_browser_on_loopback_is_taken_with_that_address(
        self, client: AsyncClient, settings: Settings, session: AsyncSession
    ) -> None:
        frontend = helpers.vouched_as_frontend(settings, "127.0.0.1")
        answer = await client.post("/api/v1/quote-requests", json=quote_request_payload(), headers=frontend)
        assert answer.status_code == 202, answer.text
        record = await session.scalar(select(ConsentRecord))
        assert record is not None and record.ip_address == "127.0.0.1" and record.page_url

    async def test_an_address_with_a_scope_id_is_recorded_without_it(
        self, client: AsyncClient, settings: Settings, session: AsyncSession
    ) -> None:
        frontend = helpers.vouched_as_frontend(settings, "fe80::1%eth0")
        answer = await client.post("/api/v1/quote-requests", json=quote_request_payload(), headers=frontend)
        assert answer.status_code == 202, answer.text
        lead = await session.scalar(select(Lead))
        record = await session.scalar(select(ConsentRecord))
        assert lead is not None and record is not None
        assert lead.ip_address == record.ip_address == "fe80::1"

"""POST /api/v1/quote-requests: an anonymous caller gives what a person enters on the quote form
and their agreement; everything else about the lead, the consent record first, is the server's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance import consent as consent_texts
from leadgen.compliance.consent import CONSENT_TEXT, consent_text_sha256
from leadgen.core.security import CLIENT_IP_HEADER, CLIENT_IP_SIGNATURE_HEADER, sign_client_ip
from leadgen.core.settings import get_settings
from leadgen.models import ConsentRecord, Lead, Source
from leadgen.models.base import utcnow
from leadgen.targets.api import create_app
from tests import helpers
from tests.conftest import started

QUOTES = "/api/v1/quote-requests"


def quote_request_payload(**overrides: Any) -> dict[str, Any]:
    """What the quote form sends for an auto quote from Austin, TX; overrides for top-level keys."""
    suffix = uuid.uuid4().int % 10_000
    payload: dict[str, Any] = {
        "line": "auto",
        "contact": {
            "first_name": "Dana",
            "last_name": "Reyes",
            "email": f"dana{suffix}@example.com",
            "phone": f"512-555-{suffix:04d}",
            "address": {"street": "12 Oak Street", "city": "Austin", "zip": "78701"},
        },
        "currently_insured": True,
        "user_agent": "Mozilla/5.0",
        "consent": True,
        "consent_text_sha256": consent_text_sha256(CONSENT_TEXT),
        "details": {
            "drivers": [{"age_first_licensed": 17}],
            "vehicles": [{"year": 2019, "make": "Toyota", "model": "Camry"}],
        },
    }
    payload.update(overrides)
    return payload


@pytest.fixture
async def client(settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsyncClient]:
    monkeypatch.setenv("LEADGEN_SERVICES_DASHBOARD_URL", "https://quotes.example.com/")
    get_settings.cache_clear()
    async for c in started(create_app(get_settings())):
        yield c


@pytest.fixture
async def one_a_minute_client(
    settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AsyncClient]:
    monkeypatch.setenv("LEADGEN_INTAKE_PUBLIC_RATE_LIMIT", "1/minute")
    get_settings.cache_clear()
    async for c in started(create_app(get_settings())):
        yield c


async def stored(session: AsyncSession) -> list[tuple[Lead, ConsentRecord]]:
    rows = await session.execute(select(Lead, ConsentRecord).join(ConsentRecord, ConsentRecord.lead_id == Lead.id))
    return [(lead, consent) for lead, consent in rows]


class TestAccepted:
    async def test_the_server_records_the_consent_and_decides_the_rest(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        before = utcnow()
        response = await client.post(
            QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend(get_settings(), "198.51.100.7")
        )
        assert response.status_code == 202, response.text
        [(lead, consent)] = await stored(session)
        assert str(lead.id) == response.json()["id"]
        quote_page = "https://quotes.example.com/quote"
        assert (consent.text, consent.ip_address, consent.page_url) == (CONSENT_TEXT, "198.51.100.7", quote_page)
        assert consent.text_sha256 == consent_text_sha256(CONSENT_TEXT)
        assert before <= consent.captured_at <= utcnow()
        assert (consent.trustedform_cert_url, consent.jornaya_leadid) == (None, None)
        assert (lead.origin, lead.is_test, lead.exclusive) == ("web", False, True)
        assert (lead.campaign, lead.sub_id, lead.external_id) == (None, None, None)
        assert (lead.ip_address, lead.landing_page, lead.user_agent) == ("198.51.100.7", quote_page, "Mozilla/5.0")
        assert (lead.first_name, lead.state, lead.currently_insured) == ("Dana", "TX", True)

    async def test_the_first_two_people_on_a_new_install_both_get_their_quote(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        """Both requests create the form's source at once: the later insert does nothing."""
        settings = get_settings()
        answers = await asyncio.gather(
            client.post(
                QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend(settings, "198.51.100.1")
            ),
            client.post(
                QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend(settings, "198.51.100.2")
            ),
        )
        assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
        assert len(await stored(session)) == 2
        assert await session.scalar(select(func.count()).select_from(Source)) == 1


class TestOnlyFromTheFrontend:
    """Only the frontend's quote form, with its CSRF token and trap input, stands behind a consent
    recorded as given on the quote page: a caller it does not vouch for is refused, before the
    limit counts it and before anything is stored."""

    @pytest.mark.parametrize(
        ("body", "headers"),
        [
            (quote_request_payload(), {}),
            (quote_request_payload(), {CLIENT_IP_HEADER: "203.0.113.50"}),
            ({"consent": True}, {}),
        ],
        ids=["no-headers", "address-unsigned", "body-not-checked"],
    )
    async def test_a_post_without_the_frontends_headers_is_refused_and_nothing_is_stored(
        self, client: AsyncClient, session: AsyncSession, body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        response = await client.post(QUOTES, json=body, headers=headers)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "through the quote form" in response.json()["detail"]
        assert "/api/v1/leads" in response.json()["detail"]
        assert await session.scalar(select(func.count()).select_from(Lead)) == 0
        assert await session.scalar(select(func.count()).select_from(Source)) == 0

    @pytest.mark.parametrize(
        "signature",
        [sign_client_ip("another-secret", "198.51.100.7"), ""],
        ids=["another-key", "blank"],
    )
    async def test_a_wrong_signature_is_refused(
        self, client: AsyncClient, session: AsyncSession, signature: str
    ) -> None:
        headers = {CLIENT_IP_HEADER: "198.51.100.7", CLIENT_IP_SIGNATURE_HEADER: signature}
        response = await client.post(QUOTES, json=quote_request_payload(), headers=headers)
        assert response.status_code == 403, response.text
        assert await stored(session) == []

    async def test_the_signature_of_another_address_is_refused(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        headers = helpers.vouched_as_frontend(get_settings(), "198.51.100.8") | {CLIENT_IP_HEADER: "198.51.100.7"}
        response = await client.post(QUOTES, json=quote_request_payload(), headers=headers)
        assert response.status_code == 403, response.text
        assert await stored(session) == []

    async def test_a_refused_post_is_not_counted_by_the_limit(self, one_a_minute_client: AsyncClient) -> None:
        refused = [(await one_a_minute_client.post(QUOTES, json=quote_request_payload())).status_code for _ in "123"]
        assert refused == [403, 403, 403]
        # The address those posts came from, now vouched for: still its first request this minute.
        vouched = helpers.vouched_as_frontend(get_settings(), "127.0.0.1")
        answer = await one_a_minute_client.post(QUOTES, json=quote_request_payload(), headers=vouched)
        assert answer.status_code == 202, answer.text


# A text an earlier release showed, which this one still knows (``PREVIOUS_CONSENT_TEXTS``).
EARLIER_TEXT = "By ticking this box I agree that licensed agents may call and text me about quotes."


@pytest.fixture
def earlier_text_known(monkeypatch: pytest.MonkeyPatch) -> None:
    known = {consent_text_sha256(text): text for text in (CONSENT_TEXT, EARLIER_TEXT)}
    monkeypatch.setattr(consent_texts, "CONSENT_TEXTS_BY_SHA256", known)


class TestConsentText:
    """The form names the consent text it showed by its SHA-256, and the api records that text."""

    @pytest.mark.usefixtures("earlier_text_known")
    @pytest.mark.parametrize("shown", [CONSENT_TEXT, EARLIER_TEXT], ids=["current", "earlier"])
    async def test_the_text_the_digest_names_is_recorded(
        self, client: AsyncClient, session: AsyncSession, shown: str
    ) -> None:
        digest = consent_text_sha256(shown)
        response = await client.post(
            QUOTES,
            json=quote_request_payload(consent_text_sha256=digest),
            headers=helpers.vouched_as_frontend(get_settings()),
        )
        assert response.status_code == 202, response.text
        [(_, consent)] = await stored(session)
        assert (consent.text, consent.text_sha256) == (shown, digest)

    @pytest.mark.parametrize(
        ("digest", "reason"),
        [
            (consent_text_sha256(EARLIER_TEXT), "not the SHA-256 of a consent text this api knows"),
            (consent_text_sha256(CONSENT_TEXT).upper(), "not the SHA-256 of a consent text this api knows"),
            (consent_text_sha256(CONSENT_TEXT)[:12], "not the SHA-256 of a consent text this api knows"),
            ("", "not the SHA-256 of a consent text this api knows"),
            (consent_text_sha256(CONSENT_TEXT) + "00", "at most 64 characters"),
        ],
        ids=["forgotten-text", "uppercase", "prefix", "blank", "too-long"],
    )
    async def test_a_digest_of_no_text_it_knows_is_refused_and_nothing_is_stored(
        self, client: AsyncClient, session: AsyncSession, digest: str, reason: str
    ) -> None:
        response = await client.post(
            QUOTES,
            json=quote_request_payload(consent_text_sha256=digest),
            headers=helpers.vouched_as_frontend(get_settings()),
        )
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert error["field"] == "consent_text_sha256" and reason in error["reason"]
        assert await stored(session) == []


class TestPreviousRelease:
    """For one release, the body the previous release's quote form sends (frontend pods of that
    release still serve during a rollout) is taken, and what it says of the consent record, the
    origin, the page and the address is ignored: the api records its own."""

    @staticmethod
    def previous_form_body() -> dict[str, Any]:
        body = quote_request_payload(origin="web", landing_page="https://old.example/quote", ip="192.0.2.1")
        del body["consent_text_sha256"]
        body["consent"] = {
            "text": "I agree to anything at all that anybody says.",
            "captured_at": (utcnow() - timedelta(days=29)).isoformat(),
            "page_url": "https://old.example/quote",
            "ip": "192.0.2.1",
        }
        return body

    async def test_its_body_is_taken_and_the_api_records_its_own_consent(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        before = utcnow()
        response = await client.post(
            QUOTES, json=self.previous_form_body(), headers=helpers.vouched_as_frontend(get_settings(), "198.51.100.7")
        )
        assert response.status_code == 202, response.text
        [(lead, consent)] = await stored(session)
        quote_page = "https://quotes.example.com/quote"
        assert (consent.text, consent.ip_address, consent.page_url) == (CONSENT_TEXT, "198.51.100.7", quote_page)
        assert consent.captured_at >= before
        assert (lead.origin, lead.ip_address, lead.landing_page) == ("web", "198.51.100.7", quote_page)

    async def test_without_the_digest_of_the_text_shown_the_current_text_is_recorded(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        body = quote_request_payload()
        del body["consent_text_sha256"]
        response = await client.post(QUOTES, json=body, headers=helpers.vouched_as_frontend(get_settings()))
        assert response.status_code == 202, response.text
        [(_, consent)] = await stored(session)
        assert (consent.text, consent.text_sha256) == (CONSENT_TEXT, consent_text_sha256(CONSENT_TEXT))

    async def test_a_consent_record_means_the_box_was_ticked(self, client: AsyncClient, session: AsyncSession) -> None:
        body = self.previous_form_body()
        del body["consent"]  # what it sent for an unticked box
        response = await client.post(QUOTES, json=body, headers=helpers.vouched_as_frontend(get_settings()))
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["consent"]
        assert await stored(session) == []


class TestRefused:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("test", True),
            ("exclusive", False),
            ("campaign", "chosen-by-the-caller"),
            ("sub_id", "s1"),
            ("external_id", "vendor-42"),
            ("origin", "phone"),
            # Not on the form: free text from anyone, which agents would read and search embeds.
            ("notes", "Call me about a great offer at https://spam.example"),
        ],
    )
    async def test_what_only_the_server_may_say_is_refused(
        self, client: AsyncClient, session: AsyncSession, field: str, value: Any
    ) -> None:
        response = await client.post(
            QUOTES, json=quote_request_payload(**{field: value}), headers=helpers.vouched_as_frontend(get_settings())
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]
        assert await stored(session) == []

    @pytest.mark.parametrize(
        ("consent", "reason"), [(False, "must be true"), (None, "valid boolean"), ("missing", "Field required")]
    )
    async def test_without_the_persons_agreement_nothing_is_stored(
        self, client: AsyncClient, session: AsyncSession, consent: Any, reason: str
    ) -> None:
        payload = quote_request_payload(consent=consent)
        if consent == "missing":
            del payload["consent"]
        response = await client.post(QUOTES, json=payload, headers=helpers.vouched_as_frontend(get_settings()))
        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert error["field"] == "consent" and reason in error["reason"]
        assert await stored(session) == []


class TestDescribed:
    async def test_the_openapi_description_shows_the_quote_request_not_the_vendors_lead(
        self, client: AsyncClient
    ) -> None:
        spec = (await client.get("/openapi.json")).json()
        assert "403" in spec["paths"][QUOTES]["post"]["responses"]
        body = spec["paths"][QUOTES]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["discriminator"]["mapping"]["auto"] == "#/components/schemas/AutoQuoteRequest"
        auto = spec["components"]["schemas"]["AutoQuoteRequest"]["properties"]
        assert spec["components"]["schemas"]["AutoQuoteRequest"]["additionalProperties"] is False
        assert auto["consent"]["type"] == "boolean"
        assert "consent_text_sha256" in auto
        server_decides = {"origin", "test", "exclusive", "campaign", "sub_id", "external_id", "ip", "landing_page"}
        assert not (server_decides | {"notes"}) & set(auto)

"""POST /api/v1/leads: accepted leads are durable; bad input is refused and stores nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Message, Receive, Scope, Send

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models import ConsentRecord, Lead, LeadEvent, OutboxEvent
from leadgen.targets.api import create_app
from tests import helpers
from tests.api.test_quote_requests import quote_request_payload
from tests.conftest import lead_payload, started


async def count(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def nothing_stored(session: AsyncSession) -> bool:
    return all([await count(session, m) == 0 for m in (Lead, ConsentRecord, LeadEvent, OutboxEvent)])


class TestAccepted:
    async def test_answers_202_after_storing_lead_consent_and_outbox(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        received = {"line": "auto", "origin": "web"}
        before = REGISTRY.get_sample_value("leadgen_leads_received_total", received) or 0.0
        response = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
        assert response.status_code == 202, response.text
        assert REGISTRY.get_sample_value("leadgen_leads_received_total", received) == before + 1
        body = response.json()
        assert body["status"] == "RECEIVED"
        lead = await session.get(Lead, __import__("uuid").UUID(body["id"]))
        assert lead is not None
        assert lead.state == "TX" and lead.phone is not None and lead.phone.startswith("+1512555")
        assert lead.phone_hash and lead.phone_hash != lead.phone
        assert await count(session, ConsentRecord) == 1
        outbox = (await session.scalars(select(OutboxEvent))).all()
        assert [(e.topic, e.key) for e in outbox] == [("lead.received", body["id"])]

    async def test_the_lead_is_committed_before_the_answer_leaves(
        self, settings: Settings, key: str, resources: Resources
    ) -> None:
        """No accepted lead is lost: when the 202 starts out, the lead is already in the database."""
        app = create_app(settings)
        stored_when_answered: list[int] = []

        async def watching(scope: Scope, receive: Receive, send: Send) -> None:
            async def answer(message: Message) -> None:
                if message["type"] == "http.response.start":
                    async with resources.require_sessions()() as reader:
                        stored_when_answered.append(await count(reader, Lead))
                await send(message)

            await app(scope, receive, answer)

        transport = ASGITransport(app=watching)
        async with app.router.lifespan_context(app), AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
        assert response.status_code == 202, response.text
        assert stored_when_answered == [1]

    async def test_a_blank_campaign_is_no_campaign(self, client: AsyncClient, key: str, session: AsyncSession) -> None:
        campaigns = ["", "   ", " spring-auto "]
        for campaign in campaigns:
            response = await client.post(
                "/api/v1/leads", json=lead_payload(campaign=campaign), headers={"X-API-Key": key}
            )
            assert response.status_code == 202, response.text
        stored = await session.scalars(select(Lead.campaign).order_by(Lead.received_at))
        assert list(stored) == [None, None, "spring-auto"]

    async def test_status_is_readable_by_the_sending_source(self, client: AsyncClient, key: str) -> None:
        lead_id = (await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})).json()["id"]
        response = await client.get(f"/api/v1/leads/{lead_id}", headers={"X-API-Key": key})
        assert response.status_code == 200
        assert (response.json()["id"], response.json()["status"]) == (lead_id, "RECEIVED")

    async def test_another_source_cannot_read_it(self, client: AsyncClient, key: str, session: AsyncSession) -> None:
        other = await helpers.api_key(session, "other-vendor")
        await session.commit()
        lead_id = (await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})).json()["id"]
        assert (await client.get(f"/api/v1/leads/{lead_id}", headers={"X-API-Key": other})).status_code == 404


class TestRefused:
    async def test_malformed_lead_gets_field_errors(self, client: AsyncClient, key: str, session: AsyncSession) -> None:
        payload = lead_payload()
        payload["contact"]["phone"] = "12"
        payload["contact"]["address"]["zip"] = "ABCDE"
        payload["details"]["drivers"] = []
        response = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        fields = {e["field"] for e in response.json()["errors"]}
        assert {"contact.phone", "contact.address.zip", "details.drivers"} <= fields
        assert await nothing_stored(session)

    async def test_state_must_match_zip(self, client: AsyncClient, key: str, session: AsyncSession) -> None:
        payload = lead_payload()
        payload["contact"]["address"]["state"] = "CA"
        response = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
        assert response.status_code == 422
        assert "does not match ZIP" in response.text
        assert await nothing_stored(session)

    async def test_web_lead_without_consent_is_refused(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        response = await client.post("/api/v1/leads", json=lead_payload(consent=None), headers={"X-API-Key": key})
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"field": "consent", "reason": "web-form leads must include the consent record the person agreed to"}
        ]
        assert await nothing_stored(session)

    @pytest.mark.parametrize(
        "trace",
        [{"landing_page": "https://quotes.example.com/auto"}, {"ip": "203.0.113.7"}, {"user_agent": "Mozilla/5.0"}],
    )
    async def test_a_lead_with_a_web_forms_traces_but_sent_as_a_phone_lead_needs_consent_too(
        self, client: AsyncClient, key: str, session: AsyncSession, trace: dict[str, str]
    ) -> None:
        payload = lead_payload(consent=None, origin="phone", **trace)
        response = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["consent"]
        assert await nothing_stored(session)
        called = await client.post(
            "/api/v1/leads", json=lead_payload(consent=None, origin="phone"), headers={"X-API-Key": key}
        )
        assert called.status_code == 202  # a call centre's lead, with no web form behind it

    @pytest.mark.parametrize("header", [{}, {"X-API-Key": "lg_00000000_wrong"}, {"X-API-Key": "garbage"}])
    async def test_wrong_or_missing_key_is_401(
        self, client: AsyncClient, key: str, session: AsyncSession, header: dict[str, str]
    ) -> None:
        response = await client.post("/api/v1/leads", json=lead_payload(), headers=header)
        assert response.status_code == 401
        assert "API key" in response.json()["detail"]
        assert await nothing_stored(session)

    async def test_oversized_body_is_413(
        self, client: AsyncClient, key: str, session: AsyncSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Declared too long (Content-Length, as ordinary clients send): refused unread, as a problem
        with the request id, and logged as the refusal it is, not as a failure of ours."""
        payload = lead_payload(notes="x" * 70_000)
        headers = {"X-API-Key": key, "X-Request-ID": "vendor-413"}
        response = await client.post("/api/v1/leads", json=payload, headers=headers)
        too_large(response, "vendor-413")
        assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
        assert await nothing_stored(session)

    async def test_oversized_streamed_body_without_length_is_413(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b" " * 1024

        headers = {"X-API-Key": key, "content-type": "application/json", "X-Request-ID": "vendor-chunked"}
        response = await client.post("/api/v1/leads", content=chunks(), headers=headers)
        too_large(response, "vendor-chunked")
        assert await nothing_stored(session)


def too_large(response: Response, request_id: str) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["X-Request-ID"] == request_id
    assert response.json()["detail"] == "the body is over 65536 bytes"


class TestFlood:
    @pytest.fixture
    async def limited_client(
        self, settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> AsyncIterator[AsyncClient]:
        monkeypatch.setenv("LEADGEN_INTAKE_RATE_LIMIT", "5/minute")
        async for c in started(create_app(Settings())):
            yield c

    async def test_flood_from_one_key_is_429_and_stores_only_allowed(
        self, limited_client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        codes = [
            (await limited_client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})).status_code
            for _ in range(8)
        ]
        assert codes == [202] * 5 + [429] * 3
        assert await count(session, Lead) == 5


class TestBusy:
    @pytest.fixture
    async def one_connection_client(
        self, settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> AsyncIterator[AsyncClient]:
        for name, value in (("POOL_SIZE", "1"), ("MAX_OVERFLOW", "0"), ("POOL_TIMEOUT_SECONDS", "0.3")):
            monkeypatch.setenv(f"LEADGEN_DB_{name}", value)
        async for c in started(create_app(Settings())):
            yield c

    @pytest.mark.parametrize("backend", ["postgres"])
    async def test_no_connection_free_in_time_is_503_to_retry_and_the_lead_held_up_is_stored(
        self, one_connection_client: AsyncClient, key: str, session: AsyncSession, backend: str
    ) -> None:
        headers = {"X-API-Key": key}
        # The test's own transaction holds the leads table: the first request takes the process's
        # only connection and waits on it; the second finds no connection free.
        await session.execute(text("LOCK TABLE leads IN EXCLUSIVE MODE"))
        held_up = asyncio.create_task(one_connection_client.post("/api/v1/leads", json=lead_payload(), headers=headers))
        await asyncio.sleep(0.2)
        busy = await one_connection_client.post("/api/v1/leads", json=lead_payload(), headers=headers)
        await session.commit()
        assert (await held_up).status_code == 202
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "2"
        assert "nothing was stored" in busy.json()["detail"]
        assert await count(session, Lead) == 1


class TestQuoteForm:
    @pytest.fixture
    async def public_client(
        self, settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> AsyncIterator[AsyncClient]:
        monkeypatch.setenv("LEADGEN_INTAKE_PUBLIC_RATE_LIMIT", "2/minute")
        async for c in started(create_app(Settings())):
            yield c

    async def test_only_the_frontend_can_name_the_browser_address(self, public_client: AsyncClient) -> None:
        settings = Settings()
        spoofed = [
            (
                await public_client.post(
                    "/api/v1/quote-requests",
                    json=quote_request_payload(),
                    headers={"x-leadgen-client-ip": f"203.0.113.{i}"},
                )
            ).status_code
            for i in range(3)
        ]
        assert spoofed == [403, 403, 403]  # whatever the header claims, without the frontend's signature
        vouched = [
            (
                await public_client.post(
                    "/api/v1/quote-requests",
                    json=quote_request_payload(),
                    headers=helpers.vouched_as_frontend(settings, f"198.51.100.{i}"),
                )
            ).status_code
            for i in range(3)
        ]
        assert vouched == [202, 202, 202]  # three browsers behind the frontend

    async def test_ipv6_browsers_are_limited_by_their_64(
        self, public_client: AsyncClient, session: AsyncSession
    ) -> None:
        """Anyone given a /64 may use any of its 2**64 addresses: they count as one."""
        settings = Settings()

        async def from_address(ip: str) -> int:
            headers = helpers.vouched_as_frontend(settings, ip)
            response = await public_client.post("/api/v1/quote-requests", json=quote_request_payload(), headers=headers)
            return response.status_code

        one_subscriber = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"]
        assert [await from_address(ip) for ip in one_subscriber] == [202, 202, 429]
        assert await from_address("2001:db8:1:3::1") == 202  # the next /64 is someone else
        recorded = set(await session.scalars(select(ConsentRecord.ip_address)))
        assert recorded == {"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:3::1"}  # each browser's own

"""A 429 says when to send again: Retry-After, the whole seconds until the limit allows the caller
another request (RFC 9110 10.2.3), as the limiter's moving window counts them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient, Response
from limits.aio.storage import MemoryStorage
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.settings import Settings
from leadgen.stores.ratelimit import RateLimiter
from leadgen.targets.api import create_app
from tests import helpers
from tests.api.test_quote_requests import quote_request_payload
from tests.conftest import lead_payload, started


@pytest.fixture
async def limited_client(settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsyncClient]:
    monkeypatch.setenv("LEADGEN_INTAKE_RATE_LIMIT", "1/minute")
    monkeypatch.setenv("LEADGEN_INTAKE_PUBLIC_RATE_LIMIT", "1/minute")
    async for c in started(create_app(Settings())):
        yield c


def waits_out_the_minute(answer: Response) -> None:
    assert answer.status_code == 429, answer.text
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


async def test_a_source_over_its_limit_is_told_when_to_send_again(
    limited_client: AsyncClient, session: AsyncSession
) -> None:
    key = await helpers.api_key(session, "acme")
    await session.commit()
    sent = [await limited_client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key}) for _ in "12"]
    assert sent[0].status_code == 202, sent[0].text
    waits_out_the_minute(sent[1])


async def test_a_quote_form_caller_over_its_limit_is_told_when_to_send_again(limited_client: AsyncClient) -> None:
    frontend = helpers.vouched_as_frontend(Settings())
    quotes = "/api/v1/quote-requests"
    sent = [await limited_client.post(quotes, json=quote_request_payload(), headers=frontend) for _ in "12"]
    assert sent[0].status_code == 202, sent[0].text
    waits_out_the_minute(sent[1])


async def test_the_wait_is_until_the_first_request_leaves_the_window() -> None:
    limiter = RateLimiter(MemoryStorage())
    waits = [await limiter.wait_after_hit_failing_open("2/hour", "test", "caller") for _ in "123"]
    assert waits[:2] == [0, 0]
    assert 3590 <= waits[2] <= 3600
    assert await limiter.wait_after_hit_failing_open("2/hour", "test", "another caller") == 0

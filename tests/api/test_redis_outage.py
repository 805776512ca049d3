"""While Redis does not answer: leads sent with an API key and quote requests are accepted (their
limits fail open), sign-ins and password changes are refused with 503 and Retry-After (the lockout
fails closed), and once Redis is back the next request is answered as usual.

The api reaches the real Redis through a :class:`~tests.targets.processes.TcpProxy` that the tests
cut and restore; the Redis server itself is never touched.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import Lead, OutboxEvent
from leadgen.targets import api
from tests import helpers
from tests.api.test_quote_requests import QUOTES, quote_request_payload
from tests.conftest import lead_payload
from tests.targets.processes import TcpProxy, free_port

pytestmark = pytest.mark.redis
SIGN_IN = "/api/v1/auth/token"


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[TcpProxy]:
    upstream = urlsplit(redis_url)
    proxy = TcpProxy((upstream.hostname or "127.0.0.1", upstream.port or 6379))
    yield proxy
    proxy.cut()


@asynccontextmanager
async def api_client() -> AsyncIterator[httpx.AsyncClient]:
    """The api as the environment configures it, called from an address of its own."""
    app = api.create_app(Settings())
    number = uuid.uuid4().int
    address = f"198.51.{number % 256}.{(number >> 8) % 254 + 1}"  # TEST-NET-2: counters of its own
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def client(
    settings_env: dict[str, str], redis_url: str, redis_proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """The api on Redis through the proxy: its rate limits and its queue."""
    monkeypatch.setenv("LEADGEN_REDIS_URL", f"redis://127.0.0.1:{redis_proxy.port}{urlsplit(redis_url).path}")
    async with api_client() as c:
        yield c


@pytest.fixture
async def email(session: AsyncSession) -> str:
    address = await helpers.user(session, Role.MANAGER)
    await session.commit()
    return address


def store_errors(scope: str, outcome: str) -> float:
    labels = {"scope": scope, "outcome": outcome}
    return REGISTRY.get_sample_value("leadgen_rate_limit_store_errors_total", labels) or 0.0


async def sign_in(client: httpx.AsyncClient, email: str, password: str = helpers.PASSWORD) -> httpx.Response:
    return await client.post(SIGN_IN, data={"username": email, "password": password})


async def test_a_lead_sent_with_an_api_key_is_accepted_and_waits_in_the_outbox(
    client: httpx.AsyncClient, key: str, redis_proxy: TcpProxy, session: AsyncSession
) -> None:
    before = store_errors("intake", "allowed")
    redis_proxy.cut()
    answer = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
    assert answer.status_code == 202, answer.text
    lead_id = uuid.UUID(answer.json()["id"])
    lead = await session.get(Lead, lead_id)
    assert lead is not None and lead.status == LeadStatus.RECEIVED
    # The relay hands the event on to the queue once its lease runs out (the worker's test: the
    # outage in tests/reliability/test_redis_outage.py).
    event = await session.scalar(select(OutboxEvent).where(OutboxEvent.key == str(lead_id)))
    assert event is not None and event.processed_at is None
    assert store_errors("intake", "allowed") == before + 1


async def test_a_quote_request_is_accepted(client: httpx.AsyncClient, redis_proxy: TcpProxy) -> None:
    before = store_errors("quote", "allowed")
    redis_proxy.cut()
    answer = await client.post(QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend())
    assert answer.status_code == 202, answer.text
    assert store_errors("quote", "allowed") == before + 1


@pytest.mark.parametrize("password", [helpers.PASSWORD, "not-the-password"], ids=["right", "wrong"])
async def test_a_sign_in_is_refused_with_503_and_retry_after(
    client: httpx.AsyncClient, email: str, redis_proxy: TcpProxy, password: str
) -> None:
    before = store_errors("sign-in-account", "refused")
    redis_proxy.cut()
    answers = [await sign_in(client, email, password) for _ in range(3)]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "5"
        assert "access_token" not in answer.json()
        assert answer.json()["detail"].startswith("the rate limits cannot be checked now")
    assert store_errors("sign-in-account", "refused") == before + 3


async def test_a_password_change_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, email: str, redis_proxy: TcpProxy
) -> None:
    headers = await helpers.bearer(client, email)
    redis_proxy.cut()
    body = {"current_password": helpers.PASSWORD, "new_password": "another-long-test-password"}
    answer = await client.post("/api/v1/auth/me/password", json=body, headers=headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    redis_proxy.restore()
    assert (await sign_in(client, email)).status_code == 200


async def test_the_first_requests_after_redis_is_back_are_answered_as_usual(
    client: httpx.AsyncClient, key: str, email: str, redis_proxy: TcpProxy
) -> None:
    # Connections are pooled while Redis is up; the cut closes them, the restore does not reopen them.
    assert (await sign_in(client, email)).status_code == 200
    assert (await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})).status_code == 202
    redis_proxy.cut()
    redis_proxy.restore()
    allowed_uncounted = store_errors("intake", "allowed")
    assert (await sign_in(client, email)).status_code == 200
    assert (await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})).status_code == 202
    assert (
        await client.post(QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend())
    ).status_code == 202
    assert store_errors("intake", "allowed") == allowed_uncounted  # counted in Redis again
    assert (await sign_in(client, email, "not-the-password")).status_code == 401


async def test_the_outage_is_warned_of_once_a_minute_not_once_a_request(
    client: httpx.AsyncClient, key: str, redis_proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    redis_proxy.cut()
    with caplog.at_level(logging.WARNING, logger="leadgen.stores.ratelimit"):
        for _ in range(4):
            answer = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
            assert answer.status_code == 202, answer.text
    warnings = [r for r in caplog.records if r.name == "leadgen.stores.ratelimit"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "rate limits' store does not answer" in warnings[0].getMessage()


async def test_through_sentinels_that_do_not_answer_the_same_holds(
    settings_env: dict[str, str], key: str, email: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production finds Redis through Sentinels; none listens here."""
    monkeypatch.setenv("LEADGEN_REDIS_SENTINELS", f"127.0.0.1:{free_port()}")
    async with api_client() as client:
        accepted = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
        assert accepted.status_code == 202, accepted.text
        refused = await sign_in(client, email)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "5"

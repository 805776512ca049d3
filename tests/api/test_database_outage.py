"""While PostgreSQL does not answer, lead intake is a 503 with Retry-After, never a 500; and so is the
first request after PostgreSQL ended the api's connections (a restart, a failover), if not a 202.

The api reaches the test's PostgreSQL database through a :class:`~tests.targets.processes.TcpProxy`
that the tests cut and restore; the PostgreSQL server itself is never stopped.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest
from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.settings import Settings
from leadgen.models import Lead
from leadgen.targets.api import create_app
from tests.conftest import PG_HOST, PG_PORT, lead_payload, started
from tests.targets.processes import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("backend", ["postgres"])]
LEADS = "/api/v1/leads"


@pytest.fixture
async def client(
    settings: Settings, database_proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AsyncClient]:
    """The api on the test's database through the proxy (the test's own sessions reach it directly)."""
    url = make_url(settings.database_url).set(host="127.0.0.1", port=database_proxy.port)
    monkeypatch.setenv("LEADGEN_DB_URL", url.render_as_string(hide_password=False))
    async for c in started(create_app(Settings())):
        yield c


async def send_lead(client: AsyncClient, key: str) -> Response:
    return await client.post(LEADS, json=lead_payload(), headers={"X-API-Key": key})


def assert_retry_later(answer: Response) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.json()["detail"] == "the database is unavailable; retry later"


async def test_intake_is_503_to_retry_while_the_database_refuses_connections(
    client: AsyncClient,
    key: str,
    session: AsyncSession,
    database_proxy: TcpProxy,
    backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert (await send_lead(client, key)).status_code == 202  # a connection pooled, which the cut drops
    database_proxy.cut()
    with caplog.at_level(logging.WARNING):
        during = [await send_lead(client, key) for _ in range(3)]
    for answer in during:
        assert_retry_later(answer)
    unavailable = [r for r in caplog.records if r.name == "leadgen.core.errors"]
    assert [(r.levelno, r.exc_info) for r in unavailable] == [(logging.WARNING, None)] * 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    database_proxy.restore()
    assert (await send_lead(client, key)).status_code == 202
    assert await session.scalar(select(func.count()).select_from(Lead)) == 2


async def test_the_first_request_after_postgresql_ended_the_connections_is_no_500(
    client: AsyncClient, key: str, session: AsyncSession, settings_env: dict[str, str], backend: str
) -> None:
    assert (await send_lead(client, key)).status_code == 202
    database = make_url(settings_env["LEADGEN_DB_URL"]).database
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        # What a restart or a failover does to the api's pooled connections; the server goes on.
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND application_name LIKE '%.api'",
            database,
        )
    finally:
        await admin.close()
    assert ended >= 1

    first = await send_lead(client, key)
    if first.status_code != 202:
        assert_retry_later(first)
    assert (await send_lead(client, key)).status_code == 202

"""LEADGEN_INTAKE_RATE_LIMIT counts a source's leads, whichever of its keys sent them: a source
rotating its key, or holding one per integration, gets one limit, not one per key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.settings import Settings
from leadgen.targets.api import create_app
from tests import helpers
from tests.conftest import lead_payload, started


@pytest.fixture
async def limited_client(settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsyncClient]:
    monkeypatch.setenv("LEADGEN_INTAKE_RATE_LIMIT", "2/minute")
    async for c in started(create_app(Settings())):
        yield c


async def test_the_keys_of_one_source_share_its_limit_and_another_source_has_its_own(
    limited_client: AsyncClient, session: AsyncSession
) -> None:
    old_key, new_key = await helpers.api_key(session, "acme"), await helpers.api_key(session, "acme")
    other_source = await helpers.api_key(session, "globex")
    await session.commit()

    async def sent(key: str) -> int:
        answer = await limited_client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
        return answer.status_code

    assert [await sent(key) for key in (old_key, new_key, old_key, new_key)] == [202, 202, 429, 429]
    assert await sent(other_source) == 202

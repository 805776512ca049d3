"""A vendor's sub id is often a per-click token their own logs tie to the person, as the external
id: on both databases an erasure and the retention purge clear it with the rest of the lead's
personal data, and the campaign stays for the reports."""

from __future__ import annotations

import uuid
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models.base import utcnow
from leadgen.privacy import service as privacy
from tests import helpers
from tests.conftest import lead_payload
from tests.privacy.test_retention import lead

CLICK = "clk_7f3a9c2e41b84d0f"


async def lead_with_a_click_token(client: AsyncClient, resources: Resources, key: str) -> tuple[uuid.UUID, str]:
    payload = lead_payload(sub_id=CLICK)
    return await helpers.submitted_and_processed(client, resources, key, payload), payload["contact"]["email"]


async def test_an_erasure_clears_the_sub_id(
    client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
) -> None:
    lead_id, email = await lead_with_a_click_token(client, resources, key)
    assert (await lead(session, lead_id)).sub_id == CLICK
    hash_key = settings.security.pii_hash_key.get_secret_value()
    async with resources.unit_of_work() as s:
        await privacy.erase(s, privacy.person_hashes(hash_key, email, None), "admin")
    erased = await lead(session, lead_id)
    assert (erased.sub_id, erased.external_id, erased.campaign) == (None, None, "spring-auto")


async def test_the_retention_purge_clears_the_sub_id(
    client: AsyncClient, resources: Resources, session: AsyncSession, key: str
) -> None:
    lead_id, _ = await lead_with_a_click_token(client, resources, key)
    async with resources.unit_of_work() as s:
        # Every activity of the person is before a cutoff a second from now: they are due.
        assert await privacy.purge_person(s, lead_id, cutoff=utcnow() + timedelta(seconds=1))
    purged = await lead(session, lead_id)
    assert (purged.sub_id, purged.campaign) == (None, "spring-auto")

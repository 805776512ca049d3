"""Admins make a source's API key through the data-service (`POST /api/v1/sources/{name}/keys`), as
`leadgen api-keys create` does, through the one service function: the key is shown once, kept only
as its prefix and digest, audited by its prefix, and refused for a source whose keys would not work."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from leadgen.auth.roles import Role
from leadgen.cli.main import app
from leadgen.core.db import create_engine, create_sessionmaker, transaction
from leadgen.core.settings import get_settings
from leadgen.models import ApiKey, AuditEntry, Source
from leadgen.sources.service import change
from tests import helpers
from tests.api import test_sources
from tests.api.test_quote_requests import QUOTES, quote_request_payload
from tests.api.test_sources import VENDOR, World
from tests.conftest import lead_payload

ADMIN_ONLY = "this needs one of the roles: admin"
world = test_sources.world  # a vendor with one key, and an admin, a manager and an agent signed in


async def create(data_client: AsyncClient, world: World, name: str = VENDOR, role: Role = Role.ADMIN) -> Response:
    return await data_client.post(f"/api/v1/sources/{name}/keys", headers=world.headers[role])


async def key_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)


async def created_entries(session: AsyncSession) -> list[AuditEntry]:
    """The ``api_key.created`` entries of the test, after the fixture's own key (made by ``test``)."""
    query = select(AuditEntry).where(AuditEntry.action == "api_key.created", AuditEntry.actor != "test")
    return list(await session.scalars(query))


class TestCreate:
    async def test_an_admin_makes_a_key_that_takes_leads_and_shows_it_once(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        world: World,
        session: AsyncSession,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        created = await create(data_client, world)
        assert created.status_code == 201, created.text
        assert created.headers["cache-control"] == "no-store"
        body = created.json()
        secret = body["api_key"]
        prefix = body["prefix"]
        assert secret.startswith(f"lg_{prefix}_") and len(secret) > len(f"lg_{prefix}_") + 20
        source_id = str(await session.scalar(select(Source.id).where(Source.name == VENDOR)))
        assert body == {
            "source": VENDOR,
            "source_id": source_id,
            "prefix": prefix,
            "created_at": body["created_at"],
            "revoked_at": None,
            "api_key": secret,
        }
        assert body["created_at"]

        taken = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": secret})
        assert taken.status_code == 202, taken.text

        # Kept as its prefix and a digest, never as itself.
        stored = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        assert stored is not None and secret not in stored.digest and stored.digest != secret
        [entry] = await created_entries(session)
        assert entry.actor.startswith("user:") and entry.subject_id == source_id
        assert entry.data == {"prefix": prefix}
        assert caplog.records, "nothing logged: the check below would prove nothing"
        logged = "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
        assert secret not in logged and secret.rsplit("_", 1)[1] not in logged

        listed = await data_client.get(f"/api/v1/sources/{VENDOR}/keys", headers=world.headers[Role.ADMIN])
        assert listed.status_code == 200
        assert secret.rsplit("_", 1)[1] not in listed.text
        assert {key["prefix"] for key in listed.json()} == {prefix, world.key.split("_")[1]}
        assert all(set(key) == {"prefix", "created_at", "revoked_at"} for key in listed.json())

    async def test_only_admins_make_keys(self, data_client: AsyncClient, world: World, session: AsyncSession) -> None:
        for role in (Role.MANAGER, Role.AGENT):
            refused = await create(data_client, world, role=role)
            assert refused.status_code == 403 and refused.json()["detail"] == ADMIN_ONLY
        assert (await data_client.post(f"/api/v1/sources/{VENDOR}/keys")).status_code == 401
        assert await key_count(session) == 1
        assert await created_entries(session) == []

    async def test_an_unknown_source_is_404_and_not_created(
        self, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        answer = await create(data_client, world, name="no-such-vendor")
        assert answer.status_code == 404
        assert answer.json()["detail"] == "source no-such-vendor not found"
        assert await session.scalar(select(Source).where(Source.name == "no-such-vendor")) is None
        assert await key_count(session) == 1

    async def test_a_switched_off_source_is_refused_and_nothing_is_made(
        self, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        admin = world.headers[Role.ADMIN]
        switched_off = await data_client.patch(f"/api/v1/sources/{VENDOR}", json={"active": False}, headers=admin)
        assert switched_off.status_code == 200
        refused = await create(data_client, world)
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert f"source {VENDOR} is switched off (active: false)" in refused.json()["detail"]
        assert await key_count(session) == 1
        assert await created_entries(session) == []

    async def test_the_quote_forms_source_takes_no_key(
        self, client: AsyncClient, data_client: AsyncClient, world: World, session: AsyncSession
    ) -> None:
        assert (
            await client.post(QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend())
        ).status_code == 202  # makes web-form
        refused = await create(data_client, world, name="web-form")
        assert refused.status_code == 409
        assert "the form posts without a key" in refused.json()["detail"]
        assert await key_count(session) == 1


def _set_active(active: bool) -> None:
    async def run() -> None:
        engine = create_engine(get_settings(), "test")
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                await change(session, VENDOR, "test", active=active)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _keys_listed() -> list[dict[str, Any]]:
    listed = CliRunner().invoke(app, ["api-keys", "list", VENDOR, "--json"])
    assert listed.exit_code == 0, listed.output
    return list(json.loads(listed.stdout))


def test_the_create_command_shows_the_key_once_and_refuses_a_switched_off_source(
    settings_env: dict[str, str],
) -> None:
    created = CliRunner().invoke(app, ["api-keys", "create", VENDOR, "--json"])
    assert created.exit_code == 0, created.output
    shown = json.loads(created.stdout)
    assert shown["source"] == VENDOR and shown["api_key"].startswith(f"lg_{shown['prefix']}_")
    assert [key["prefix"] for key in _keys_listed()] == [shown["prefix"]]

    _set_active(False)
    refused = CliRunner().invoke(app, ["api-keys", "create", VENDOR])
    assert refused.exit_code == 1, refused.output
    assert f"source {VENDOR} is switched off (active: false)" in refused.stderr
    assert [key["prefix"] for key in _keys_listed()] == [shown["prefix"]]

    _set_active(True)
    assert CliRunner().invoke(app, ["api-keys", "create", VENDOR]).exit_code == 0
    assert len(_keys_listed()) == 2

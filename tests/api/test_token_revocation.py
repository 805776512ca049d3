"""Access tokens stop working when their user signs out, is deactivated or gets another role, on
every service that takes them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.settings import Settings
from leadgen.models import AuditEntry, User
from leadgen.targets import api, backend, data_service, orchestrator
from tests import helpers
from tests.conftest import lead_payload, started

# A request each service answers only for a signed-in member of staff.
STAFF_REQUESTS = {
    "api": "/api/v1/leads",
    "data-service": "/api/v1/reports/funnel",
    "orchestrator": "/api/v1/search?q=renewal",
    "backend": "/api/v1/notifications",
}
FACTORIES = {"api": api, "data-service": data_service, "orchestrator": orchestrator, "backend": backend}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for c in started(api.create_app(settings)):
        yield c


@pytest.fixture
async def data_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for c in started(data_service.create_app(settings)):
        yield c


@pytest.fixture
async def users(session: AsyncSession) -> dict[str, str]:
    """E-mail addresses of an admin, a manager and an agent."""
    agent = await helpers.agent(session, ["TX"])
    emails = {
        "admin": await helpers.user(session, Role.ADMIN),
        "manager": await helpers.user(session, Role.MANAGER),
        "agent": await helpers.user(session, Role.AGENT, agent.id),
    }
    await session.commit()
    return emails


async def user_id(session: AsyncSession, email: str) -> uuid.UUID:
    found = await session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


async def status_of(client: AsyncClient, path: str, headers: dict[str, str]) -> int:
    return (await client.get(path, headers=headers)).status_code


class TestSignOut:
    async def test_signing_out_revokes_every_token_of_the_user(
        self, client: AsyncClient, data_client: AsyncClient, users: dict[str, str]
    ) -> None:
        laptop = await helpers.bearer(client, users["manager"])
        phone = await helpers.bearer(client, users["manager"])
        assert await status_of(data_client, "/api/v1/reports/funnel", phone) == 200
        assert (await client.post("/api/v1/auth/logout", headers=laptop)).status_code == 204
        for headers in (laptop, phone):
            answer = await client.get("/api/v1/auth/me", headers=headers)
            assert answer.status_code == 401
            assert "revoked" in answer.json()["detail"]
            assert await status_of(data_client, "/api/v1/reports/funnel", headers) == 401
        again = await helpers.bearer(client, users["manager"])
        assert await status_of(client, "/api/v1/auth/me", again) == 200

    async def test_it_ends_only_that_users_tokens(self, client: AsyncClient, users: dict[str, str]) -> None:
        manager = await helpers.bearer(client, users["manager"])
        admin = await helpers.bearer(client, users["admin"])
        await client.post("/api/v1/auth/logout", headers=manager)
        assert await status_of(client, "/api/v1/auth/me", admin) == 200

    async def test_a_revoked_or_missing_token_cannot_sign_out(self, client: AsyncClient, users: dict[str, str]) -> None:
        headers = await helpers.bearer(client, users["agent"])
        assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
        assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 401
        assert (await client.post("/api/v1/auth/logout")).status_code == 401

    @pytest.mark.parametrize("service", list(STAFF_REQUESTS))
    async def test_every_service_refuses_a_token_signed_out(
        self, service: str, settings: Settings, client: AsyncClient, users: dict[str, str]
    ) -> None:
        app: FastAPI = FACTORIES[service].create_app(settings)
        headers = await helpers.bearer(client, users["admin"])
        async for peer in started(app):
            assert await status_of(peer, STAFF_REQUESTS[service], headers) == 200
            await client.post("/api/v1/auth/logout", headers=headers)
            assert await status_of(peer, STAFF_REQUESTS[service], headers) == 401


class TestChangeOfAccess:
    async def test_a_deactivated_user_is_out_at_once_and_stays_out_when_reactivated(
        self, client: AsyncClient, data_client: AsyncClient, session: AsyncSession, users: dict[str, str]
    ) -> None:
        admin = await helpers.bearer(client, users["admin"])
        manager = await helpers.bearer(client, users["manager"])
        target = await user_id(session, users["manager"])
        changed = await client.patch(f"/api/v1/auth/users/{target}", json={"active": False}, headers=admin)
        assert changed.status_code == 200
        assert changed.json() == {"id": str(target), "email": users["manager"], "role": "manager", "active": False}
        assert await status_of(data_client, "/api/v1/reports/funnel", manager) == 401
        wrong = await client.post("/api/v1/auth/token", data={"username": users["manager"], "password": "x"})
        assert wrong.status_code == 401
        await client.patch(f"/api/v1/auth/users/{target}", json={"active": True}, headers=admin)
        assert await status_of(data_client, "/api/v1/reports/funnel", manager) == 401
        signed_in_again = await helpers.bearer(client, users["manager"])
        assert await status_of(data_client, "/api/v1/reports/funnel", signed_in_again) == 200

    async def test_a_new_role_needs_a_new_token(
        self, client: AsyncClient, data_client: AsyncClient, session: AsyncSession, users: dict[str, str]
    ) -> None:
        admin = await helpers.bearer(client, users["admin"])
        manager = await helpers.bearer(client, users["manager"])
        target = await user_id(session, users["manager"])
        await client.patch(f"/api/v1/auth/users/{target}", json={"role": "admin"}, headers=admin)
        assert await status_of(data_client, "/api/v1/audit", manager) == 401
        promoted = await helpers.bearer(client, users["manager"])
        assert (await client.get("/api/v1/auth/me", headers=promoted)).json()["role"] == "admin"
        assert await status_of(data_client, "/api/v1/audit", promoted) == 200

    async def test_a_change_is_audited_and_no_change_revokes_nothing(
        self, client: AsyncClient, session: AsyncSession, users: dict[str, str]
    ) -> None:
        admin = await helpers.bearer(client, users["admin"])
        manager = await helpers.bearer(client, users["manager"])
        target = await user_id(session, users["manager"])
        unchanged = {"role": "manager", "active": True}
        same = await client.patch(f"/api/v1/auth/users/{target}", json=unchanged, headers=admin)
        assert same.status_code == 200
        assert await status_of(client, "/api/v1/auth/me", manager) == 200
        await client.patch(f"/api/v1/auth/users/{target}", json={"active": False}, headers=admin)
        entries = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "user.access_changed"))).all()
        assert [(e.subject_id, e.data) for e in entries] == [(str(target), {"active": False})]
        assert entries[0].actor.startswith("user:")

    async def test_only_admins_change_access_and_an_unknown_user_is_404(
        self, client: AsyncClient, session: AsyncSession, users: dict[str, str]
    ) -> None:
        manager = await helpers.bearer(client, users["manager"])
        admin = await helpers.bearer(client, users["admin"])
        agent = await user_id(session, users["agent"])
        refused = await client.patch(f"/api/v1/auth/users/{agent}", json={"active": False}, headers=manager)
        assert refused.status_code == 403
        missing = await client.patch(f"/api/v1/auth/users/{uuid.uuid4()}", json={"active": False}, headers=admin)
        assert missing.status_code == 404

    async def test_a_change_made_in_the_database_is_seen_too(
        self, client: AsyncClient, session: AsyncSession, users: dict[str, str]
    ) -> None:
        """Whoever changes the row, without moving the token version, the token still stops working."""
        manager = await helpers.bearer(client, users["manager"])
        agent = await helpers.bearer(client, users["agent"])
        await session.execute(update(User).where(User.email == users["manager"]).values(active=False))
        await session.execute(update(User).where(User.email == users["agent"]).values(role="manager"))
        await session.commit()
        assert await status_of(client, "/api/v1/auth/me", manager) == 401
        assert await status_of(client, "/api/v1/auth/me", agent) == 401


async def test_a_lead_cannot_be_read_with_a_token_signed_out(
    client: AsyncClient, session: AsyncSession, users: dict[str, str]
) -> None:
    key = await helpers.api_key(session)
    await session.commit()
    lead_id = (await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})).json()["id"]
    headers = await helpers.bearer(client, users["admin"])
    assert await status_of(client, f"/api/v1/leads/{lead_id}", headers) == 200
    await client.post("/api/v1/auth/logout", headers=headers)
    assert await status_of(client, f"/api/v1/leads/{lead_id}", headers) == 401

"""Access tokens stop working when their user signs out, is deactivated or gets another role, on
every service that takes them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import column, insert, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.auth.service import create_user, signed_in_principal
from leadgen.core.db import create_engine, create_sessionmaker, transaction
from leadgen.core.errors import Conflict
from leadgen.core.migrate import upgrade
from leadgen.core.security import create_access_token
from leadgen.core.settings import Settings
from leadgen.models import AuditEntry, User
from leadgen.targets import api, backend, data_service, orchestrator
from tests import helpers
from tests.conftest import lead_payload, started
from tests.stores.test_migrations import empty_database

__all__ = ["empty_database"]  # the fixture, for pytest to find here

# A request each service answers only for a signed-in member of staff.
STAFF_REQUESTS = {
    "api": "/api/v1/leads",
    "data-service": "/api/v1/reports/funnel",
    "orchestrator": "/api/v1/search?q=renewal",
    "backend": "/api/v1/notifications",
}
FACTORIES = {"api": api, "data-service": data_service, "orchestrator": orchestrator, "backend": backend}


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


class TestAccessRules:
    """The rules of a user's access (``auth.roles.access_refusal``), as the CLI's ``users create``
    holds them too: an agent user is linked to an agent, staff are not, and an admin stays."""

    async def test_the_role_agent_needs_a_linked_agent(
        self, client: AsyncClient, session: AsyncSession, users: dict[str, str]
    ) -> None:
        admin = await helpers.bearer(client, users["admin"])
        manager = await helpers.bearer(client, users["manager"])
        target = await user_id(session, users["manager"])
        refused = await client.patch(f"/api/v1/auth/users/{target}", json={"role": "agent"}, headers=admin)
        assert refused.status_code == 409
        assert [e["field"] for e in refused.json()["errors"]] == ["role"]
        assert "linked to an agent" in refused.json()["detail"]
        assert await status_of(client, "/api/v1/auth/me", manager) == 200  # nothing changed
        with pytest.raises(Conflict, match="linked to an agent"):
            await create_user(session, "no-agent@users.example.com", helpers.PASSWORD, Role.AGENT, None, "test")

    async def test_staff_are_linked_to_no_agent(self, session: AsyncSession) -> None:
        agent = await helpers.agent(session, ["TX"])
        with pytest.raises(Conflict, match="only a user with the role agent"):
            await create_user(session, "staff@users.example.com", helpers.PASSWORD, Role.MANAGER, agent.id, "test")

    async def test_a_promoted_agent_is_no_longer_linked_to_their_agent(
        self, client: AsyncClient, session: AsyncSession, users: dict[str, str]
    ) -> None:
        admin = await helpers.bearer(client, users["admin"])
        target = await user_id(session, users["agent"])
        promoted = await client.patch(f"/api/v1/auth/users/{target}", json={"role": "manager"}, headers=admin)
        assert promoted.status_code == 200
        session.expire_all()
        user = await session.get(User, target)
        assert user is not None and (user.role, user.agent_id) == ("manager", None)
        signed_in = await helpers.bearer(client, users["agent"])
        assert (await client.get("/api/v1/auth/me", headers=signed_in)).json()["agent_id"] is None
        [entry] = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "user.access_changed"))).all()
        assert entry.data == {"role": "manager", "agent_id": None}

    @pytest.mark.parametrize(("change", "field"), [({"active": False}, "active"), ({"role": "manager"}, "role")])
    async def test_the_last_active_admin_stays_one(
        self, client: AsyncClient, session: AsyncSession, users: dict[str, str], change: dict[str, Any], field: str
    ) -> None:
        admin = await helpers.bearer(client, users["admin"])
        me = await user_id(session, users["admin"])
        refused = await client.patch(f"/api/v1/auth/users/{me}", json=change, headers=admin)
        assert refused.status_code == 409
        assert [e["field"] for e in refused.json()["errors"]] == [field]
        assert "last active admin" in refused.json()["detail"]
        assert await status_of(client, "/api/v1/auth/me", admin) == 200
        # With another active admin, either may go (an inactive admin does not count).
        other = await helpers.user(session, Role.ADMIN)
        await session.commit()
        assert (await client.patch(f"/api/v1/auth/users/{me}", json=change, headers=admin)).status_code == 200
        other_admin = await helpers.bearer(client, other)
        again = await client.patch(
            f"/api/v1/auth/users/{await user_id(session, other)}", json=change, headers=other_admin
        )
        assert again.status_code == 409


class TestTokensOfTheReleaseBefore:
    """Tokens minted before token_version existed (the release before) still sign in during a
    rolling upgrade, as version 0, until the user's first revocation."""

    @staticmethod
    def without_a_version(settings: Settings, user: User) -> dict[str, str]:
        claims = {"role": user.role, "agent_id": str(user.agent_id) if user.agent_id else None}
        token = create_access_token(settings.security.jwt_secret.get_secret_value(), str(user.id), claims, 15)
        return {"Authorization": f"Bearer {token}"}

    async def test_it_is_version_0_until_the_user_signs_out(
        self, client: AsyncClient, session: AsyncSession, settings: Settings, users: dict[str, str]
    ) -> None:
        user = await session.get(User, await user_id(session, users["manager"]))
        assert user is not None and user.token_version == 0  # where every user starts
        old = self.without_a_version(settings, user)
        assert await status_of(client, "/api/v1/auth/me", old) == 200
        assert (await client.post("/api/v1/auth/logout", headers=old)).status_code == 204
        assert await status_of(client, "/api/v1/auth/me", old) == 401


async def _signs_in_with_a_token_of_the_release_before(settings: Settings, user_id: uuid.UUID) -> None:
    engine = create_engine(settings, "test")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            user = await session.get(User, user_id)
            assert user is not None and user.token_version == 0
            old = TestTokensOfTheReleaseBefore.without_a_version(settings, user)["Authorization"]
            principal = await signed_in_principal(session, settings, old.removeprefix("Bearer "))
            assert principal.user_id == user_id
    finally:
        await engine.dispose()


async def _user_of_schema_0009(settings: Settings) -> uuid.UUID:
    engine = create_engine(settings, "test")
    user_id = uuid.uuid4()
    values = {
        "id": user_id,
        "email": "old@users.example.com",
        "password_hash": "x",
        "role": "manager",
        "active": True,
        "created_at": datetime.now(UTC),
    }
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            # Only the columns schema 0009 has, typed as the model types them.
            columns = [column(name, User.__table__.c[name].type) for name in values]
            await session.execute(insert(table("users", *columns)).values(values))
    finally:
        await engine.dispose()
    return user_id


def test_a_user_made_before_migration_0010_starts_at_version_0(empty_database: Settings) -> None:
    upgrade(empty_database, "0009")
    made_before = asyncio.run(_user_of_schema_0009(empty_database))
    upgrade(empty_database)
    asyncio.run(_signs_in_with_a_token_of_the_release_before(empty_database, made_before))


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

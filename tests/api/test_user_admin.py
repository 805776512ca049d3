"""`GET /api/v1/auth/users`: admins find a user's id (by sign-in address, agent, role, activity)
to change their access, such as the sign-in of an agent they deactivated, which deactivating the
agent leaves working."""

from __future__ import annotations

import uuid

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.models import User
from tests import helpers

PUBLIC_FIELDS = {"id", "email", "role", "agent_id", "active", "created_at"}


async def listed(client: AsyncClient, headers: dict[str, str], query: str = "") -> list[dict[str, object]]:
    answer = await client.get(f"/api/v1/auth/users{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    users: list[dict[str, object]] = answer.json()
    return users


class TestListUsers:
    async def test_an_admin_finds_the_sign_in_of_an_agent_they_deactivated_and_ends_it(
        self, client: AsyncClient, data_client: AsyncClient, session: AsyncSession
    ) -> None:
        agent = await helpers.agent(session, ["TX"])
        email = await helpers.user(session, Role.AGENT, agent.id)
        admin_email = await helpers.user(session, Role.ADMIN)
        await session.commit()
        admin = await helpers.bearer(client, admin_email)
        agents_session = await helpers.bearer(client, email)
        off = await data_client.patch(f"/api/v1/agents/{agent.id}", json={"active": False}, headers=admin)
        assert off.status_code == 200, off.text
        # Deactivating the agent leaves their sign-in as it was: their session still works.
        assert (await client.get("/api/v1/auth/me", headers=agents_session)).status_code == 200
        [user] = await listed(client, admin, f"?agent_id={agent.id}")
        assert (user["email"], user["role"], user["active"]) == (email, "agent", True)
        ended = await client.patch(f"/api/v1/auth/users/{user['id']}", json={"active": False}, headers=admin)
        assert ended.status_code == 200, ended.text
        assert (await client.get("/api/v1/auth/me", headers=agents_session)).status_code == 401
        assert [u["active"] for u in await listed(client, admin, f"?agent_id={agent.id}")] == [False]

    async def test_filters_by_address_in_any_case_role_and_activity(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        agent = await helpers.agent(session, ["TX"])
        admin_email = await helpers.user(session, Role.ADMIN)
        manager_email = await helpers.user(session, Role.MANAGER)
        agent_email = await helpers.user(session, Role.AGENT, agent.id)
        await session.commit()
        admin = await helpers.bearer(client, admin_email)
        manager_id = await session.scalar(select(User.id).where(User.email == manager_email))
        off = await client.patch(f"/api/v1/auth/users/{manager_id}", json={"active": False}, headers=admin)
        assert off.status_code == 200, off.text

        def emails(users: list[dict[str, object]]) -> set[object]:
            return {user["email"] for user in users}

        assert emails(await listed(client, admin, f"?email={manager_email.upper()}")) == {manager_email}
        assert emails(await listed(client, admin, "?email=nobody@users.example.com")) == set()
        assert emails(await listed(client, admin, "?role=agent")) == {agent_email}
        assert emails(await listed(client, admin, "?active=false")) == {manager_email}
        assert emails(await listed(client, admin, "?active=true")) == {admin_email, agent_email}
        assert emails(await listed(client, admin, f"?role=admin&email={agent_email}")) == set()
        assert emails(await listed(client, admin, f"?agent_id={uuid.uuid4()}")) == set()

    async def test_answers_the_public_fields_never_the_password_hash(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        agent = await helpers.agent(session, ["TX"])
        agent_email = await helpers.user(session, Role.AGENT, agent.id)
        admin_email = await helpers.user(session, Role.ADMIN)
        await session.commit()
        admin = await helpers.bearer(client, admin_email)
        [user] = await listed(client, admin, f"?email={agent_email}")
        stored = await session.scalar(select(User).where(User.email == agent_email))
        assert stored is not None
        assert set(user) == PUBLIC_FIELDS
        assert (user["id"], user["agent_id"]) == (str(stored.id), str(agent.id))
        assert stored.password_hash not in str(user)

    async def test_pages_newest_first_with_the_link_header_naming_the_next(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        for _ in range(4):
            await helpers.user(session, Role.MANAGER)
        admin_email = await helpers.user(session, Role.ADMIN)
        await session.commit()
        admin = await helpers.bearer(client, admin_email)
        newest_first = list(await session.scalars(select(User.id).order_by(User.created_at.desc(), User.id.desc())))
        pages = await helpers.every_page(client, admin, "/api/v1/auth/users?limit=2")
        assert [len(page) for page in pages] == [2, 2, 1]
        assert [uuid.UUID(str(user["id"])) for page in pages for user in page] == newest_first
        managers = await helpers.every_page(client, admin, "/api/v1/auth/users?role=manager&limit=3")
        assert [len(page) for page in managers] == [3, 1]  # the filters travel with the next page

    async def test_only_admins_list_users(self, client: AsyncClient, session: AsyncSession) -> None:
        agent = await helpers.agent(session, ["TX"])
        manager = await helpers.user(session, Role.MANAGER)
        agent_user = await helpers.user(session, Role.AGENT, agent.id)
        await session.commit()
        assert (await client.get("/api/v1/auth/users")).status_code == 401
        for email in (manager, agent_user):
            refused = await client.get("/api/v1/auth/users", headers=await helpers.bearer(client, email))
            assert refused.status_code == 403, email

    async def test_a_parameter_it_does_not_take_is_refused_by_name(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        admin_email = await helpers.user(session, Role.ADMIN)
        await session.commit()
        admin = await helpers.bearer(client, admin_email)
        for query, field in (
            (f"?before={uuid.uuid4()}", "query.before"),
            ("?role=owner", "query.role"),
            ("?limit=0", "query.limit"),
            ("?offset=10", "query.offset"),
            ("?email=a%00b@users.example.com", "query.email"),
        ):
            refused = await client.get(f"/api/v1/auth/users{query}", headers=admin)
            assert refused.status_code == 422, query
            assert [e["field"] for e in refused.json()["errors"]] == [field], refused.json()

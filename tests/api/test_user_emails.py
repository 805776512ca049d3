"""A user's sign-in e-mail address is stored as sign-in looks it up: without the spaces a paste
brings, lower-cased, and only when it is an e-mail address. The dashboard strips what is typed
(``frontend.deps.form_text``), so a user stored with spaces could never sign in there."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from leadgen.auth.roles import Role
from leadgen.auth.service import create_user
from leadgen.cli.main import app
from leadgen.core.errors import Conflict, InvalidInput
from leadgen.models import User
from tests import helpers
from tests.api.test_password_change import in_database


async def users(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(User.email).order_by(User.email)))


async def sign_in(client: AsyncClient, email: str) -> int:
    answer = await client.post("/api/v1/auth/token", data={"username": email, "password": helpers.PASSWORD})
    return answer.status_code


async def test_an_address_pasted_with_spaces_is_stored_as_sign_in_finds_it(
    client: AsyncClient, session: AsyncSession
) -> None:
    await create_user(session, "  Ops@Agency.example.com \t", helpers.PASSWORD, Role.ADMIN, None, "test")
    await session.commit()
    assert await users(session) == ["ops@agency.example.com"]
    # As the dashboard sends it (stripped), and in another case: both find the user.
    assert await sign_in(client, "ops@agency.example.com") == 200
    assert await sign_in(client, "OPS@agency.example.com") == 200


@pytest.mark.parametrize("email", ["not-an-email", "ops@", "@agency.example.com", "ops @agency.example.com", "   "])
async def test_what_is_not_an_email_address_is_refused_and_nothing_is_stored(session: AsyncSession, email: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await create_user(session, email, helpers.PASSWORD, Role.ADMIN, None, "test")
    assert refused.value.errors and refused.value.errors[0]["field"] == "email"
    assert refused.value.detail.startswith("not an e-mail address")
    await session.rollback()
    assert await users(session) == []


async def test_the_same_address_with_spaces_or_in_another_case_is_the_existing_user(session: AsyncSession) -> None:
    await create_user(session, "ops@agency.example.com", helpers.PASSWORD, Role.ADMIN, None, "test")
    await session.commit()
    for again in (" ops@agency.example.com ", "Ops@Agency.Example.Com"):
        with pytest.raises(Conflict) as refused:
            await create_user(session, again, helpers.PASSWORD, Role.MANAGER, None, "test")
        assert refused.value.detail == "another user has this e-mail address"
        assert refused.value.errors == [{"field": "email", "reason": "another user has this e-mail address"}]
    assert await users(session) == ["ops@agency.example.com"]


def test_the_command_stores_the_address_stripped_and_refuses_one_that_is_not(
    settings_env: dict[str, str],
) -> None:
    env = {"LEADGEN_NEW_USER_PASSWORD": helpers.PASSWORD}
    pasted = CliRunner().invoke(app, ["users", "create", "--email", " ops@agency.example.com ", "--json"], env=env)
    assert pasted.exit_code == 0, pasted.output
    assert '"email": "ops@agency.example.com"' in pasted.stdout
    refused = CliRunner().invoke(app, ["users", "create", "--email", "not-an-email"], env=env)
    assert refused.exit_code == 1, refused.output
    assert "not an e-mail address" in refused.stderr
    assert in_database(lambda s: s.scalar(select(func.count()).select_from(User))) == 1

"""Changing one's own password and an admin's reset: the new password signs in, the old one and
every session and device token of before do not, wrong current passwords count as failed
sign-ins, and both are audited."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from leadgen.auth.repository import user_by_email
from leadgen.auth.roles import Role
from leadgen.cli.main import app
from leadgen.core.db import create_engine, create_sessionmaker, transaction
from leadgen.core.security import verify_password
from leadgen.core.settings import get_settings
from leadgen.models import AuditEntry
from tests import helpers
from tests.api.test_sign_in_limits import (
    NEW_PASSWORD,
    Caller,
    attempt,
    attempt_from_device,
    caller,
    device_token_of,
    email,
    lock_out,
    new_address,
    user_id,
)

__all__ = ["caller", "email"]  # the fixtures, for pytest to find here

SHORT = "too-short"
OWN = "/api/v1/auth/me/password"
T = TypeVar("T")


def bearer(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {"authorization": f"Bearer {answer.json()['access_token']}"}


async def change(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    current: str = helpers.PASSWORD,
    new: str = NEW_PASSWORD,
) -> httpx.Response:
    return await client.post(OWN, json={"current_password": current, "new_password": new}, headers=headers)


async def reset(
    client: httpx.AsyncClient, user: uuid.UUID, headers: dict[str, str], new: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(f"/api/v1/auth/users/{user}/password", json={"new_password": new}, headers=headers)


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return (await client.get("/api/v1/auth/me", headers=headers)).status_code


async def audited(session: AsyncSession, action: str) -> list[tuple[str, str | None]]:
    entries = await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
    return [(entry.actor, entry.subject_id) for entry in entries]


class TestOwnPassword:
    async def test_the_new_password_signs_in_and_every_session_of_before_ends_but_this_ones(
        self, caller: Caller, session: AsyncSession, email: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        async with caller(new_address()) as laptop, caller(new_address()) as phone:
            laptop_bearer = bearer(await attempt(laptop, email))
            phone_bearer = bearer(await attempt(phone, email))
            changed = await change(laptop, laptop_bearer)
            assert changed.status_code == 200, changed.text
            assert set(changed.json()) == {"access_token", "token_type", "device_token"}
            assert await me(laptop, bearer(changed)) == 200  # this client carries on
            for old in (laptop_bearer, phone_bearer):
                assert await me(laptop, old) == 401
            assert (await attempt(phone, email)).status_code == 401
            assert (await attempt(phone, email, NEW_PASSWORD)).status_code == 200
        me_id = await user_id(session, email)
        assert await audited(session, "user.password_changed") == [(f"user:{me_id}", str(me_id))]
        assert helpers.PASSWORD not in caplog.text and NEW_PASSWORD not in caplog.text

    async def test_a_wrong_current_password_is_refused_on_its_field_and_changes_nothing(
        self, caller: Caller, email: str
    ) -> None:
        async with caller(new_address()) as client:
            headers = bearer(await attempt(client, email))
            refused = await change(client, headers, current="not-the-password")
            assert refused.status_code == 403
            assert refused.json()["errors"] == [
                {"field": "current_password", "reason": "this is not your current password"}
            ]
            assert await me(client, headers) == 200
            assert (await attempt(client, email)).status_code == 200
            assert (await attempt(client, email, NEW_PASSWORD)).status_code == 401

    @pytest.mark.parametrize(
        ("new", "reason"),
        [
            (SHORT, "passwords must be at least 12 characters"),
            (helpers.PASSWORD, "the new password must differ from the current one"),
        ],
    )
    async def test_a_short_or_unchanged_new_password_is_422_on_its_field(
        self, caller: Caller, email: str, new: str, reason: str
    ) -> None:
        async with caller(new_address()) as client:
            headers = bearer(await attempt(client, email))
            refused = await change(client, headers, new=new)
            assert refused.status_code == 422
            assert refused.json()["errors"] == [{"field": "new_password", "reason": reason}]
            assert await me(client, headers) == 200

    async def test_wrong_current_passwords_count_as_failed_sign_ins_to_the_account(
        self, caller: Caller, email: str
    ) -> None:
        async with caller(new_address()) as client:
            headers = bearer(await attempt(client, email))
            codes = [(await change(client, headers, current=f"guess-number-{n}")).status_code for n in range(7)]
            assert codes == [403] * 5 + [429] * 2
            locked = await change(client, headers)  # the right one too: it would tell the guesser
            assert locked.status_code == 429
            assert locked.json()["detail"].startswith("too many failed sign-ins to this account; try again in ")
        async with caller(new_address()) as elsewhere:
            assert (await attempt(elsewhere, email)).status_code == 429
            assert (await attempt(elsewhere, email, NEW_PASSWORD)).status_code == 429

    async def test_the_device_that_changed_it_stays_trusted_and_the_others_do_not(
        self, caller: Caller, email: str
    ) -> None:
        async with caller(new_address()) as device, caller(new_address()) as other_device:
            old_token = await device_token_of(device, email)
            other_token = await device_token_of(other_device, email)
            signed_in = await attempt_from_device(device, email, old_token)
            changed = await device.post(
                OWN,
                json={"current_password": helpers.PASSWORD, "new_password": NEW_PASSWORD},
                headers=bearer(signed_in) | {"X-Device-Token": old_token},
            )
            assert changed.status_code == 200, changed.text
            new_token = changed.json()["device_token"]
            assert new_token.split(".")[:2] == old_token.split(".")[:2]  # the same device
            assert new_token != old_token  # at the new password
            await lock_out(caller, email)
            for client, token in ((device, old_token), (other_device, other_token)):
                refused = await attempt_from_device(client, email, token, NEW_PASSWORD)
                assert refused.status_code == 429
                assert "this account" in refused.json()["detail"]
            assert (await attempt_from_device(device, email, new_token, NEW_PASSWORD)).status_code == 200

    async def test_it_needs_a_valid_token(self, caller: Caller, email: str) -> None:
        async with caller(new_address()) as client:
            headers = bearer(await attempt(client, email))
            assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
            assert (await change(client, headers)).status_code == 401
            assert (await change(client, {})).status_code == 401
            assert (await attempt(client, email)).status_code == 200


class TestReset:
    async def test_an_admin_sets_a_users_password_and_their_sessions_end(
        self, caller: Caller, session: AsyncSession, email: str
    ) -> None:
        admin_email = await helpers.user(session, Role.ADMIN)
        await session.commit()
        target = await user_id(session, email)
        async with caller(new_address()) as admin, caller(new_address()) as users_client:
            admin_bearer = bearer(await attempt(admin, admin_email))
            users_bearer = bearer(await attempt(users_client, email))
            assert (await reset(admin, target, admin_bearer)).status_code == 204
            assert await me(users_client, users_bearer) == 401
            assert await me(admin, admin_bearer) == 200  # the admin's own sessions go on
            assert (await attempt(users_client, email)).status_code == 401
            assert (await attempt(users_client, email, NEW_PASSWORD)).status_code == 200
        admin_id = await user_id(session, admin_email)
        assert await audited(session, "user.password_reset") == [(f"user:{admin_id}", str(target))]

    async def test_the_users_devices_are_no_longer_trusted_after_a_reset(
        self, caller: Caller, session: AsyncSession, email: str
    ) -> None:
        admin_email = await helpers.user(session, Role.ADMIN)
        await session.commit()
        async with caller(new_address()) as admin, caller(new_address()) as device:
            device_token = await device_token_of(device, email)
            admin_bearer = bearer(await attempt(admin, admin_email))
            assert (await reset(admin, await user_id(session, email), admin_bearer)).status_code == 204
            await lock_out(caller, email)
            refused = await attempt_from_device(device, email, device_token, NEW_PASSWORD)
        assert refused.status_code == 429
        assert "this account" in refused.json()["detail"]

    async def test_only_admins_reset_and_the_password_rules_hold(
        self, caller: Caller, session: AsyncSession, email: str
    ) -> None:
        admin_email = await helpers.user(session, Role.ADMIN)
        agent = await helpers.agent(session, ["TX"])
        agent_email = await helpers.user(session, Role.AGENT, agent.id)
        await session.commit()
        target = await user_id(session, agent_email)
        async with caller(new_address()) as client:
            for someone in (email, agent_email):  # a manager, and the agent themselves
                assert (await reset(client, target, bearer(await attempt(client, someone)))).status_code == 403
            admin_bearer = bearer(await attempt(client, admin_email))
            short = await reset(client, target, admin_bearer, SHORT)
            assert short.status_code == 422
            assert short.json()["errors"] == [
                {"field": "new_password", "reason": "passwords must be at least 12 characters"}
            ]
            assert (await reset(client, uuid.uuid4(), admin_bearer)).status_code == 404
            assert (await attempt(client, agent_email)).status_code == 200  # nothing changed
        assert await audited(session, "user.password_reset") == []


def in_database(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` in a committed transaction on the test's database, as a command outside the test's
    event loop sees it."""

    async def run() -> T:
        engine = create_engine(get_settings(), "test")
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def password_and_audit(session: AsyncSession, email: str) -> tuple[bool, int, list[tuple[str, str | None]]]:
    """Whether the user's password is NEW_PASSWORD, their token version, and the resets audited."""
    user = await user_by_email(session, email)
    assert user is not None
    resets = await audited(session, "user.password_reset")
    return verify_password(user.password_hash, NEW_PASSWORD), user.token_version, resets


def set_password(*args: str, stdin: str = "") -> Result:
    return CliRunner().invoke(app, ["users", "set-password", *args], input=stdin)


class TestSetPasswordCommand:
    def test_it_reads_the_password_from_stdin(self, settings_env: dict[str, str]) -> None:
        email = in_database(lambda session: helpers.user(session, Role.MANAGER))
        done = set_password(email.upper(), "--password-stdin", "--json", stdin=f"{NEW_PASSWORD}\n")
        assert done.exit_code == 0, done.output
        user_id = json.loads(done.stdout)["id"]
        assert json.loads(done.stdout) == {"id": user_id, "email": email}
        assert NEW_PASSWORD not in done.output
        assert in_database(lambda session: password_and_audit(session, email)) == (True, 1, [("cli", user_id)])

    def test_it_prompts_twice_with_hidden_input(self, settings_env: dict[str, str]) -> None:
        email = in_database(lambda session: helpers.user(session, Role.ADMIN))
        done = set_password(email, stdin=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
        assert done.exit_code == 0, done.output
        assert NEW_PASSWORD not in done.output
        assert f"password set for {email}" in done.stdout
        assert in_database(lambda session: password_and_audit(session, email))[:2] == (True, 1)

    def test_it_refuses_a_short_password_an_unknown_user_and_a_password_as_an_argument(
        self, settings_env: dict[str, str]
    ) -> None:
        email = in_database(lambda session: helpers.user(session, Role.MANAGER))
        short = set_password(email, "--password-stdin", stdin=f"{SHORT}\n")
        assert short.exit_code == 1 and "passwords must be at least 12 characters" in short.stderr
        empty = set_password(email, "--password-stdin")
        assert empty.exit_code == 2 and "no password on standard input" in empty.stderr
        unknown = set_password("nobody@users.example.com", "--password-stdin", stdin=f"{NEW_PASSWORD}\n")
        assert unknown.exit_code == 1 and "no user with e-mail nobody@users.example.com" in unknown.stderr
        assert set_password(email, NEW_PASSWORD).exit_code == 2  # never a plain argument
        assert in_database(lambda session: password_and_audit(session, email)) == (False, 0, [])


def create_user(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["users", "create", *args], input=stdin, env=env)


async def created(session: AsyncSession, email: str) -> tuple[bool, str, list[tuple[str, str | None]]]:
    """Whether the user signs in with NEW_PASSWORD, their role, and the creations audited."""
    user = await user_by_email(session, email)
    assert user is not None
    return verify_password(user.password_hash, NEW_PASSWORD), user.role, await audited(session, "user.created")


class TestCreateUserCommand:
    """The password of a new user is never an argument, which shell history keeps, as for set-password."""

    def test_it_reads_the_password_from_stdin_and_answers_json_alone(self, settings_env: dict[str, str]) -> None:
        done = create_user("--email", "Ops@Users.example.com", "--password-stdin", "--json", stdin=f"{NEW_PASSWORD}\n")
        assert done.exit_code == 0, done.output
        answer = json.loads(done.stdout)
        assert answer == {"id": answer["id"], "email": "ops@users.example.com", "role": "admin"}
        assert NEW_PASSWORD not in done.output
        audited_as = [("cli", answer["id"])]
        assert in_database(lambda s: created(s, "ops@users.example.com")) == (True, "admin", audited_as)

    def test_it_takes_the_environment_variable_else_prompts_twice_on_stderr(self, settings_env: dict[str, str]) -> None:
        from_env = create_user("--email", "env@users.example.com", "--role", "manager",
                               env={"LEADGEN_NEW_USER_PASSWORD": NEW_PASSWORD})  # fmt: skip
        assert from_env.exit_code == 0, from_env.output
        assert in_database(lambda s: created(s, "env@users.example.com"))[:2] == (True, "manager")
        prompted = create_user(
            "--email", "typed@users.example.com", "--json", stdin=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
        )
        assert prompted.exit_code == 0, prompted.output
        assert json.loads(prompted.stdout)["email"] == "typed@users.example.com"  # the prompts are not in it
        assert "Password" in prompted.stderr and NEW_PASSWORD not in prompted.output
        assert in_database(lambda s: created(s, "typed@users.example.com"))[0]

    def test_it_refuses_a_password_as_an_argument_a_short_one_an_unknown_role_and_an_agent_who_is_not_one(
        self, settings_env: dict[str, str]
    ) -> None:
        email = "someone@users.example.com"
        assert create_user("--email", email, "--password", NEW_PASSWORD).exit_code == 2
        short = create_user("--email", email, "--password-stdin", stdin=f"{SHORT}\n")
        assert short.exit_code == 1 and "passwords must be at least 12 characters" in short.stderr
        role = create_user("--email", email, "--role", "owner")
        assert role.exit_code == 2 and "role must be one of admin, manager, agent" in role.stderr
        assert "Password" not in role.output  # refused before anything is asked
        agent = create_user("--email", email, "--role", "agent", "--password-stdin", stdin=f"{NEW_PASSWORD}\n")
        assert agent.exit_code == 1 and f"no agent with e-mail {email}" in agent.stderr
        assert in_database(lambda s: user_by_email(s, email)) is None

"""`leadgen users list`, `deactivate` and `activate`: the dashboard's users from the command line,
listed as GET /api/v1/auth/users lists them and turned off or on as its PATCH does (audited)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from leadgen.auth.roles import Role
from leadgen.models import AuditEntry, User
from tests import helpers
from tests.api.test_password_change import in_database

PUBLIC_FIELDS = {"id", "email", "role", "agent_id", "active", "created_at"}


def _users(*args: str) -> Result:
    from leadgen.cli.main import app

    return CliRunner().invoke(app, ["users", *args])


def _emails(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [user["email"] for user in json.loads(result.stdout)]


@dataclass(frozen=True)
class Staff:
    admin: str
    manager: str
    agent: str
    agent_id: uuid.UUID


def _staff() -> Staff:
    """An admin, a manager and an agent's user, created in this order."""

    async def create(session: AsyncSession) -> Staff:
        agent = await helpers.agent(session, ["TX"])
        admin = await helpers.user(session, Role.ADMIN)
        manager = await helpers.user(session, Role.MANAGER)
        return Staff(admin, manager, await helpers.user(session, Role.AGENT, agent.id), agent.id)

    return in_database(create)


def _stored(email: str) -> tuple[bool, int, list[tuple[str, dict[str, object]]]]:
    """Whether the user may sign in, their token version, and their changes of access audited."""

    async def read(session: AsyncSession) -> tuple[bool, int, list[tuple[str, dict[str, object]]]]:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        entries = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "user.access_changed", AuditEntry.subject_id == str(user.id))
            .order_by(AuditEntry.created_at)
        )
        return user.active, user.token_version, [(entry.actor, entry.data) for entry in entries]

    return in_database(read)


def test_lists_and_filters_as_the_api_does(settings_env: dict[str, str]) -> None:
    staff = _staff()
    assert _users("deactivate", staff.manager).exit_code == 0
    everyone = _users("list", "--json")
    assert _emails(everyone) == [staff.agent, staff.manager, staff.admin]  # the newest first
    assert all(set(user) == PUBLIC_FIELDS for user in json.loads(everyone.stdout))
    assert _emails(_users("list", "--email", staff.manager.upper(), "--json")) == [staff.manager]
    assert _emails(_users("list", "--agent-id", str(staff.agent_id), "--json")) == [staff.agent]
    assert _emails(_users("list", "--role", "admin", "--json")) == [staff.admin]
    assert _emails(_users("list", "--inactive", "--json")) == [staff.manager]
    assert _emails(_users("list", "--active", "--role", "agent", "--json")) == [staff.agent]
    assert _users("list", "--role", "owner").exit_code == 2


def test_a_table_for_people_says_how_to_read_more(settings_env: dict[str, str]) -> None:
    staff = _staff()
    first = _users("list", "--limit", "2")
    assert first.exit_code == 0, first.output
    assert staff.agent in first.stdout and staff.manager in first.stdout and staff.admin not in first.stdout
    [_, second] = json.loads(_users("list", "--limit", "2", "--json").stdout)
    assert first.stdout.splitlines()[-1] == f"more users: the same command with --before {second['id']}"
    last = _users("list", "--before", second["id"])
    assert staff.admin in last.stdout and staff.agent not in last.stdout and "--before" not in last.stdout
    unknown = _users("list", "--before", str(uuid.uuid4()))
    assert unknown.exit_code == 2 and "names no user" in unknown.stderr


def test_deactivating_an_agents_sign_in_ends_their_sessions_and_is_audited(settings_env: dict[str, str]) -> None:
    staff = _staff()
    _, version, _ = _stored(staff.agent)
    off = _users("deactivate", staff.agent.upper())
    assert off.exit_code == 0, off.output
    assert off.stdout.strip() == f"{staff.agent} can no longer sign in; their sessions have ended"
    active, moved_on, audited = _stored(staff.agent)
    assert (active, moved_on > version, audited) == (False, True, [("cli", {"active": False})])
    on = _users("activate", staff.agent, "--json")
    assert on.exit_code == 0, on.output
    changed = json.loads(on.stdout)
    assert set(changed) == PUBLIC_FIELDS
    assert (changed["email"], changed["agent_id"], changed["active"]) == (staff.agent, str(staff.agent_id), True)
    assert _stored(staff.agent)[2] == [("cli", {"active": False}), ("cli", {"active": True})]


def test_an_unknown_address_and_the_last_active_admin_are_refused(settings_env: dict[str, str]) -> None:
    staff = _staff()
    unknown = _users("deactivate", "nobody@users.example.com")
    assert unknown.exit_code == 1 and "no user with e-mail nobody@users.example.com" in unknown.stderr
    last_admin = _users("deactivate", staff.admin)
    assert last_admin.exit_code == 1 and "the last active admin cannot be deactivated" in last_admin.stderr
    assert _stored(staff.admin)[0] is True

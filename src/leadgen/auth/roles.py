"""Roles, what a principal may see, and the rules of a user's access and password."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class Role(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    role: Role
    agent_id: uuid.UUID | None

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.ADMIN, Role.MANAGER)

    def label(self) -> str:
        return f"user:{self.user_id}"


@dataclass(frozen=True)
class Access:
    """What a user may do: their role, whether they may sign in, and the agent they sign in as."""

    role: Role
    active: bool
    agent_id: uuid.UUID | None

    @property
    def active_admin(self) -> bool:
        return self.active and self.role is Role.ADMIN


def changed_access(before: Access, role: Role | None, active: bool | None) -> Access:
    """``before`` with the role and the activity asked for (None: as it is). Only agent users sign
    in as an agent, so a user given another role is no longer linked to theirs."""
    new_role = before.role if role is None else role
    return Access(
        role=new_role,
        active=before.active if active is None else active,
        agent_id=before.agent_id if new_role is Role.AGENT else None,
    )


def access_refusal(after: Access, before: Access | None = None, other_active_admins: int = 0) -> tuple[str, str] | None:
    """Why a user may not have the access ``after`` (a new user, or one whose access was
    ``before``), as (field, reason), or None. The rules of every way users are made and changed
    (``leadgen users create``, ``PATCH /api/v1/auth/users/{id}``):

    - a user with the role agent signs in as an agent, so is linked to one;
    - only agent users are linked to an agent (staff see every lead, not an agent's own);
    - the last active admin stays one: nobody would be left to manage users.
    """
    # A new role is checked, an old one left alone: a user is always let go (deactivated).
    new_role = before is None or after.role is not before.role
    if new_role and after.role is Role.AGENT and after.agent_id is None:
        return "role", "a user with the role agent must be linked to an agent, and this user is linked to none"
    if new_role and after.role is not Role.AGENT and after.agent_id is not None:
        return "agent_id", f"only a user with the role agent is linked to an agent, not a {after.role}"
    if before is not None and before.active_admin and not after.active_admin and other_active_admins == 0:
        field, change = ("active", "deactivated") if not after.active else ("role", "given another role")
        return field, f"the last active admin cannot be {change}: make another user an admin first"
    return None


# Every way a password is set (``leadgen users create`` and ``set-password``, a user's change of
# their own, an admin's reset) holds to this rule.
MIN_PASSWORD_LENGTH = 12


def password_refusal(password: str) -> str | None:
    """Why ``password`` may not be a user's password, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"passwords must be at least {MIN_PASSWORD_LENGTH} characters"
    return None

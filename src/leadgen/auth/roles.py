"""Roles and what a principal may see."""

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

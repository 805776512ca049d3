"""Who may call the platform: dashboard users, lead sources and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadgen.models.base import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every access token carries the version current when it was issued; signing out, deactivating
    # the user or changing the role moves it on, and older tokens stop working at once.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Every device token is bound to the version current when it was issued (``auth.devices``);
    # deactivating or reactivating the user moves it on, so no device trusted before a deactivation
    # is trusted after it. Signing out leaves it alone: device trust outlives sessions.
    device_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Source(IdMixin, TimestampMixin, Base):
    """Where leads come from: a vendor, the public quote form, a partner."""

    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="vendor")
    # The price of its next lead; each lead keeps the price it was bought at (``leads.price_cents``).
    cost_per_lead_cents: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ApiKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"

    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sources.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column()

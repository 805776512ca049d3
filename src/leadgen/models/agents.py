"""Agents, the licences that make them eligible, and their shifts."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadgen.models.base import Base, IdMixin, TimestampMixin


class Agent(IdMixin, TimestampMixin, Base):
    __tablename__ = "agents"

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    daily_cap: Mapped[int] = mapped_column(Integer, default=25)
    open_cap: Mapped[int] = mapped_column(Integer, default=50)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    last_assigned_at: Mapped[datetime | None] = mapped_column()
    # Counts staff's changes to the agent (``agents.service.update``), not routing's writes: the
    # API's ETag, which a change sent with If-Match must still carry.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    licences: Mapped[list[Licence]] = relationship(lazy="raise", cascade="all, delete-orphan")
    shifts: Mapped[list[Shift]] = relationship(lazy="raise", cascade="all, delete-orphan")


class Licence(IdMixin, Base):
    __tablename__ = "licences"
    __table_args__ = (UniqueConstraint("agent_id", "state", "line"),)

    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(2))
    line: Mapped[str] = mapped_column(String(16))
    number: Mapped[str | None] = mapped_column(String(64))
    expires_on: Mapped[date] = mapped_column(Date)


class Shift(IdMixin, Base):
    """A weekly window in the agent's own time zone (weekday 0 = Monday)."""

    __tablename__ = "shifts"

    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    starts_at: Mapped[time] = mapped_column(Time)
    ends_at: Mapped[time] = mapped_column(Time)

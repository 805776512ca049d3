"""How leads of a source or campaign are routed."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadgen.models.base import Base, IdMixin, TimestampMixin


class RoutingPolicy(IdMixin, TimestampMixin, Base):
    """The most specific policy wins: source and campaign, then source, then campaign, then default."""

    __tablename__ = "routing_policies"
    __table_args__ = (UniqueConstraint("source_id", "campaign"),)

    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sources.id"))
    campaign: Mapped[str | None] = mapped_column(String(128))
    strategy: Mapped[str] = mapped_column(String(16), default="round_robin")
    max_agents: Mapped[int] = mapped_column(Integer, default=1)
    sla_minutes: Mapped[int | None] = mapped_column(Integer)
    max_attempts: Mapped[int | None] = mapped_column(Integer)

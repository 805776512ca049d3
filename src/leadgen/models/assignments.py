"""An offer of a lead to one agent, and what became of it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models.base import Base, IdMixin, TimestampMixin


class Assignment(IdMixin, TimestampMixin, Base):
    __tablename__ = "assignments"
    # One offer per lead, round and slot (exclusive leads have one slot): a stage run twice
    # cannot route a lead twice.
    __table_args__ = (
        UniqueConstraint("lead_id", "attempt", "slot"),
        UniqueConstraint("lead_id", "agent_id"),
        Index("ix_assignments_agent_id_status", "agent_id", "status"),
        # Routing counts every candidate's open offers for every lead; without this, an agent's
        # whole history of accepted leads, converted or lost long ago, is read each time.
        Index(
            "ix_assignments_agent_id_status_unclosed",
            "agent_id",
            "status",
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
        ),
        # The SLA sweep reads the overdue offers it never tried in deadline order from this, and
        # those whose timing out failed (``expiry_failures``) apart, once their retry is due.
        Index("ix_assignments_status_expiry_failures_expires_at", "status", "expiry_failures", "expires_at"),
        # Offers since the agent's local midnight (the daily cap), read for every candidate.
        Index("ix_assignments_agent_id_created_at", "agent_id", "created_at"),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id"), index=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[AssignmentStatus] = mapped_column(String(16), default=AssignmentStatus.PENDING)
    strategy: Mapped[str] = mapped_column(String(32))
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime] = mapped_column()
    responded_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(255))
    # When the accepted lead's work ended (converted or lost): no longer part of the agent's load.
    closed_at: Mapped[datetime | None] = mapped_column()
    # What this agent last recorded about the lead it accepted (CONTACTED, QUOTED, CONVERTED or
    # LOST; None before any): each taker of a shared lead has their own, and the lead's status is
    # derived from all of them (``lifecycle.lead_status_of_takers``).
    outcome: Mapped[LeadStatus | None] = mapped_column(String(16))
    outcome_at: Mapped[datetime | None] = mapped_column()
    # Failed tries of the SLA sweep to time this overdue offer out (its lead's next round failed and
    # rolled back), and when the sweep tries again: meanwhile it passes the offer over for others.
    expiry_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    expiry_retry_at: Mapped[datetime | None] = mapped_column()

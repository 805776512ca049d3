"""Audit entries and lead events are written in the same transaction as the change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.models import AuditEntry, LeadEvent


async def record(
    session: AsyncSession, actor: str, action: str, subject_type: str, subject_id: str | None, data: dict[str, Any]
) -> None:
    session.add(AuditEntry(actor=actor, action=action, subject_type=subject_type, subject_id=subject_id, data=data))


def lead_event(session: AsyncSession, lead_id: uuid.UUID, name: str, data: dict[str, Any] | None = None) -> None:
    session.add(LeadEvent(lead_id=lead_id, name=name, data=data or {}))


async def lead_events(session: AsyncSession, lead_id: uuid.UUID) -> list[LeadEvent]:
    rows = await session.scalars(
        select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.created_at, LeadEvent.id)
    )
    return list(rows)


async def recent(session: AsyncSession, limit: int) -> list[AuditEntry]:
    rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.created_at.desc()).limit(limit))
    return list(rows)

"""Audit entries and lead events are written in the same transaction as the change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit.schemas import AuditFilters
from leadgen.models import AuditEntry, LeadEvent

# An entry's place in the log's order: newest first, the id deciding between entries of one instant.
Position = tuple[datetime, uuid.UUID]


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


async def position(session: AsyncSession, entry_id: uuid.UUID) -> Position | None:
    """Where the entry stands in the log's order; None when there is no such entry."""
    query = select(AuditEntry.created_at, AuditEntry.id).where(AuditEntry.id == entry_id)
    found = (await session.execute(query)).first()
    return None if found is None else (found.created_at, found.id)


async def listing(
    session: AsyncSession, filters: AuditFilters, limit: int, before: Position | None = None
) -> list[AuditEntry]:
    """Up to ``limit`` entries that pass ``filters``, newest first, older than ``before`` when given.

    The row comparison after (created_at, id) is a range of the index of each filter (see the
    model), so a page deep in the log costs what the first one does."""
    exact = [
        (AuditEntry.actor, filters.actor),
        (AuditEntry.action, filters.action),
        (AuditEntry.subject_type, filters.subject_type),
        (AuditEntry.subject_id, filters.subject_id),
    ]
    query = select(AuditEntry).where(*(column == value for column, value in exact if value is not None))
    if filters.since is not None:
        query = query.where(AuditEntry.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEntry.created_at < filters.until)
    if before is not None:
        query = query.where(tuple_(AuditEntry.created_at, AuditEntry.id) < before)
    query = query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)
    return list(await session.scalars(query))

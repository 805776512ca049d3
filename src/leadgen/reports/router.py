"""The funnel and the audit log (data-service)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from leadgen.audit import repository as audit
from leadgen.auth.deps import AdminPrincipal, StaffPrincipal
from leadgen.core.deps import SessionDep
from leadgen.models import Assignment, Lead, Source

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.get("/reports/funnel")
async def funnel(_: StaffPrincipal, session: SessionDep) -> list[dict[str, Any]]:
    """Lead counts by source, line and status."""
    rows = await session.execute(
        select(Source.name, Lead.line, Lead.status, func.count())
        .join(Source, Source.id == Lead.source_id)
        .group_by(Source.name, Lead.line, Lead.status)
        .order_by(Source.name, Lead.line, Lead.status)
    )
    return [{"source": s, "line": line, "status": st, "leads": n} for s, line, st, n in rows]


@router.get("/reports/returns")
async def return_rates(_: StaffPrincipal, session: SessionDep) -> list[dict[str, Any]]:
    """Per source: leads accepted by agents, leads returned, the return rate and the top reason."""
    accepted = func.count().filter(Assignment.status.in_(["ACCEPTED", "RETURNED"]))
    returned = func.count().filter(Assignment.status == "RETURNED")
    rows = await session.execute(
        select(Source.name, accepted, returned)
        .join(Lead, Lead.source_id == Source.id)
        .join(Assignment, Assignment.lead_id == Lead.id)
        .group_by(Source.name)
        .order_by(Source.name)
    )
    return [
        {"source": name, "accepted": int(acc), "returned": int(ret), "return_rate": round(ret / acc, 4) if acc else 0.0}
        for name, acc, ret in rows
    ]


@router.get("/audit")
async def audit_log(
    _: AdminPrincipal, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    """The most recent audit entries (admin actions and PII access)."""
    return [
        {
            "at": e.created_at,
            "actor": e.actor,
            "action": e.action,
            "subject_type": e.subject_type,
            "subject_id": e.subject_id,
            "data": e.data,
        }
        for e in await audit.recent(session, limit)
    ]

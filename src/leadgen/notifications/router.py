"""Sent notifications and admin jobs (backend)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from leadgen.audit import repository as audit
from leadgen.auth.deps import AdminPrincipal, StaffPrincipal
from leadgen.core.deps import ResourcesDep, SessionDep
from leadgen.core.logging import redact
from leadgen.models import Notification

router = APIRouter(prefix="/api/v1", tags=["notifications"])
JOBS = {"outbox-relay": "outbox.relay", "expire-offers": "routing.expire_offers"}


@router.get("/notifications")
async def list_notifications(
    _: StaffPrincipal, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    """Recent notifications, whether they were sent, and why not (``detail``)."""
    rows = await session.scalars(select(Notification).order_by(Notification.created_at.desc()).limit(limit))
    return [
        {
            "id": n.id,
            "channel": n.channel,
            "template": n.template,
            "status": n.status,
            "agent_id": n.agent_id,
            "lead_id": n.lead_id,
            "sent_at": n.sent_at,
            # Written today as a rule's reason, a server's codes or an error's class; one written by
            # an earlier release may quote the address or number a server refused: masked.
            "detail": redact(n.detail) if n.detail else None,
        }
        for n in rows
    ]


@router.post("/jobs/{job}", status_code=status.HTTP_202_ACCEPTED)
async def run_job(
    job: Literal["outbox-relay", "expire-offers"],
    principal: AdminPrincipal,
    resources: ResourcesDep,
    session: SessionDep,
) -> dict[str, str]:
    """Run a periodic job now instead of waiting for the scheduler."""
    await audit.record(session, principal.label(), "job.triggered", "job", job, {})
    await resources.dispatch(JOBS[job])
    return {"job": job, "status": "queued"}

"""Sent notifications and admin jobs (backend)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from leadgen.audit import repository as audit
from leadgen.auth.deps import AdminPrincipal, StaffPrincipal
from leadgen.core.deps import ResourcesDep, SessionDep
from leadgen.core.errors import InvalidInput
from leadgen.core.http import newest_first_page_answers, next_page
from leadgen.core.logging import redact
from leadgen.models import Notification
from leadgen.notifications import repository
from leadgen.notifications.repository import NotificationStatus

router = APIRouter(prefix="/api/v1", tags=["notifications"])
JOBS = {"outbox-relay": "outbox.relay", "expire-offers": "routing.expire_offers"}


class NotificationPageQuery(BaseModel):
    """A page of the messages, newest first, of the agent, the lead and the status when given."""

    limit: int = Field(100, ge=1, le=500, description="The most messages in the answer.")
    before: uuid.UUID | None = Field(
        None,
        description="The next page: only messages older than this one (the `id` of the last message of the "
        "page before; the answer's `Link` header names the next page).",
    )
    agent_id: uuid.UUID | None = Field(None, description="Messages to this agent.")
    lead_id: uuid.UUID | None = Field(None, description="Messages about this lead (to its agents and its person).")
    status: NotificationStatus | None = None


@router.get("/notifications", responses=newest_first_page_answers("messages"))
async def list_notifications(
    _: StaffPrincipal,
    session: SessionDep,
    query: Annotated[NotificationPageQuery, Query()],
    request: Request,
    response: Response,
) -> list[dict[str, Any]]:
    """Messages, newest first, ``limit`` at a time: whether they were sent, and why not (``detail``).
    The next page is ``before`` the ``id`` of the last message, with the same filters: the ``Link``
    header names it while there are more."""
    before = None if query.before is None else await repository.position(session, query.before)
    if query.before is not None and before is None:
        raise InvalidInput("before names no message", [{"field": "query.before", "reason": "names no message"}])
    # One message more than the page says whether another page follows.
    rows = await repository.listing(
        session, query.limit + 1, before, agent_id=query.agent_id, lead_id=query.lead_id, status=query.status
    )
    return [_public(n) for n in next_page(request, response, rows, query.limit)]


def _public(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "created_at": n.created_at,
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

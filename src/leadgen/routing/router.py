"""An agent's inbox: offered leads, accept and reject."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from leadgen.auth.deps import CurrentPrincipal
from leadgen.compliance import repository as dnc
from leadgen.compliance.rules import contact_states
from leadgen.core.deps import SessionDep
from leadgen.core.errors import Forbidden
from leadgen.core.input import RequestBody
from leadgen.routing import repository, service

router = APIRouter(prefix="/api/v1/assignments", tags=["assignments"])
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such offer, or not yours (staff answer no agent's offers)"},
    409: {"description": "Not pending any more, or the person asked not to be contacted"},
}


class InboxItem(BaseModel):
    assignment_id: uuid.UUID
    lead_id: uuid.UUID
    status: str
    line: str
    state: str
    score: int | None
    expires_at: str
    lead_status: str
    outcome: str | None = Field(
        None,
        description="What the agent recorded last on the lead: their own progress (the other agents of a "
        "shared lead have theirs).",
    )
    first_name: str | None = None
    phone: str | None = None
    do_not_contact: bool = False  # the person opted out or was erased: nobody may contact them
    contact_states: list[str] = Field(
        default_factory=list, description="States whose calling hours hold for the person (address, area code)."
    )


class Rejection(RequestBody):
    reason: str = Field(min_length=3, max_length=255)


class AssignmentResult(BaseModel):
    assignment_id: uuid.UUID
    status: str


@router.get("")
async def inbox(
    principal: CurrentPrincipal, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[InboxItem]:
    """The signed-in agent's offers, newest first. Contact details appear once an offer is accepted."""
    if principal.agent_id is None:
        raise Forbidden("only agents have an inbox")
    offers = await repository.inbox(session, principal.agent_id, limit)
    barred_flags = await dnc.barred_among(session, [lead for _, lead in offers])
    items = []
    for (a, lead), barred in zip(offers, barred_flags, strict=True):
        accepted = a.status == "ACCEPTED"
        items.append(
            InboxItem(
                assignment_id=a.id,
                lead_id=lead.id,
                status=a.status,
                line=lead.line,
                state=lead.state,
                score=lead.score,
                expires_at=a.expires_at.isoformat(),
                lead_status=lead.status,
                outcome=a.outcome,
                first_name=lead.first_name if accepted else None,
                phone=lead.phone if accepted and not barred else None,
                do_not_contact=barred,
                contact_states=contact_states(lead.state, lead.phone),
            )
        )
    return items


@router.post("/{assignment_id}/accept", responses=_PROBLEMS)
async def accept(assignment_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> AssignmentResult:
    """Accept an offered lead before its deadline."""
    a = await service.accept(session, principal, assignment_id)
    return AssignmentResult(assignment_id=a.id, status=a.status)


@router.post("/{assignment_id}/reject", responses=_PROBLEMS)
async def reject(
    assignment_id: uuid.UUID,
    body: Annotated[Rejection, Body()],
    principal: CurrentPrincipal,
    session: SessionDep,
) -> AssignmentResult:
    """Decline an offered lead; it moves to the next eligible agent."""
    a = await service.reject(session, principal, assignment_id, body.reason)
    return AssignmentResult(assignment_id=a.id, status=a.status)

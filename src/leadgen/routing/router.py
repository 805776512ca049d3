"""An agent's inbox: offered leads, accept and reject."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth.deps import CurrentPrincipal
from leadgen.compliance import repository as dnc
from leadgen.compliance.rules import contact_states
from leadgen.core.deps import SessionDep
from leadgen.core.errors import Forbidden, NotFound, problem
from leadgen.core.input import RequestBody
from leadgen.leads.lifecycle import OPEN_ASSIGNMENT, AssignmentStatus
from leadgen.leads.visibility import AGENT_READS_WITH, CONTACT_DETAILS_VIEWED
from leadgen.models import Assignment, Lead
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
    current: bool = Field(
        description="Pending, or accepted and still being worked by the agent (not converted or lost yet): "
        "listed on the first page whatever its age. Else a past offer, paged."
    )
    line: str
    state: str
    score: int | None
    expires_at: str
    lead_status: str | None = Field(
        description="The lead's status while the agent may read the lead (the offer pending, accepted or "
        "returned); none once they declined it, or it timed out or was withdrawn: what became of it since is "
        "another agent's business."
    )
    outcome: str | None = Field(
        None,
        description="What the agent recorded last on the lead: their own progress (the other agents of a "
        "shared lead have theirs).",
    )
    first_name: str | None = None
    phone: str | None = None
    phone_extension: str | None = Field(
        None, description="The extension to ask for at ``phone`` (digits), shown with it; none when not given."
    )
    do_not_contact: bool = False  # the person opted out or was erased: nobody may contact them
    contact_states: list[str] = Field(
        default_factory=list, description="States whose calling hours hold for the person (address, area code)."
    )


class Rejection(RequestBody):
    reason: str = Field(min_length=3, max_length=255)


class AssignmentResult(BaseModel):
    assignment_id: uuid.UUID
    status: str


_PAGE_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "``before`` names no offer of yours"},
}


@router.get("", responses=_PAGE_NOT_FOUND)
async def inbox(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=200,
            description="The most past offers (declined, timed out, withdrawn, returned, converted or lost) "
            "in the answer. Current ones are never cut off.",
        ),
    ] = 50,
    before: Annotated[
        uuid.UUID | None,
        Query(
            description="The next page of past offers: only those older than this offer of yours (the "
            "``assignment_id`` of the last one of the page before), and no current ones.",
        ),
    ] = None,
) -> list[InboxItem]:
    """The signed-in agent's inbox. First its current offers (``current``): every one it has not
    answered yet and every lead it accepted and is still working, however old; then up to ``limit``
    past ones. Each part is newest first. A page holding ``limit`` past offers may have more after
    it: ask again with ``before``.

    Contact details appear once an offer is accepted, and an answer showing any is recorded in the
    audit log (``inbox.contact_details_viewed``, naming the leads)."""
    if principal.agent_id is None:
        raise Forbidden("only agents have an inbox")
    items = await _inbox_items(session, await _inbox_offers(session, principal.agent_id, limit, before))
    shown = [str(item.lead_id) for item in items if item.first_name is not None or item.phone is not None]
    if shown:
        # One entry per answer, not per lead: the dashboard reads the inbox on every visit.
        data = {"lead_ids": shown}
        await audit.record(session, principal.label(), CONTACT_DETAILS_VIEWED, "agent", str(principal.agent_id), data)
    return items


async def _inbox_offers(
    session: AsyncSession, agent_id: uuid.UUID, limit: int, before: uuid.UUID | None
) -> list[tuple[Assignment, Lead]]:
    """The first page: the current offers, then the newest past ones; a later page: past offers
    older than ``before``."""
    if before is None:
        current = await repository.current_offers(session, agent_id)
        return current + await repository.past_offers(session, agent_id, limit)
    position = await repository.inbox_position(session, agent_id, before)
    if position is None:
        raise NotFound(f"offer {before} not found in your inbox")
    return await repository.past_offers(session, agent_id, limit, position)


async def _inbox_items(session: AsyncSession, offers: list[tuple[Assignment, Lead]]) -> list[InboxItem]:
    """The offers as the agent sees them: the person's name and phone number (with its extension)
    once accepted (not the phone number of a person nobody may contact)."""
    barred_flags = await dnc.barred_among(session, [lead for _, lead in offers])
    items = []
    for (a, lead), barred in zip(offers, barred_flags, strict=True):
        accepted = a.status == AssignmentStatus.ACCEPTED
        items.append(
            InboxItem(
                assignment_id=a.id,
                lead_id=lead.id,
                status=a.status,
                current=a.status in OPEN_ASSIGNMENT and a.closed_at is None,  # as repository.current_offers
                line=lead.line,
                state=lead.state,
                score=lead.score,
                expires_at=a.expires_at.isoformat(),
                lead_status=lead.status if a.status in AGENT_READS_WITH else None,
                outcome=a.outcome,
                first_name=lead.first_name if accepted else None,
                phone=lead.phone if accepted and not barred else None,
                phone_extension=lead.phone_extension if accepted and not barred else None,
                do_not_contact=barred,
                contact_states=contact_states(lead.state, lead.phone),
            )
        )
    return items


_ACCEPT_PROBLEMS = _PROBLEMS | {
    409: {
        "description": "Not pending any more, or the person asked not to be contacted; or you may no longer "
        "take the lead (deactivated, or your licence for its state and line no longer holds): the offer is "
        "then withdrawn and the lead goes on to other agents"
    },
}


@router.post("/{assignment_id}/accept", response_model=AssignmentResult, responses=_ACCEPT_PROBLEMS)
async def accept(
    assignment_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> AssignmentResult | JSONResponse:
    """Accept an offered lead before its deadline."""
    try:
        a = await service.accept(session, principal, assignment_id)
    except service.OfferWithdrawn as withdrawn:
        # Answered rather than raised: the request's transaction then commits the withdrawal.
        return problem(409, "Conflict", withdrawn.detail)
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

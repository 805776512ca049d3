"""Lead intake for sources (API key), the public quote form, and reading leads."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query, Response, status
from pydantic import BaseModel, Field

from leadgen.auth import service as auth_service
from leadgen.auth.deps import (
    ApiKey,
    BearerToken,
    CurrentPrincipal,
    FrontendVouchedAddress,
    IntakeSource,
    StaffPrincipal,
)
from leadgen.auth.service import SourceRef
from leadgen.core.deps import ResourcesDep, SessionDep, SettingsDep
from leadgen.core.errors import RateLimited, Unauthorized
from leadgen.core.input import RequestBody
from leadgen.core.security import counted_address
from leadgen.leads import outcomes, repository, service
from leadgen.leads.lifecycle import LeadStatus
from leadgen.leads.schemas import LeadAccepted, LeadCreate, LeadForSource, LeadPublic, LeadSummary, QuoteRequestCreate
from leadgen.routing import service as routing
from leadgen.sources.repository import WEB_FORM_SOURCE, ensure_source
from leadgen.sources.rules import SourceKind

router = APIRouter(prefix="/api/v1", tags=["leads"])
# Past the dashboard's last page (10,000 pages of 50) and within every database's integers: SQLite
# cannot bind an offset over 64 bits, and would answer it with a 500.
LEADS_OFFSET_MAX = 1_000_000
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong credentials"},
    413: {"description": "Body too large"},
    422: {"description": "Field errors, as problem details"},
    429: {"description": "Too many requests; Retry-After says in how many seconds to send again"},
}


_REPEAT: dict[int | str, dict[str, Any]] = {
    200: {
        "model": LeadAccepted,
        "description": "The source sent this external_id before: nothing was stored, and the answer is "
        "the lead stored the first time, with its current status",
    },
    202: {"description": "Stored; processing continues in the background"},
    409: {
        "description": "The source sent this external_id before for another person (no phone number or "
        "e-mail address in common): nothing was stored; send the lead with an id of its own"
    },
}


@router.post("/leads", status_code=status.HTTP_202_ACCEPTED, responses={**_REPEAT, **_PROBLEMS})
async def post_lead(
    lead: Annotated[LeadCreate, Body()],
    source: IntakeSource,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> LeadAccepted:
    """Submit a lead. It is stored durably before this answers (202); processing continues in the
    background. Sending a lead again with the same `external_id` (a retry after a timeout) is safe:
    it stores nothing and answers 200 with the lead stored the first time. An `external_id` sent
    before for another person is refused (409); a blank one is no id."""
    received = await service.receive(session, settings, source, lead)
    if received.repeat:
        response.status_code = status.HTTP_200_OK
    return _accepted(received)


_FROM_THE_FRONTEND: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Not sent by the dashboard's quote form: the frontend names the browser's address "
        "in headers signed with the session secret. Nothing was counted or stored; lead vendors post to "
        "/api/v1/leads with their API key"
    },
}
_FORM_SENT_AGAIN: dict[int | str, dict[str, Any]] = {
    200: {
        "model": LeadAccepted,
        "description": "The form with this Idempotency-Key was sent before with the same answers (a double "
        "click, a resend, a retry): nothing was stored, and the answer is the lead stored the first time",
    },
    202: {"description": "Stored; processing continues in the background"},
    409: {
        "description": "The form with this Idempotency-Key was sent before with other answers: nothing was "
        "stored or changed; a new request needs a new form (a new key)"
    },
}
# The frontend's key for one rendered quote form (``frontend.quote.submission_key``): hex or URL-safe.
FORM_KEY_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


@router.post(
    "/quote-requests",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_FORM_SENT_AGAIN, **_FROM_THE_FRONTEND, **_PROBLEMS},
)
async def post_quote_request(
    quote_request: Annotated[QuoteRequestCreate, Body()],
    ip: FrontendVouchedAddress,
    session: SessionDep,
    settings: SettingsDep,
    resources: ResourcesDep,
    response: Response,
    form_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=FORM_KEY_PATTERN,
            description="The frontend's key for the rendered form this request was filled in on (16 to 64 "
            "letters, digits, - or _). Kept with the lead: the same form sent again answers with that lead.",
        ),
    ] = None,
) -> LeadAccepted:
    """The public quote form's submission, sent by the dashboard's frontend (which checks the form's
    CSRF token and trap input) with the browser's address in signed headers: what the person entered
    and `consent: true` for their agreement to the form's consent text. Any other caller is refused
    (403); lead vendors post to `/api/v1/leads`. Limited per browser address (an IPv6 address by its
    /64). The api records the consent itself (its text, the time, the browser's address, the quote
    page). With an `Idempotency-Key`, the same form sent again (same key, same answers) stores nothing
    and answers 200 with the lead stored the first time; the key with other answers is refused (409)."""
    limit = settings.intake.public_rate_limit
    # Fails open while Redis does not answer: the form stores the lead in the database alone, and a
    # person asking for a quote is worth more than the per-address limit against scripted spam.
    limiter = resources.limiter
    wait = await limiter.wait_after_hit_failing_open(limit, "quote", counted_address(ip)) if limiter else 0
    if wait:
        raise RateLimited("too many quote requests from this address; try again later", retry_after=wait)
    source = await ensure_source(session, WEB_FORM_SOURCE, SourceKind.WEB)
    received = await service.receive_quote_request(
        session, settings, SourceRef(source.id, source.name), quote_request, ip, form_key
    )
    if received.repeat:
        response.status_code = status.HTTP_200_OK
    return _accepted(received)


def _accepted(received: service.Received) -> LeadAccepted:
    lead = received.lead
    return LeadAccepted(id=lead.id, status=lead.status, received_at=lead.received_at)


@router.get("/leads/{lead_id}", responses={404: {"description": "No such lead, or not yours"}, **_PROBLEMS})
async def get_lead(
    lead_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    token: BearerToken,
    key: ApiKey,
) -> LeadPublic | LeadForSource:
    """A lead as its reader may see it: for its source, how it fared (status, reason, score); for
    staff, everything (score factors, offers and why, history); for an agent working it, their own
    offer and the lead's history without the other agents'."""
    if key:
        return await service.lead_for_source(session, lead_id, await auth_service.source_for_key(session, key))
    if token:
        principal = await auth_service.signed_in_principal(session, settings, token)
        return await service.visible_lead(session, settings, lead_id, principal)
    raise Unauthorized("send the source's X-API-Key or a user's bearer token")


@router.get("/leads", responses=_PROBLEMS)
async def list_leads(
    principal: CurrentPrincipal,
    session: SessionDep,
    lead_status: Annotated[LeadStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=LEADS_OFFSET_MAX)] = 0,
) -> list[LeadSummary]:
    """Leads, newest first: all of them for staff, an agent's own for agents."""
    agent_filter = None if principal.sees_everything else (principal.agent_id or uuid.UUID(int=0))
    rows = await repository.listing(session, agent_filter, lead_status, limit, offset)
    return [
        LeadSummary(
            id=r.id,
            line=r.line,
            state=r.state,
            status=r.status,
            score=r.score,
            received_at=r.received_at,
            campaign=r.campaign,
        )
        for r in rows
    ]


class OutcomeIn(RequestBody):
    status: Literal["CONTACTED", "QUOTED", "CONVERTED", "LOST"]
    note: str | None = Field(None, max_length=1000)


class ReturnIn(RequestBody):
    reason: Literal["wrong_number", "duplicate", "not_interested_never_requested", "out_of_area", "fraud", "other"]
    detail: str | None = Field(None, max_length=1000)


class LeadState(BaseModel):
    id: uuid.UUID
    status: str


@router.post(
    "/leads/{lead_id}/outcome",
    responses={
        404: {"description": "Not a lead of yours"},
        409: {"description": "Not allowed from the current status, not yet accepted, or returned"},
    },
)
async def record_outcome(
    lead_id: uuid.UUID, body: Annotated[OutcomeIn, Body()], principal: CurrentPrincipal, session: SessionDep
) -> LeadState:
    """Record what happened with an accepted lead: contacted, quoted, converted or lost."""
    lead = await outcomes.record_outcome(session, principal, lead_id, LeadStatus(body.status), body.note)
    return LeadState(id=lead.id, status=lead.status)


@router.post(
    "/leads/{lead_id}/return",
    responses={
        404: {"description": "Not a lead of yours"},
        409: {"description": "Window passed, not returnable, not yet accepted, or already returned"},
    },
)
async def return_lead(
    lead_id: uuid.UUID,
    body: Annotated[ReturnIn, Body()],
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
) -> LeadState:
    """Return a bad lead to its source, with a reason, inside the return window."""
    lead = await outcomes.return_lead(session, settings, principal, lead_id, body.reason, body.detail)
    return LeadState(id=lead.id, status=lead.status)


class ReopenIn(RequestBody):
    note: str | None = Field(None, max_length=1000, description="Why, for the lead's history and the audit log.")


@router.post(
    "/leads/{lead_id}/reopen",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        403: {"description": "Only admins and managers reopen leads"},
        404: {"description": "No such lead"},
        409: {"description": "Not UNASSIGNED, erased, or on the do-not-contact list"},
    },
)
async def reopen_lead(
    lead_id: uuid.UUID, body: Annotated[ReopenIn, Body()], principal: StaffPrincipal, session: SessionDep
) -> LeadState:
    """Put an UNASSIGNED lead back into routing, for example after agents were added or licensed.

    The campaign's attempts start again; agents it was offered to before are not offered it twice.
    It answers at once with the lead SCORED; the orchestrator's round follows in the background."""
    lead = await routing.reopen(session, principal, lead_id, body.note)
    return LeadState(id=lead.id, status=lead.status)

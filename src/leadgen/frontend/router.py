"""The dashboard's work on leads: the agent's inbox, the leads and a lead's page, the funnel and
performance reports, and search. Its ``router``, which the frontend target mounts, carries the other
page modules' routers too."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import MAXYEAR, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadgen.compliance.rules import contact_hours, next_opening
from leadgen.frontend import account_pages, public_pages, staff_admin
from leadgen.frontend.client import ApiError, FieldError, InboxItem, LeadDetail, SimilarLead
from leadgen.frontend.deps import Agent, MaybeViewer, PeersDep, SessionForm, SettingsDep, Staff, Viewer, form_text
from leadgen.frontend.pages import NOTICES, home_path, render, safe_next, sentence
from leadgen.frontend.session import WebSession
from leadgen.leads.geography import timezone_for_state, timezones_for_state
from leadgen.leads.lifecycle import (
    OPEN_LEAD_STATUSES,
    RETURN_REASONS,
    AssignmentStatus,
    LeadStatus,
    may_return,
    next_outcomes,
    taker_progress,
)
from leadgen.leads.visibility import AGENT_READS_WITH
from leadgen.models.base import utcnow
from leadgen.reports.rules import GROUPINGS

router = APIRouter(include_in_schema=False)
# The other pages. No address matches a path of two of these routers, so their order changes nothing.
router.include_router(account_pages.router)
router.include_router(staff_admin.router)
router.include_router(public_pages.router)

PAGE_SIZE = 50
# Past offers per inbox page: the agent's current ones come first, all of them.
HISTORY_PAGE_SIZE = 20


@router.get("/")
async def home(viewer: MaybeViewer) -> RedirectResponse:
    return RedirectResponse(home_path(viewer) if viewer else "/login", status_code=303)


# --- the agent's inbox ---------------------------------------------------------------------


async def _inbox(
    request: Request,
    viewer: WebSession,
    peers: PeersDep,
    status: int = 200,
    problems: dict[str, str] | None = None,
    reasons: dict[str, str] | None = None,
    notice: str | None = None,
    before: uuid.UUID | None = None,
) -> HTMLResponse:
    """The agent's current offers and the newest past ones; with ``before``, a page of the past
    offers older than that one."""
    # One more than shown: whether there is an older page to link to.
    items = await peers.inbox(viewer.token, HISTORY_PAGE_SIZE + 1, str(before) if before else None)
    current = [item for item in items if _is_current(item)]
    past = [item for item in items if not _is_current(item)]
    by_states = {states: _calling_hours(list(states)) for states in {_states(item) for item in current}}
    context = {
        "current": current,
        "past": past[:HISTORY_PAGE_SIZE],
        "older": past[HISTORY_PAGE_SIZE - 1].assignment_id if len(past) > HISTORY_PAGE_SIZE else None,
        "paging": before is not None,
        "calling": {item.assignment_id: by_states[_states(item)] for item in current},
        # A declined, timed-out or withdrawn offer's lead is no longer the agent's to read.
        "readable": AGENT_READS_WITH,
        "problems": problems or {},
        "reasons": reasons or {},
        "notice": NOTICES.get(notice or ""),
    }
    return render(request, "inbox.html", context, status)


def _is_current(item: InboxItem) -> bool:
    """Whether the api lists the offer among the current ones, always on the inbox's first page:
    as it says, so that the pages split where its paging does; from an api of the release before,
    as it would (``_may_call_soon``)."""
    return item.current if item.current is not None else _may_call_soon(item)


def _may_call_soon(item: InboxItem) -> bool:
    """An offer the agent may take, or a lead the agent took and is still working (by their own
    progress: another agent of a shared lead may have converted or lost it)."""
    working = (
        item.status == AssignmentStatus.ACCEPTED and taker_progress(item.status, item.outcome) in OPEN_LEAD_STATUSES
    )
    return item.status == AssignmentStatus.PENDING or working


@router.get("/inbox")
async def inbox(
    request: Request, viewer: Agent, peers: PeersDep, notice: str | None = None, before: uuid.UUID | None = None
) -> HTMLResponse:
    return await _inbox(request, viewer, peers, notice=notice, before=before)


@router.post("/inbox/{assignment_id}/accept")
async def accept(
    request: Request, assignment_id: uuid.UUID, viewer: Agent, form: SessionForm, peers: PeersDep
) -> Response:
    try:
        await peers.accept(viewer.token, str(assignment_id))
    except ApiError as exc:
        if exc.status not in (404, 409, 422):
            raise
        return await _inbox(request, viewer, peers, exc.status, {str(assignment_id): exc.detail})
    back = safe_next(form_text(form, "next")) or "/inbox"
    joiner = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{joiner}notice=accepted", status_code=303)


@router.post("/inbox/{assignment_id}/reject")
async def reject(
    request: Request, assignment_id: uuid.UUID, viewer: Agent, form: SessionForm, peers: PeersDep
) -> Response:
    reason = form_text(form, "reason")
    try:
        await peers.reject(viewer.token, str(assignment_id), reason)
    except ApiError as exc:
        if exc.status not in (404, 409, 422):
            raise
        key = str(assignment_id)
        reasons = {key: _reason_error(exc.errors) or exc.detail} if exc.status == 422 else {}
        problems = {} if reasons else {key: exc.detail}
        return await _inbox(request, viewer, peers, exc.status, problems, reasons)
    return RedirectResponse("/inbox?notice=rejected", status_code=303)


def _reason_error(errors: list[FieldError]) -> str | None:
    return next((e.reason for e in errors if e.field.endswith("reason")), None)


# --- leads, the funnel and performance -----------------------------------------------------


@router.get("/leads")
async def leads(
    request: Request,
    viewer: Staff,
    peers: PeersDep,
    status: str | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    chosen = status if status in LeadStatus.__members__ else None
    rows = await peers.leads(viewer.token, chosen, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    context = {
        "rows": rows,
        "status": chosen,
        "statuses": list(LeadStatus),
        "page": page,
        "has_next": len(rows) == PAGE_SIZE,
    }
    return render(request, "leads.html", context)


async def _lead_page(
    request: Request,
    lead_id: uuid.UUID,
    viewer: WebSession,
    peers: PeersDep,
    status: int = 200,
    problem: str | None = None,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    """The lead's page; ``errors`` and ``typed``: what the api refused of a form's fields and what
    was typed in them, by the input's id (``outcome-note``)."""
    lead = await peers.lead(viewer.token, str(lead_id))
    offer = lead.assignment
    mine = offer is not None and offer.agent_id == viewer.agent_id
    working = mine and offer is not None and offer.status == AssignmentStatus.ACCEPTED
    offered = mine and offer is not None and offer.status == AssignmentStatus.PENDING
    # The agent's own progress decides what they may do next (each agent of a shared lead has
    # theirs); staff, who hold no offer, see the lead's status.
    progress = taker_progress(offer.status, offer.outcome) if working and offer is not None else None
    may_call = offered or (progress is not None and progress in OPEN_LEAD_STATUSES)
    # Until when the offer's agent may still return the lead (none from an api of the release
    # before, which refuses a late return itself); the form goes once that has passed.
    returnable = offer is not None and may_return(offer.status, offer.outcome)
    return_by = offer.return_by if offer is not None and returnable else None
    returns_closed = return_by is not None and return_by <= utcnow()
    context = {
        "lead": lead,
        "mine": mine,
        "progress": progress,
        "outcomes": next_outcomes(progress) if progress else [],
        "return_reasons": RETURN_REASONS if working and returnable and not returns_closed else (),
        "return_by": return_by,
        "returns_closed": returns_closed,
        "calling": _calling_hours(list(_states(lead))) if may_call else None,
        "may_opt_out": (working or viewer.is_staff) and not lead.do_not_contact,
        "problem": problem,
        "errors": errors or {},
        "typed": typed or {},
        "notice": NOTICES.get(notice or ""),
    }
    return render(request, "lead.html", context, status)


def _states(lead: InboxItem | LeadDetail) -> tuple[str, ...]:
    """The states whose calling hours hold for the person, as the api gives them."""
    return tuple(lead.contact_states or [lead.state])


def _calling_hours(states: list[str]) -> dict[str, Any]:
    """The person's calling hours for the agent offered or working a lead: open now, or from when
    (in UTC and in the main time zone of the address's state), and each state's hours, with the
    legal holiday that closes it today, if one does (in the state's main time zone)."""
    now = utcnow()
    opens_at = next_opening(states, now)
    rules = []
    for state in states:
        hours = contact_hours(state)
        today = now.astimezone(ZoneInfo(timezone_for_state(state))).date()
        rules.append((state, hours.describe(), len(timezones_for_state(state)), hours.holiday(today)))
    return {
        "open": opens_at == now,
        "opens_at": opens_at,
        "opens_local": opens_at.astimezone(ZoneInfo(timezone_for_state(states[0]))).strftime("%a %H:%M %Z"),
        "rules": rules,
    }


async def _lead_action(
    request: Request,
    lead_id: uuid.UUID,
    viewer: WebSession,
    peers: PeersDep,
    action: Awaitable[object],
    notice: str,
    form: str = "",
    sent: dict[str, str] | None = None,
) -> Response:
    """Post a change of the lead to the api; back to the lead's page, with the api's refusal if any.
    ``sent``: what the page's form ``form`` sent, by field; a field the api refuses is shown at its
    input (``outcome-note``), with what was typed."""
    sent = sent or {}
    try:
        await action
    except ApiError as exc:
        if exc.status not in (404, 409, 422):
            raise
        errors = {f"{form}-{e.field}": e.reason for e in exc.errors if e.field in sent}
        typed = {f"{form}-{name}": value for name, value in sent.items()}
        problem = None if errors else exc.detail
        return await _lead_page(request, lead_id, viewer, peers, exc.status, problem, errors=errors, typed=typed)
    return RedirectResponse(f"/leads/{lead_id}?notice={notice}", status_code=303)


@router.get("/leads/{lead_id}")
async def lead_detail(
    request: Request, lead_id: uuid.UUID, viewer: Viewer, peers: PeersDep, notice: str | None = None
) -> HTMLResponse:
    return await _lead_page(request, lead_id, viewer, peers, notice=notice)


@router.post("/leads/{lead_id}/reopen")
async def reopen(request: Request, lead_id: uuid.UUID, viewer: Staff, form: SessionForm, peers: PeersDep) -> Response:
    """Staff offer an UNASSIGNED lead again (the API checks it still may be)."""
    sent = {"note": form_text(form, "note")}
    action = peers.reopen(viewer.token, str(lead_id), sent["note"] or None)
    return await _lead_action(request, lead_id, viewer, peers, action, "reopened", "reopen", sent)


@router.post("/leads/{lead_id}/opt-out")
async def opt_out_lead(
    request: Request, lead_id: uuid.UUID, viewer: Viewer, form: SessionForm, peers: PeersDep
) -> Response:
    """The person asked the agent working the lead, or staff, not to be contacted again."""
    action = peers.opt_out_lead(viewer.token, str(lead_id))
    return await _lead_action(request, lead_id, viewer, peers, action, "opted-out")


@router.post("/leads/{lead_id}/outcome")
async def record_outcome(
    request: Request, lead_id: uuid.UUID, viewer: Agent, form: SessionForm, peers: PeersDep
) -> Response:
    """The agent holding the lead records what happened: contacted, quoted, converted or lost."""
    sent = {name: form_text(form, name) for name in ("status", "note")}
    action = peers.record_outcome(viewer.token, str(lead_id), sent["status"], sent["note"] or None)
    return await _lead_action(request, lead_id, viewer, peers, action, "recorded", "outcome", sent)


@router.post("/leads/{lead_id}/return")
async def return_lead(
    request: Request, lead_id: uuid.UUID, viewer: Agent, form: SessionForm, peers: PeersDep
) -> Response:
    """The agent holding the lead returns it to its source, with a reason, inside the return window."""
    sent = {name: form_text(form, name) for name in ("reason", "detail")}
    action = peers.return_lead(viewer.token, str(lead_id), sent["reason"], sent["detail"] or None)
    return await _lead_action(request, lead_id, viewer, peers, action, "returned", "return", sent)


@router.get("/funnel")
async def funnel(request: Request, viewer: Staff, peers: PeersDep) -> HTMLResponse:
    rows = await peers.funnel(viewer.token)
    order = {s.value: i for i, s in enumerate(LeadStatus)}
    statuses = sorted({r.status for r in rows}, key=lambda s: order.get(s, len(order)))
    table: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        table.setdefault((r.source, r.line), {})[r.status] = r.leads
    context = {
        "statuses": statuses,
        "table": table,
        "totals": {s: sum(c.get(s, 0) for c in table.values()) for s in statuses},
    }
    return render(request, "funnel.html", context)


@router.get("/performance")
async def performance(
    request: Request,
    viewer: Staff,
    peers: PeersDep,
    settings: SettingsDep,
    by: str = "source",
    start: str = "",
    end: str = "",
) -> Response:
    """The performance report by source, campaign, line or agent, for the days from ``start`` to
    ``end`` (both included, in the agency's time zone; the last 30 days by default). The
    data-service judges the period; a period it refuses shows why, and the last 30 days instead."""
    chosen = {name: value for name, value in (("start", start), ("end", end)) if value}
    if by not in GROUPINGS:
        return RedirectResponse(f"/performance?{urlencode({'by': 'source'} | chosen)}", status_code=303)
    zone = ZoneInfo(settings.common.timezone)
    first, last = _day(start, zone), _day(end, zone)
    at_fault = [name for name, text, day in (("start", start, first), ("end", end, last)) if text and day is None]
    problem = f"Dates are written YYYY-MM-DD, before the year {MAXYEAR}." if at_fault else None
    report = None
    if not at_fault:
        try:
            report = await peers.performance(viewer.token, by, first, last + timedelta(days=1) if last else None)
        except ApiError as exc:
            if exc.status != 422:
                raise
            problem = sentence(exc.detail)
            at_fault = [_FORM_FIELDS[e.field] for e in exc.errors if e.field in _FORM_FIELDS]
    if report is None:
        report = await peers.performance(viewer.token, by)
    kept = {} if problem else chosen  # the dates the tabs carry over
    context = {
        "report": report,
        "tabs": {grouping: f"/performance?{urlencode({'by': grouping} | kept)}" for grouping in GROUPINGS},
        "start": start,
        "end": end,
        "timezone": settings.common.timezone,
        "problem": problem,
        "at_fault": at_fault,
    }
    return render(request, "performance.html", context, 422 if problem else 200)


_FORM_FIELDS = {"query.since": "start", "query.until": "end"}


def _day(text: str, zone: ZoneInfo) -> datetime | None:
    """Midnight in ``zone`` of a YYYY-MM-DD date before the last year a date can have (the day
    after it must exist), or None when it is not one. A day after it is the next midnight there,
    23 or 25 hours later across a change of clocks."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=zone)
    except ValueError:
        return None
    return day if day.year < MAXYEAR else None


# --- search --------------------------------------------------------------------------------

# As the orchestrator's search asks of its words.
MIN_SEARCH_CHARACTERS = 2


@router.get("/search")
async def search(
    request: Request, viewer: Staff, peers: PeersDep, q: str = "", line: str = "", state: str = "", outcome: str = ""
) -> HTMLResponse:
    """Leads like the words given (notes and attributes), from the lead embeddings."""
    params = {k: v for k, v in {"q": q.strip(), "line": line, "state": state, "outcome": outcome}.items() if v}
    results: list[SimilarLead] = []
    problems: list[str] = []
    if q and len(params.get("q", "")) < MIN_SEARCH_CHARACTERS:
        # Not searched: the orchestrator would refuse it.
        problems = [f"{_SEARCH_LABELS['q']}: type at least {MIN_SEARCH_CHARACTERS} characters"]
    elif q:
        try:
            results = await peers.search(viewer.token, params)
        except ApiError as exc:
            if exc.status != 422:
                raise
            # A state that is none, or a filter edited into the address: said above the form.
            problems = [_search_problem(e) for e in exc.errors] or [exc.detail]
    context = {"q": q, "line": line, "state": state, "outcome": outcome, "results": results, "problems": problems}
    return render(request, "search.html", context, 422 if problems else 200)


_SEARCH_LABELS = {"q": "Words", "line": "Line", "state": "State", "outcome": "Outcome", "limit": "Limit"}


def _search_problem(error: FieldError) -> str:
    name = error.field.rpartition(".")[2]
    return f"{_SEARCH_LABELS.get(name, name)}: {error.reason.removeprefix('Value error, ')}"

"""The dashboard's pages: sign-in, the agent inbox, leads, the funnel and performance reports, and
the public quote form."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from datetime import MAXYEAR, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from leadgen.auth.roles import MIN_PASSWORD_LENGTH
from leadgen.compliance.links import is_opt_out_token
from leadgen.compliance.rules import contact_hours, next_opening
from leadgen.core.settings import Settings
from leadgen.frontend import csrf, quote
from leadgen.frontend.client import (
    AgentView,
    ApiError,
    FieldError,
    InboxItem,
    LeadDetail,
    PeerUnavailableError,
    SignedIn,
    SimilarLead,
)
from leadgen.frontend.deps import (
    Agent,
    AnonymousForm,
    MaybeViewer,
    PeersDep,
    SessionForm,
    SettingsDep,
    Staff,
    Viewer,
)
from leadgen.frontend.pages import render, safe_next, settings_of
from leadgen.frontend.session import WebSession, clear_session, read_device_token, write_device_token, write_session
from leadgen.leads.geography import timezone_for_state, timezones_for_state
from leadgen.leads.lifecycle import (
    OPEN_LEAD_STATUSES,
    RETURN_REASONS,
    AssignmentStatus,
    LeadStatus,
    can_move,
    next_outcomes,
    taker_progress,
)
from leadgen.leads.visibility import AGENT_READS_WITH
from leadgen.models.base import utcnow
from leadgen.reports.rules import GROUPINGS

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
PAGE_SIZE = 50
# Past offers per inbox page: the agent's current ones come first, all of them.
HISTORY_PAGE_SIZE = 20
# Notices are chosen by key, never echoed from the address, so a link cannot put words on a page.
NOTICES = {
    "signed-out": "You are signed out.",
    "signed-out-here": "You are signed out of this browser, but the server could not be told, so your session "
    "may still be open on other devices. Sign in and out again in a few minutes.",
    "expired": "Your session has ended. Please sign in again.",
    "password-changed": "Password changed. You are signed out everywhere else; this browser stays signed in.",
    "accepted": "Lead accepted. The contact details are in your inbox.",
    "rejected": "Lead declined. It moves on to the next eligible agent.",
    "reopened": "Lead reopened. It is offered to the next eligible agent in a moment.",
    "recorded": "Outcome recorded.",
    "returned": "Lead returned. Its source is not billed for it.",
    "opted-out": "Recorded: nobody will contact this person again.",
    "agent-saved": "Agent saved.",
    "agent-unchanged": "Nothing to save: no field was changed.",
    "agent-deactivated": "Agent deactivated. Their offers not yet answered move on to other agents; "
    "the leads they accepted stay with them.",
    "agent-reactivated": "Agent reactivated. They can be offered leads again.",
}


def _home(viewer: WebSession) -> str:
    return "/leads" if viewer.is_staff else "/inbox"


def _anonymous_page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A page with a form bound to the anonymous cookie (issued, or renewed, with the page)."""
    settings = settings_of(request)
    nonce = csrf.anonymous_nonce(request, settings) or csrf.new_nonce()
    response = render(request, name, {**context, "csrf_token": csrf.token_for(settings, nonce)}, status)
    csrf.set_anonymous_cookie(response, request, settings, nonce)
    return response


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _multi(form: FormData) -> dict[str, list[str]]:
    """Every text value by name (file uploads, which no page asks for, are ignored)."""
    return {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}


@router.get("/")
async def home(viewer: MaybeViewer) -> RedirectResponse:
    return RedirectResponse(_home(viewer) if viewer else "/login", status_code=303)


# --- signing in and out ---------------------------------------------------------------------


@router.get("/login")
async def login_page(
    request: Request,
    viewer: MaybeViewer,
    notice: str | None = None,
    next_path: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    if viewer is not None:
        return RedirectResponse(_home(viewer), status_code=303)
    context = {"notice": NOTICES.get(notice or ""), "next": safe_next(next_path), "email": ""}
    return _anonymous_page(request, "login.html", context)


@router.post("/login")
async def login(request: Request, form: AnonymousForm, peers: PeersDep, settings: SettingsDep) -> Response:
    email, password = _field(form, "email"), form.get("password")
    target = safe_next(_field(form, "next"))
    context: dict[str, Any] = {"email": email, "next": target, "errors": {}}
    if not email or not isinstance(password, str) or not password:
        context["errors"] = {"email": ["Enter your e-mail address and password."]}
        return _anonymous_page(request, "login.html", context, 422)
    browser = request.client.host if request.client else None
    try:
        signed_in = await peers.sign_in(email, password, browser, read_device_token(request))
        me = await peers.me(signed_in.access_token)
    except ApiError as exc:
        if exc.status == 429:
            context["locked_out"] = exc.detail
            return _anonymous_page(request, "login.html", context, 429)
        if exc.status not in (401, 422):
            raise
        context["errors"] = {"email": ["Wrong e-mail address or password."]}
        return _anonymous_page(request, "login.html", context, 401)
    viewer = WebSession(signed_in.access_token, me.role, me.agent_id, csrf.new_nonce(), email)
    response = RedirectResponse(target or _home(viewer), status_code=303)
    write_session(response, request, settings, viewer)
    if signed_in.device_token:
        write_device_token(response, request, settings, signed_in.device_token)
    return response


@router.post("/logout")
async def logout(
    request: Request, viewer: Viewer, _: SessionForm, peers: PeersDep, settings: SettingsDep
) -> RedirectResponse:
    """End the session at the api, so that a copy of the cookie kept anywhere is worthless, then
    forget the cookie. The browser is signed out whatever the api answers: when it cannot be
    reached, or refuses (an api of the release before, mid-rollout, may not know the sign-out),
    the notice says the session may live on elsewhere."""
    notice = "signed-out"
    try:
        await peers.sign_out(viewer.token)
    except ApiError as exc:
        if exc.status != 401:  # 401: the api no longer accepts the token, which is what we want
            log.warning("the api refused the sign-out: %s", exc)
            notice = "signed-out-here"
    except PeerUnavailableError:  # the client logged it
        notice = "signed-out-here"
    response = RedirectResponse(f"/login?notice={notice}", status_code=303)
    clear_session(response, request, settings)
    return response


# --- the signed-in user's own account ------------------------------------------------------

# The password form's fields, in the order a person fills them in, and what the page says of one
# left empty.
PASSWORD_FIELDS = {
    "current_password": "Enter your current password.",
    "new_password": "Enter a new password.",
    "confirm_password": "Enter the new password again.",
}
MISTYPED_CONFIRMATION = "The two new passwords differ. Type the same new password twice."


@router.get("/account")
async def account(request: Request, viewer: Viewer, notice: str | None = None) -> HTMLResponse:
    return _account_page(request, {}, notice=NOTICES.get(notice or ""))


@router.post("/account/password")
async def change_password(
    request: Request, viewer: Viewer, form: SessionForm, peers: PeersDep, settings: SettingsDep
) -> Response:
    """The user changes their own password. Every session of theirs ends at the api, which signs
    this browser in again with a new session and device token."""
    # Not stripped: a space may be part of a password.
    values = {name: _password(form, name) for name in PASSWORD_FIELDS}
    errors = {name: message for name, message in PASSWORD_FIELDS.items() if not values[name]}
    if not errors and values["new_password"] != values["confirm_password"]:
        errors = {"confirm_password": MISTYPED_CONFIRMATION}
    if errors:
        return _account_page(request, errors, status=422)
    current, new = values["current_password"], values["new_password"]
    browser = request.client.host if request.client else None
    try:
        signed_in = await peers.change_password(viewer.token, current, new, browser)
    except ApiError as exc:
        if exc.status == 429:
            return _account_page(request, {}, locked_out=exc.detail, status=429)
        if exc.status in (401, 403):
            again = await _signed_in_with_new_password(request, viewer, peers, new)
            if again is not None:
                return _password_changed(request, settings, viewer, again)
        if exc.status not in (403, 422):
            raise
        shown = {e.field: _sentence(e.reason) for e in exc.errors if e.field in PASSWORD_FIELDS}
        return _account_page(request, shown, problem=None if shown else _sentence(exc.detail), status=exc.status)
    return _password_changed(request, settings, viewer, signed_in)


async def _signed_in_with_new_password(
    request: Request, viewer: WebSession, peers: PeersDep, new: str
) -> SignedIn | None:
    """A new session when ``new`` became the password meanwhile, ending this session: the button
    pressed twice, whose second request left with the session the first one ended (the api refuses
    its token, or took it just before the first change and then refuses its current password).
    Tried only once the session's token no longer works, so that a mistyped current password costs
    one failed sign-in, not two. None when the session still works or ``new`` does not sign in."""
    if viewer.email is None:  # a cookie of the release before
        return None
    try:
        await peers.me(viewer.token)
        return None
    except ApiError as exc:
        if exc.status != 401:
            raise
    browser = request.client.host if request.client else None
    try:
        # No device token: the old one went with the old password.
        return await peers.sign_in(viewer.email, new, browser, None)
    except ApiError as exc:
        if exc.status not in (401, 422, 429):
            raise
        return None


def _password_changed(request: Request, settings: Settings, viewer: WebSession, signed_in: SignedIn) -> Response:
    """Back to the account page, this browser signed in with the new session the change gave it
    (as the session's user: its role and agent are the session's)."""
    renewed = WebSession(signed_in.access_token, viewer.role, viewer.agent_id, csrf.new_nonce(), viewer.email)
    response = RedirectResponse("/account?notice=password-changed", status_code=303)
    write_session(response, request, settings, renewed)
    if signed_in.device_token:
        write_device_token(response, request, settings, signed_in.device_token)
    return response


def _password(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _sentence(text: str) -> str:
    """An api reason ("passwords must be at least 12 characters") as a sentence for the page."""
    return f"{text[:1].upper()}{text[1:]}."


def _account_page(
    request: Request,
    errors: dict[str, str],
    problem: str | None = None,
    locked_out: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = {
        "errors": errors,
        "problem": problem,
        "locked_out": locked_out,
        "notice": notice,
        "min_password_length": MIN_PASSWORD_LENGTH,
    }
    return render(request, "account.html", context, status)


# --- the agent's inbox ----------------------------------------------------------------------


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
    back = safe_next(_field(form, "next")) or "/inbox"
    joiner = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{joiner}notice=accepted", status_code=303)


@router.post("/inbox/{assignment_id}/reject")
async def reject(
    request: Request, assignment_id: uuid.UUID, viewer: Agent, form: SessionForm, peers: PeersDep
) -> Response:
    reason = _field(form, "reason")
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


# --- leads, the funnel and agents -----------------------------------------------------------


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
    returnable = offer is not None and can_move(taker_progress(offer.status, offer.outcome), LeadStatus.RETURNED)
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
    sent = {"note": _field(form, "note")}
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
    sent = {name: _field(form, name) for name in ("status", "note")}
    action = peers.record_outcome(viewer.token, str(lead_id), sent["status"], sent["note"] or None)
    return await _lead_action(request, lead_id, viewer, peers, action, "recorded", "outcome", sent)


@router.post("/leads/{lead_id}/return")
async def return_lead(
    request: Request, lead_id: uuid.UUID, viewer: Agent, form: SessionForm, peers: PeersDep
) -> Response:
    """The agent holding the lead returns it to its source, with a reason, inside the return window."""
    sent = {name: _field(form, name) for name in ("reason", "detail")}
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
            problem = f"{exc.detail[:1].upper()}{exc.detail[1:]}."
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


@router.get("/agents")
async def agents(request: Request, viewer: Staff, peers: PeersDep) -> HTMLResponse:
    return render(request, "agents.html", {"agents": await peers.agents(viewer.token)})


# What the agent page changes; licences and shifts are changed through the API.
AGENT_FIELDS = ("name", "email", "phone", "timezone", "daily_cap", "open_cap", "weight")
# The form also carries each field's value as the page showed it, under this prefix: only the
# fields the admin changed are saved, and only if nobody changed them since.
ORIGINAL = "original_"
CHANGED_MEANWHILE = (
    "Nothing saved: the agent was changed meanwhile by someone else: reload the page, then make your change again."
)
# A form without them: a page of the release before, which cannot tell what was changed.
OUT_OF_DATE = "Nothing saved: this page is out of date: reload it, then make your change again."
# What the page's Reactivate and Deactivate buttons send.
ACTIVE_VALUES = {"true": True, "false": False}
ACTIVE_PROBLEM = 'Nothing changed: the form must say "true" (reactivate) or "false" (deactivate).'


@router.get("/agents/{agent_id}")
async def agent_page(
    request: Request, agent_id: uuid.UUID, viewer: Staff, peers: PeersDep, notice: str | None = None
) -> HTMLResponse:
    agent = await peers.agent(viewer.token, str(agent_id))
    return _agent_page(request, viewer, agent, notice=NOTICES.get(notice or ""))


@router.post("/agents/{agent_id}")
async def change_agent(
    request: Request, agent_id: uuid.UUID, viewer: Staff, form: SessionForm, peers: PeersDep
) -> Response:
    """An admin changes an agent's details and caps; an empty phone removes it. Only the fields the
    admin changed are sent, so that another admin's change of the others since the page was loaded
    stays; if another admin changed one of the same fields meanwhile, nothing is saved."""
    values = {name: _field(form, name) for name in AGENT_FIELDS}
    originals = {name: _field(form, ORIGINAL + name) for name in AGENT_FIELDS}
    changed = [name for name in AGENT_FIELDS if values[name] != originals[name]]
    if not changed:
        return RedirectResponse(f"/agents/{agent_id}?notice=agent-unchanged", status_code=303)
    agent = await peers.agent(viewer.token, str(agent_id))
    problem = None
    if any(ORIGINAL + name not in form for name in AGENT_FIELDS):
        problem = OUT_OF_DATE
    elif any(_shown(getattr(agent, name)) != originals[name] for name in changed):
        problem = CHANGED_MEANWHILE
    if problem:
        return _agent_page(request, viewer, agent, values, originals, problem=problem, status=409)
    changes: dict[str, str | None] = {name: values[name] for name in changed}
    if "phone" in changes:
        changes["phone"] = changes["phone"] or None
    return await _change_agent(request, agent_id, viewer, peers, changes, "agent-saved", values, originals)


@router.post("/agents/{agent_id}/active")
async def set_agent_active(
    request: Request, agent_id: uuid.UUID, viewer: Staff, form: SessionForm, peers: PeersDep
) -> Response:
    """An admin deactivates an agent (their offers not yet answered move on) or reactivates one."""
    active = ACTIVE_VALUES.get(_field(form, "active"))
    if active is None:
        # Only what the page's buttons send: a missing or mistyped value must not deactivate anyone.
        agent = await peers.agent(viewer.token, str(agent_id))
        return _agent_page(request, viewer, agent, problem=ACTIVE_PROBLEM, status=422)
    notice = "agent-reactivated" if active else "agent-deactivated"
    return await _change_agent(request, agent_id, viewer, peers, {"active": active}, notice)


async def _change_agent(
    request: Request,
    agent_id: uuid.UUID,
    viewer: WebSession,
    peers: PeersDep,
    changes: dict[str, Any],
    notice: str,
    values: dict[str, str] | None = None,
    originals: dict[str, str] | None = None,
) -> Response:
    try:
        await peers.change_agent(viewer.token, str(agent_id), changes)
    except ApiError as exc:
        if exc.status not in (403, 409, 422):
            raise
        shown = {e.field: e.reason for e in exc.errors if e.field in AGENT_FIELDS}
        agent = await peers.agent(viewer.token, str(agent_id))
        problem = None if shown else exc.detail
        return _agent_page(request, viewer, agent, values, originals, shown, problem, exc.status)
    return RedirectResponse(f"/agents/{agent_id}?notice={notice}", status_code=303)


def _shown(value: object) -> str:
    """A stored value as the agent form shows it."""
    return "" if value is None else str(value).strip()


def _agent_page(
    request: Request,
    viewer: WebSession,
    agent: AgentView,
    values: dict[str, str] | None = None,
    originals: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
    notice: str | None = None,
) -> HTMLResponse:
    """The agent's page; a form sent back keeps what the admin typed (``values``) and the values
    the page first showed (``originals``), so that sending it again still sees changes made since."""
    stored = {name: _shown(getattr(agent, name)) for name in AGENT_FIELDS}
    context = {
        "agent": agent,
        "values": values or stored,
        "originals": originals or stored,
        "errors": errors or {},
        "problem": problem,
        "notice": notice,
        "may_change": viewer.role == "admin",  # the API lets only admins change agents
    }
    return render(request, "agent.html", context, status)


@router.get("/do-not-contact")
async def do_not_contact_page(request: Request, viewer: Staff) -> HTMLResponse:
    return _do_not_contact(request, {}, {})


@router.post("/do-not-contact")
async def do_not_contact(request: Request, viewer: Staff, form: SessionForm, peers: PeersDep) -> HTMLResponse:
    """Staff record that a person asked, outside any lead's page, not to be contacted."""
    values = {name: _field(form, name) for name in ("phone", "email")}
    try:
        barred = await peers.opt_out_person(viewer.token, {k: v for k, v in values.items() if v})
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = {e.field.rsplit(".", 1)[-1]: e.reason for e in exc.errors}
        shown = {name: reason for name, reason in errors.items() if name in values}
        return _do_not_contact(request, values, shown, None if shown else exc.detail, status=422)
    return _do_not_contact(request, {}, {}, listed=len(barred))


def _do_not_contact(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    problem: str | None = None,
    listed: int | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = {"values": values, "errors": errors, "problem": problem, "listed": listed}
    return render(request, "do_not_contact.html", context, status)


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


# --- the public quote form ------------------------------------------------------------------


@router.get("/quote")
async def quote_page(request: Request, line: str | None = None) -> HTMLResponse:
    form = quote.line_form(line)
    return _quote_form(request, form, {}, {}, [])


def _quote_form(
    request: Request,
    form: quote.LineForm,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    summary: list[str],
    status: int = 200,
) -> HTMLResponse:
    context = {
        "form": form,
        "lines": quote.LINES,
        "values": values,
        "errors": errors,
        "summary": summary,
        "consent_text": quote.CONSENT_TEXT,
        "consent_text_sha256": quote.CONSENT_TEXT_SHA256,
        "consent_field": quote.CONSENT_FIELD,
        "consent_text_field": quote.CONSENT_TEXT_FIELD,
        "trap_field": quote.TRAP_FIELD,
    }
    return _anonymous_page(request, "quote.html", context, status)


@router.post("/quote")
async def submit_quote(request: Request, form: AnonymousForm, peers: PeersDep) -> Response:
    line = quote.line_form(_field(form, "line"))
    read = _multi(form)
    values = quote.submitted_values(line, read)
    if quote.trapped(read):
        log.info("refused a quote form with its trap input filled in")
        return _quote_form(request, line, values, {}, [quote.TRAPPED], 422)
    errors = quote.missing_required(line, values)
    if errors:
        return _quote_form(request, line, values, errors, [], 422)
    ip = request.client.host if request.client else None
    try:
        await peers.quote_request(quote.payload(line, values, request.headers.get("user-agent")), ip)
    except ApiError as exc:
        if exc.status == 429:
            return _quote_form(request, line, values, {}, [exc.detail], 429)
        if exc.status != 422:
            raise
        placed, unplaced = quote.place_errors(line, exc.errors)
        summary = unplaced or ([] if placed else [exc.detail])
        return _quote_form(request, line, values, placed, summary, 422)
    return RedirectResponse("/quote/thanks", status_code=303)


@router.get("/quote/thanks")
async def quote_thanks(request: Request) -> HTMLResponse:
    return render(request, "thanks.html")


# --- the unsubscribe link of an e-mail to a person -----------------------------------------


@router.get("/unsubscribe/{token}")
async def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    """Asks before it acts: mail systems open the links of incoming mail to check them, and that
    must not opt anyone out."""
    if not is_opt_out_token(token):
        return _invalid_link(request)
    return render(request, "unsubscribe.html", {"token": token})


@router.post("/unsubscribe/{token}")
async def unsubscribe(request: Request, token: str, peers: PeersDep) -> HTMLResponse:
    """The person's confirmation, or their mail client's one-click post (RFC 8058). Neither can
    carry a form token; the link's own signature, which the api checks, is what allows it.
    Anything not shaped like a link's token is refused here, unasked: the api would refuse it."""
    if not is_opt_out_token(token):
        return _invalid_link(request)
    try:
        await peers.opt_out_link(token)
    except ApiError as exc:
        # A 401 to this call, made without the user's token, says nothing of their session: not
        # a link the api takes either way.
        if exc.status == 410:
            return render(request, "unsubscribe.html", {"deleted": True}, 410)
        if exc.status not in (401, 404):
            raise
        return _invalid_link(request)
    return render(request, "unsubscribe.html", {"done": True})


def _invalid_link(request: Request) -> HTMLResponse:
    return render(request, "unsubscribe.html", {"invalid": True}, 404)

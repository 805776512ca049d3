"""What staff administer: the agents (details, caps, active or not, and for admins their sign-in)
and the do-not-contact list; and what admins read: the audit log."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadgen.frontend.client import AgentView, ApiError, AuditEntryView, AuditPage, Peers, UserView
from leadgen.frontend.deps import Admin, PeersDep, SessionForm, Staff, form_text
from leadgen.frontend.pages import NOTICES, render
from leadgen.frontend.session import WebSession

router = APIRouter(include_in_schema=False)


# --- agents --------------------------------------------------------------------------------


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
# What the page's buttons send: Reactivate and Deactivate, and Turn on and Turn off sign-in.
ACTIVE_VALUES = {"true": True, "false": False}
ACTIVE_PROBLEM = 'Nothing changed: the form must say "true" (reactivate) or "false" (deactivate).'
SIGN_IN_PROBLEM = (
    'Nothing changed: the form must name a sign-in of this agent and say "true" (turn on) or "false" (turn off). '
    "Reload the page."
)
# The notices of the agent's sign-in, beside the agent page's others (``pages.NOTICES``).
SIGN_IN_NOTICES = {
    "sign-in-off": "Sign-in turned off. Every session of theirs has ended; they can no longer sign in or read "
    "the leads they accepted.",
    "sign-in-on": "Sign-in turned on. They can sign in with their password again.",
}


@router.get("/agents/{agent_id}")
async def agent_page(
    request: Request, agent_id: uuid.UUID, viewer: Staff, peers: PeersDep, notice: str | None = None
) -> HTMLResponse:
    agent = await peers.agent(viewer.token, str(agent_id))
    shown = NOTICES.get(notice or "") or SIGN_IN_NOTICES.get(notice or "")
    return await _agent_page(request, viewer, peers, agent, notice=shown)


@router.post("/agents/{agent_id}")
async def change_agent(
    request: Request, agent_id: uuid.UUID, viewer: Staff, form: SessionForm, peers: PeersDep
) -> Response:
    """An admin changes an agent's details and caps; an empty phone removes it. Only the fields the
    admin changed are sent, so that another admin's change of the others since the page was loaded
    stays; if another admin changed one of the same fields meanwhile, nothing is saved."""
    values = {name: form_text(form, name) for name in AGENT_FIELDS}
    originals = {name: form_text(form, ORIGINAL + name) for name in AGENT_FIELDS}
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
        return await _agent_page(request, viewer, peers, agent, values, originals, problem=problem, status=409)
    changes: dict[str, str | None] = {name: values[name] for name in changed}
    if "phone" in changes:
        changes["phone"] = changes["phone"] or None
    # Made on the revision just compared: a change landing in between is refused (412), not lost.
    return await _change_agent(
        request, agent_id, viewer, peers, changes, "agent-saved", values, originals, agent.revision
    )


@router.post("/agents/{agent_id}/active")
async def set_agent_active(
    request: Request, agent_id: uuid.UUID, viewer: Staff, form: SessionForm, peers: PeersDep
) -> Response:
    """An admin deactivates an agent (their offers not yet answered move on) or reactivates one."""
    active = ACTIVE_VALUES.get(form_text(form, "active"))
    if active is None:
        # Only what the page's buttons send: a missing or mistyped value must not deactivate anyone.
        agent = await peers.agent(viewer.token, str(agent_id))
        return await _agent_page(request, viewer, peers, agent, problem=ACTIVE_PROBLEM, status=422)
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
    revision: int | None = None,
) -> Response:
    try:
        await peers.change_agent(viewer.token, str(agent_id), changes, revision)
    except ApiError as exc:
        if exc.status not in (403, 409, 412, 422):
            raise
        shown = {e.field: e.reason for e in exc.errors if e.field in AGENT_FIELDS}
        agent = await peers.agent(viewer.token, str(agent_id))
        if exc.status == 412:
            return await _agent_page(
                request, viewer, peers, agent, values, originals, problem=CHANGED_MEANWHILE, status=409
            )
        problem = None if shown else exc.detail
        return await _agent_page(request, viewer, peers, agent, values, originals, shown, problem, exc.status)
    return RedirectResponse(f"/agents/{agent_id}?notice={notice}", status_code=303)


@router.post("/agents/{agent_id}/sign-in")
async def set_sign_in_active(
    request: Request, agent_id: uuid.UUID, viewer: Admin, form: SessionForm, peers: PeersDep
) -> Response:
    """An admin turns the agent's sign-in off (every session of theirs ends at once: deactivating
    the agent leaves them reading the leads they accepted) or on again."""
    active = ACTIVE_VALUES.get(form_text(form, "active"))
    user_id = form_text(form, "user_id")
    # Only a sign-in of this agent, as the page lists them: a form naming another user changes nobody.
    sign_in = next((user for user in await _sign_ins(viewer, peers, agent_id) or [] if user.id == user_id), None)
    if active is None or sign_in is None:
        agent = await peers.agent(viewer.token, str(agent_id))
        return await _agent_page(request, viewer, peers, agent, problem=SIGN_IN_PROBLEM, status=422)
    try:
        await peers.change_access(viewer.token, sign_in.id, {"active": active})
    except ApiError as exc:
        if exc.status not in (404, 409, 422):
            raise
        agent = await peers.agent(viewer.token, str(agent_id))
        return await _agent_page(request, viewer, peers, agent, problem=exc.detail, status=exc.status)
    notice = "sign-in-on" if active else "sign-in-off"
    return RedirectResponse(f"/agents/{agent_id}?notice={notice}", status_code=303)


async def _sign_ins(viewer: WebSession, peers: Peers, agent_id: uuid.UUID) -> list[UserView] | None:
    """The users who sign in as the agent; None for a manager, to whom the api lists no users, and
    from an api of the release before (mid-rollout), which lists none (404)."""
    if not viewer.is_admin:
        return None
    try:
        return await peers.users(viewer.token, {"agent_id": str(agent_id)})
    except ApiError as exc:
        if exc.status != 404:
            raise
        return None


def _shown(value: object) -> str:
    """A stored value as the agent form shows it."""
    return "" if value is None else str(value).strip()


async def _agent_page(
    request: Request,
    viewer: WebSession,
    peers: Peers,
    agent: AgentView,
    values: dict[str, str] | None = None,
    originals: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
    notice: str | None = None,
) -> HTMLResponse:
    """The agent's page; a form sent back keeps what the admin typed (``values``) and the values
    the page first showed (``originals``), so that sending it again still sees changes made since.
    Admins also see the agent's sign-in, which deactivating the agent leaves on."""
    stored = {name: _shown(getattr(agent, name)) for name in AGENT_FIELDS}
    sign_ins = await _sign_ins(viewer, peers, uuid.UUID(agent.id))
    context = {
        "agent": agent,
        "values": values or stored,
        "originals": originals or stored,
        "errors": errors or {},
        "problem": problem,
        "notice": notice,
        "may_change": viewer.is_admin,  # the API lets only admins change agents
        "sign_ins": sign_ins,
        # Deactivating the agent leaves these on: the person still reads the leads they accepted.
        "active_sign_ins": [user for user in sign_ins or [] if user.active],
    }
    return render(request, "agent.html", context, status)


# --- the do-not-contact list ---------------------------------------------------------------


@router.get("/do-not-contact")
async def do_not_contact_page(request: Request, viewer: Staff) -> HTMLResponse:
    return _do_not_contact(request, {}, {})


@router.post("/do-not-contact")
async def do_not_contact(request: Request, viewer: Staff, form: SessionForm, peers: PeersDep) -> HTMLResponse:
    """Staff record that a person asked, outside any lead's page, not to be contacted."""
    values = {name: form_text(form, name) for name in ("phone", "email")}
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


# --- the audit log -------------------------------------------------------------------------

AUDIT_PAGE_SIZE = 50
# The log's filters, named as the data-service's parameters, with their labels on the page.
AUDIT_FILTERS = {
    "since": "Since",
    "until": "Until",
    "actor": "Actor",
    "action": "Action",
    "subject_type": "Subject type",
    "subject_id": "Subject id",
}
AUDIT_MOMENTS = ("since", "until")
# The labels of the other parameters the data-service may refuse: the page's own ``before``.
AUDIT_PAGING = {"before": "Older entries"}
# The dashboard's page of a subject, by the subject's type.
SUBJECT_PAGES = {"lead": "/leads/{}", "agent": "/agents/{}"}


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntryView
    subject_page: str | None
    data: str  # the entry's data as JSON, which the template escapes like any text


@router.get("/audit")
async def audit_log(request: Request, viewer: Admin, peers: PeersDep, before: uuid.UUID | None = None) -> HTMLResponse:
    """The audit log, newest first, a page at a time, filtered as the data-service's log is: it
    judges the filters, and a value it refuses is shown at its field."""
    typed = {name: request.query_params.get(name, "").strip() for name in AUDIT_FILTERS}
    filters = {name: _moment(value) if name in AUDIT_MOMENTS else value for name, value in typed.items() if value}
    try:
        page = await peers.audit_log(viewer.token, filters, AUDIT_PAGE_SIZE, str(before) if before else None)
    except ApiError as exc:
        if exc.status != 422:
            raise
        return _audit_page(request, typed, before, None, *_refusal(exc))
    return _audit_page(request, typed, before, page)


def _moment(text: str) -> str:
    """A date or time as the data-service takes it: one without a zone is in UTC, as the CLI reads
    it and the page shows times; text that is no ISO 8601 time goes as typed, for the service to
    say why."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _refusal(exc: ApiError) -> tuple[dict[str, str], list[str]]:
    """Why the data-service refused the page: the reasons by filter of the form, and the others
    (a ``before`` naming no entry) as lines above it; its detail when it named no parameter."""
    reasons = {e.field.rpartition(".")[2]: e.reason.removeprefix("Value error, ") for e in exc.errors}
    by_filter = {name: reason for name, reason in reasons.items() if name in AUDIT_FILTERS}
    others = [f"{AUDIT_PAGING.get(name, name)}: {reason}" for name, reason in reasons.items() if name not in by_filter]
    return by_filter, others or ([] if by_filter else [exc.detail])


def _audit_page(
    request: Request,
    typed: dict[str, str],
    before: uuid.UUID | None,
    page: AuditPage | None,
    errors: dict[str, str] | None = None,
    problems: list[str] | None = None,
) -> HTMLResponse:
    """The log's page, or the form and why the data-service refused it when ``page`` is None;
    ``typed``: the filters as the admin typed them, kept in the form and in the links."""
    kept = {name: value for name, value in typed.items() if value}
    context = {
        "filters": AUDIT_FILTERS,
        "typed": typed,
        "filtered": bool(kept),
        "errors": errors or {},
        "problems": problems or [],
        "rows": [AuditRow(entry, _subject_page(entry), _shown_data(entry)) for entry in page.entries] if page else [],
        "refused": page is None,
        "paging": before is not None,
        "newest": f"/audit?{urlencode(kept)}" if kept else "/audit",
        "older": f"/audit?{urlencode(kept | {'before': page.older})}" if page and page.older else None,
    }
    return render(request, "audit.html", context, 422 if page is None else 200)


def _shown_data(entry: AuditEntryView) -> str:
    return json.dumps(entry.data, ensure_ascii=False, sort_keys=True) if entry.data else ""


def _subject_page(entry: AuditEntryView) -> str | None:
    """The dashboard's page of the entry's subject, when it has one (its routes take UUIDs only)."""
    page = SUBJECT_PAGES.get(entry.subject_type)
    if page is None or entry.subject_id is None:
        return None
    try:
        return page.format(uuid.UUID(entry.subject_id))
    except ValueError:
        return None

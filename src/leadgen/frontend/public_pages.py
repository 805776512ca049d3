"""The pages anyone may open: the quote form, and the unsubscribe link of an e-mail to a person."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from leadgen.compliance.links import is_opt_out_token
from leadgen.frontend import quote
from leadgen.frontend.client import ApiError, PeerUnavailableError
from leadgen.frontend.csrf import CsrfRefusedError
from leadgen.frontend.deps import PeersDep, anonymous_form, form_text
from leadgen.frontend.pages import anonymous_page, render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)


# --- the public quote form -----------------------------------------------------------------


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
    summary_title: str = quote.CHECK_ANSWERS,
) -> HTMLResponse:
    context = {
        "form": form,
        "lines": quote.LINES,
        "values": values,
        "errors": errors,
        "summary": summary,
        "summary_title": summary_title,
        "line_choice": quote.LINE_CHOICE,
        "show_questions": quote.SHOW_QUESTIONS,
        "consent_text": quote.CONSENT_TEXT,
        "consent_text_sha256": quote.CONSENT_TEXT_SHA256,
        "consent_field": quote.CONSENT_FIELD,
        "consent_text_field": quote.CONSENT_TEXT_FIELD,
        "trap_field": quote.TRAP_FIELD,
    }
    return anonymous_page(request, "quote.html", context, status)


@router.post("/quote")
async def submit_quote(request: Request, peers: PeersDep) -> Response:
    """The person's answers, or their choice of another line (``quote.SHOW_QUESTIONS``). Any
    failure that is not in the answers shows the form again with them, for the person to send it
    again: the page is not cached, so going back or reloading would show it empty."""
    form = await request.form()
    read = _multi(form)
    # Nothing is sent, so no token is needed (the page comes with a fresh one): a page left open
    # long still changes line.
    if quote.SHOW_QUESTIONS in read:
        chosen = quote.line_form(form_text(form, quote.LINE_CHOICE))
        return _quote_form(request, chosen, quote.carried_values(chosen, read), {}, [])
    line = quote.line_form(form_text(form, "line"))
    values = quote.submitted_values(line, read)
    # Checked here rather than by a dependency, whose refusal is a page without the form.
    try:
        await anonymous_form(request)
    except CsrfRefusedError as exc:
        log.info("refused a quote form without a valid CSRF token: %s", exc.reason)
        # Unproven to come from this page: the person ticks the box again themselves.
        kept = {**values, quote.CONSENT_FIELD: ""}
        return _quote_form(request, line, kept, {}, [quote.FORM_EXPIRED], 403, quote.NOT_SENT)
    if quote.trapped(read):
        log.info("refused a quote form with its trap input filled in")
        return _quote_form(request, line, values, {}, [quote.TRAPPED], 422)
    errors = quote.missing_required(line, values)
    if errors:
        return _quote_form(request, line, values, errors, [], 422)
    ip = request.client.host if request.client else None
    try:
        await peers.quote_request(quote.payload(line, values, request.headers.get("user-agent")), ip)
    except PeerUnavailableError:
        # The client has logged which peer and why.
        return _quote_form(request, line, values, {}, [quote.SEND_AGAIN], 503, quote.NOT_SENT)
    except ApiError as exc:
        if exc.status == 429:
            return _quote_form(request, line, values, {}, [exc.detail], 429)
        if exc.status != 422:
            log.warning("the api refused a quote form with %s", exc.status)
            return _quote_form(request, line, values, {}, [quote.SEND_AGAIN], exc.status, quote.NOT_SENT)
        placed, unplaced = quote.place_errors(line, exc.errors)
        summary = unplaced or ([] if placed else [exc.detail])
        return _quote_form(request, line, values, placed, summary, 422)
    return RedirectResponse("/quote/thanks", status_code=303)


def _multi(form: FormData) -> dict[str, list[str]]:
    """Every text value by name (file uploads, which no page asks for, are ignored)."""
    return {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}


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

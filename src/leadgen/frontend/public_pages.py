"""The pages anyone may open: the quote form, and the unsubscribe link of an e-mail to a person."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from leadgen.compliance.links import is_opt_out_token
from leadgen.frontend import csrf, quote
from leadgen.frontend.client import IDEMPOTENCY_KEY_HEADER, ApiError, PeerUnavailableError
from leadgen.frontend.csrf import CsrfRefusedError
from leadgen.frontend.deps import PeersDep, anonymous_form, form_text
from leadgen.frontend.pages import anonymous_page, render, settings_of

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
# The field the api names when it refuses a form sent before with other answers.
SUBMISSION_KEY_FIELD = f"header.{IDEMPOTENCY_KEY_HEADER}"


# --- the public quote form -----------------------------------------------------------------


@router.get("/quote")
async def quote_page(request: Request, line: str | None = None) -> HTMLResponse:
    form = quote.line_form(line)
    return _quote_form(request, form, quote.new_submission_token(), {}, {}, [])


def _quote_form(
    request: Request,
    form: quote.LineForm,
    submission: str,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    summary: list[str],
    status: int = 200,
    summary_title: str = quote.CHECK_ANSWERS,
) -> HTMLResponse:
    """The form; ``submission`` names the request it makes (``quote.SUBMISSION_FIELD``): a page
    shown again after a send that may have been stored keeps the posted one."""
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
        "submission_field": quote.SUBMISSION_FIELD,
        "submission": submission,
    }
    return anonymous_page(request, "quote.html", context, status)


@router.post("/quote")
async def submit_quote(request: Request, peers: PeersDep) -> Response:
    """The person's answers, or their choice of another line (``quote.SHOW_QUESTIONS``). Any
    failure that is not in the answers shows the form again with them, for the person to send it
    again: the page is not cached, so going back or reloading would show it empty. The form shown
    again keeps its submission token: a send the api stored though its answer was lost is then
    answered, sent again, with that lead rather than stored twice."""
    form = await request.form()
    read = _multi(form)
    try:
        posted_token = quote.posted_submission_token(read)
    except ValueError:
        posted_token, bad_token = None, True
    else:
        bad_token = False
    submission = posted_token or quote.new_submission_token()
    # Nothing is sent, so no CSRF token is needed (the page comes with a fresh one): a page left
    # open long still changes line.
    if quote.SHOW_QUESTIONS in read:
        chosen = quote.line_form(form_text(form, quote.LINE_CHOICE))
        return _quote_form(request, chosen, submission, quote.carried_values(chosen, read), {}, [])
    line = quote.line_form(form_text(form, "line"))
    values = quote.submitted_values(line, read)
    # Unproven to come from this page: the person ticks the box again themselves.
    unticked = {**values, quote.CONSENT_FIELD: ""}
    # Checked here rather than by a dependency, whose refusal is a page without the form.
    try:
        await anonymous_form(request)
    except CsrfRefusedError as exc:
        log.info("refused a quote form without a valid CSRF token: %s", exc.reason)
        return _quote_form(request, line, submission, unticked, {}, [quote.FORM_EXPIRED], 403, quote.NOT_SENT)
    if bad_token:
        log.info("refused a quote form with a submission token no page gives")
        return _quote_form(request, line, submission, unticked, {}, [quote.SUBMISSION_REFUSED], 400, quote.NOT_SENT)
    if quote.trapped(read):
        log.info("refused a quote form with its trap input filled in")
        return _quote_form(request, line, submission, values, {}, [quote.TRAPPED], 422)
    errors = quote.missing_required(line, values)
    if errors:
        return _quote_form(request, line, submission, values, errors, [], 422)
    ip = request.client.host if request.client else None
    key = _submission_key(request, posted_token)
    try:
        await peers.quote_request(quote.payload(line, values, request.headers.get("user-agent")), ip, key)
    except PeerUnavailableError:
        # The client has logged which peer and why.
        return _quote_form(request, line, submission, values, {}, [quote.SEND_AGAIN], 503, quote.NOT_SENT)
    except ApiError as exc:
        if exc.status == 409 and any(e.field == SUBMISSION_KEY_FIELD for e in exc.errors):
            # The first send stands; the page shown is a new form, whose send is a new request.
            fresh = quote.new_submission_token()
            summary = [quote.RESENT_WITH_OTHER_ANSWERS]
            return _quote_form(request, line, fresh, values, {}, summary, 409, quote.ALREADY_SENT)
        if exc.status == 429:
            return _quote_form(request, line, submission, values, {}, [exc.detail], 429)
        if exc.status != 422:
            log.warning("the api refused a quote form with %s", exc.status)
            return _quote_form(request, line, submission, values, {}, [quote.SEND_AGAIN], exc.status, quote.NOT_SENT)
        placed, unplaced = quote.place_errors(line, exc.errors)
        summary = unplaced or ([] if placed else [exc.detail])
        return _quote_form(request, line, submission, values, placed, summary, 422)
    return RedirectResponse("/quote/thanks", status_code=303)


def _submission_key(request: Request, token: str | None) -> str | None:
    """The api's key for the form's request (``quote.submission_key``); None for a page without a
    token. Called once the CSRF check passed, so the anonymous cookie is there."""
    settings = settings_of(request)
    nonce = csrf.anonymous_nonce(request, settings)
    if token is None or nonce is None:
        return None
    return quote.submission_key(settings.security.session_secret.get_secret_value(), nonce, token)


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

"""Rendering: the Jinja2 environment, the page context every template gets, the notices pages show,
and error pages."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.templating import Jinja2Templates

from leadgen.core.settings import Settings
from leadgen.frontend import csrf
from leadgen.frontend.client import ApiError, PeerUnavailableError
from leadgen.frontend.session import WebSession, clear_session, read_session

log = logging.getLogger(__name__)


class SignInRequiredError(Exception):
    """The page needs a signed-in user (none, or the api no longer accepts the token)."""

    def __init__(self, notice: str | None = None) -> None:
        super().__init__(notice or "sign in")
        self.notice = notice


class PageError(Exception):
    """An expected failure shown as a page with this status."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _when(value: datetime | None) -> str:
    """The moment in UTC, as labelled (an aware value in another zone is converted first)."""
    if value is None:
        return ""
    return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H:%M UTC")


def _when_in(value: datetime, zone: str) -> str:
    """The moment as a clock in ``zone`` shows it, named by the zone (2026-03-01 00:00 America/Chicago)."""
    return f"{value.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"


def _label(value: str | None) -> str:
    return (value or "").replace("_", " ").replace(".", " ")


def _points(value: float) -> str:
    """A factor's contribution with its sign: +10, -8, +1.25."""
    return f"{value:+d}" if isinstance(value, int) else f"{value:+.2f}".rstrip("0").rstrip(".")


NO_FIGURE = "n/a"


def _money(cents: int | None) -> str:
    """Cents as dollars: 2500 is $25.00."""
    return f"${cents / 100:,.2f}" if cents is not None else NO_FIGURE


def _share(ratio: float | None) -> str:
    return f"{ratio:.0%}" if ratio is not None else NO_FIGURE


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("leadgen.frontend", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["when_in"] = _when_in
    env.filters["label"] = _label
    env.filters["points"] = _points
    env.filters["money"] = _money
    env.filters["share"] = _share
    env.globals["no_figure"] = NO_FIGURE
    return env


templates = Jinja2Templates(env=_environment())


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def render(request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """A page with what the layout needs: who is signed in, and a token for the sign-out form."""
    settings = settings_of(request)
    viewer: WebSession | None = read_session(request, settings)
    page: dict[str, Any] = {
        "viewer": viewer,
        "session_csrf": csrf.token_for(settings, viewer.csrf_nonce) if viewer else None,
        "csrf_field": csrf.FIELD,
        "path": request.url.path,
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, page, status_code=status)


def anonymous_page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A page with a form bound to the anonymous cookie (issued, or renewed, with the page)."""
    settings = settings_of(request)
    nonce = csrf.anonymous_nonce(request, settings) or csrf.new_nonce()
    response = render(request, name, {**context, "csrf_token": csrf.token_for(settings, nonce)}, status)
    csrf.set_anonymous_cookie(response, request, settings, nonce)
    return response


def home_path(viewer: WebSession) -> str:
    """Where a signed-in user starts: staff at the leads, agents at their inbox."""
    return "/leads" if viewer.is_staff else "/inbox"


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


def sentence(text: str) -> str:
    """An api reason ("passwords must be at least 12 characters") as a sentence for the page."""
    return f"{text[:1].upper()}{text[1:]}."


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", {"title": title, "message": message, "status": status}, status)


def safe_next(value: str | None) -> str | None:
    """A local path to return to after signing in; anything else (other hosts) is dropped."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    return value


def sign_in_redirect(request: Request, notice: str | None) -> RedirectResponse:
    params = {"notice": notice} if notice else {}
    if request.method == "GET" and request.url.path != "/":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        params["next"] = target
    query = f"?{urlencode(params)}" if params else ""
    response = RedirectResponse(f"/login{query}", status_code=303)
    if notice == "expired":
        clear_session(response, request, settings_of(request))
    return response


def _api_error_page(request: Request, exc: ApiError) -> Response:
    if exc.status == 401 and exc.signed_in:
        return sign_in_redirect(request, "expired")
    if exc.status == 403:
        return error_page(request, 403, "Not allowed", "Your role does not give access to this.")
    if exc.status == 404:
        return error_page(request, 404, "Not found", "There is no such item, or it is not yours.")
    if exc.status == 429:
        return error_page(request, 429, "Too many requests", exc.detail)
    return error_page(request, exc.status, "The request could not be completed", exc.detail)


def add_page_handlers(app: FastAPI) -> None:
    """Browsers get pages, not problem documents (the probes still answer JSON)."""

    @app.exception_handler(SignInRequiredError)
    async def _sign_in(request: Request, exc: SignInRequiredError) -> Response:
        return sign_in_redirect(request, exc.notice)

    @app.exception_handler(PageError)
    async def _page(request: Request, exc: PageError) -> Response:
        return error_page(request, exc.status, exc.title, exc.message)

    @app.exception_handler(csrf.CsrfRefusedError)
    async def _csrf(request: Request, exc: csrf.CsrfRefusedError) -> Response:
        log.info("refused a form without a valid CSRF token: %s", exc.reason)
        message = (
            f"This form could not be accepted: {exc.reason}. This happens when a page was left "
            "open for a long time, cookies are blocked, or the form was sent from another site. "
            "Go back, reload the page and try again."
        )
        return error_page(request, 403, "Form refused", message)

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        return _api_error_page(request, exc)

    @app.exception_handler(PeerUnavailableError)
    async def _peer(request: Request, exc: PeerUnavailableError) -> Response:
        message = "A service the dashboard depends on is not answering. Try again in a minute."
        return error_page(request, 503, "Temporarily unavailable", message)

    @app.exception_handler(RequestValidationError)
    async def _bad_address(request: Request, exc: RequestValidationError) -> Response:
        return error_page(request, 404, "Not found", "There is no page at this address.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = "Not found" if exc.status_code == 404 else str(exc.detail)
        message = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, title, message)

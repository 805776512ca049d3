"""Signing in and out, and the signed-in user's own account (changing their password)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from leadgen.auth.roles import MIN_PASSWORD_LENGTH
from leadgen.core.settings import Settings
from leadgen.frontend import csrf
from leadgen.frontend.client import ApiError, PeerUnavailableError, SignedIn
from leadgen.frontend.deps import AnonymousForm, MaybeViewer, PeersDep, SessionForm, SettingsDep, Viewer, form_text
from leadgen.frontend.pages import NOTICES, anonymous_page, home_path, render, safe_next, sentence
from leadgen.frontend.session import WebSession, clear_session, read_device_token, write_device_token, write_session

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)


# --- signing in and out --------------------------------------------------------------------


@router.get("/login")
async def login_page(
    request: Request,
    viewer: MaybeViewer,
    notice: str | None = None,
    next_path: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    if viewer is not None:
        return RedirectResponse(home_path(viewer), status_code=303)
    context = {"notice": NOTICES.get(notice or ""), "next": safe_next(next_path), "email": ""}
    return anonymous_page(request, "login.html", context)


@router.post("/login")
async def login(request: Request, form: AnonymousForm, peers: PeersDep, settings: SettingsDep) -> Response:
    email, password = form_text(form, "email"), form.get("password")
    target = safe_next(form_text(form, "next"))
    context: dict[str, Any] = {"email": email, "next": target, "errors": {}}
    if not email or not isinstance(password, str) or not password:
        context["errors"] = {"email": ["Enter your e-mail address and password."]}
        return anonymous_page(request, "login.html", context, 422)
    browser = request.client.host if request.client else None
    try:
        signed_in = await peers.sign_in(email, password, browser, read_device_token(request))
        me = await peers.me(signed_in.access_token)
    except ApiError as exc:
        if exc.status == 429:
            context["locked_out"] = exc.detail
            return anonymous_page(request, "login.html", context, 429)
        if exc.status not in (401, 422):
            raise
        context["errors"] = {"email": ["Wrong e-mail address or password."]}
        return anonymous_page(request, "login.html", context, 401)
    viewer = WebSession(signed_in.access_token, me.role, me.agent_id, csrf.new_nonce(), email)
    response = RedirectResponse(target or home_path(viewer), status_code=303)
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
        shown = {e.field: sentence(e.reason) for e in exc.errors if e.field in PASSWORD_FIELDS}
        return _account_page(request, shown, problem=None if shown else sentence(exc.detail), status=exc.status)
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

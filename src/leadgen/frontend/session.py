"""The dashboard's session: the api's access token in a signed, HttpOnly cookie.

The cookie is signed (itsdangerous, keyed by ``security.session_secret``), not encrypted: it holds
only what the browser already had a right to (its own access token, role and agent id, and the
e-mail address the user signed in with) plus the session's CSRF nonce, and JavaScript cannot read
it. It lives no longer than the token inside it, and no longer than the session: signing out
revokes the token at the api, so a copy of the cookie kept anywhere opens nothing afterwards (nor
does one of a user deactivated or given another role).

A second cookie keeps the device token the api gave the browser at its last sign-in
(``auth.devices``), which the sign-in form passes back: with it, strangers' failed sign-ins that
lock the account do not lock this browser out of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from leadgen.core.settings import Settings

SESSION_COOKIE = "leadgen_session"
DEVICE_COOKIE = "leadgen_device"
# Browsers keep a cookie 400 days at most; the api stops trusting the token inside sooner when the
# user's password changes or the user is deactivated.
DEVICE_COOKIE_SECONDS = 400 * 24 * 3600
_SALT = "leadgen.frontend.session"
ADMIN_ROLE = "admin"
STAFF_ROLES = frozenset({ADMIN_ROLE, "manager"})


@dataclass(frozen=True)
class WebSession:
    token: str
    role: str
    agent_id: str | None
    csrf_nonce: str
    # What the user signed in with: a password change that ended this session may sign in again
    # with the new password. None in a cookie written by the release before.
    email: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE

    @property
    def is_agent(self) -> bool:
        return self.agent_id is not None


def signer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.security.session_secret.get_secret_value(), salt=salt)


def cookie_options(request: Request, settings: Settings, max_age: int) -> dict[str, Any]:
    """HttpOnly and SameSite=Lax always; Secure outside development, and in development whenever
    the browser came over HTTPS.

    Outside development the scheme is not trusted to decide it: behind a TLS-terminating proxy it
    reads ``http`` unless uvicorn trusts the proxy's forwarded headers, and a cookie without Secure
    would go out again over any plain-HTTP request to the host.
    """
    return {
        "max_age": max_age,
        "httponly": True,
        "samesite": "lax",
        "secure": not settings.is_development or request.url.scheme == "https",
        "path": "/",
    }


def session_lifetime(settings: Settings) -> int:
    return settings.security.access_token_minutes * 60


def read_session(request: Request, settings: Settings) -> WebSession | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = signer(settings, _SALT).loads(raw, max_age=session_lifetime(settings))
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    token, role, agent, nonce, email = (data.get(k) for k in ("t", "r", "a", "c", "e"))
    if not (isinstance(token, str) and isinstance(role, str) and isinstance(nonce, str)):
        return None
    return WebSession(
        token, role, agent if isinstance(agent, str) else None, nonce, email if isinstance(email, str) else None
    )


def write_session(response: Response, request: Request, settings: Settings, session: WebSession) -> None:
    data = {"t": session.token, "r": session.role, "a": session.agent_id, "c": session.csrf_nonce, "e": session.email}
    value = signer(settings, _SALT).dumps(data)
    response.set_cookie(SESSION_COOKIE, value, **cookie_options(request, settings, session_lifetime(settings)))


def clear_session(response: Response, request: Request, settings: Settings) -> None:
    options = cookie_options(request, settings, 0)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=options["secure"], httponly=True, samesite="lax")


def read_device_token(request: Request) -> str | None:
    return request.cookies.get(DEVICE_COOKIE) or None


def write_device_token(response: Response, request: Request, settings: Settings, device_token: str) -> None:
    """HttpOnly, and Secure as the session cookie is; SameSite=Strict and only for /login, as only
    the sign-in form, posted from the dashboard's own page, needs it."""
    options = cookie_options(request, settings, DEVICE_COOKIE_SECONDS) | {"samesite": "strict", "path": "/login"}
    response.set_cookie(DEVICE_COOKIE, device_token, **options)

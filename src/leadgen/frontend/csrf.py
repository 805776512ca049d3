"""CSRF protection: signed double-submit tokens bound to a cookie the attacker cannot read.

Every state-changing form carries a hidden ``csrf_token``: the signature (keyed by
``security.session_secret``) of a random nonce that also lives in an HttpOnly cookie. A signed-in
user's nonce sits in the session cookie; the sign-in and quote forms use a short-lived anonymous
cookie instead. A forged cross-site POST has the cookie but cannot read it, so it cannot produce
a token that matches (OWASP, "Signed Double-Submit Cookie").
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature
from starlette.requests import Request
from starlette.responses import Response

from leadgen.core.settings import Settings
from leadgen.frontend.session import cookie_options, signer

FIELD = "csrf_token"
ANON_COOKIE = "leadgen_anon"
# Long enough to fill in the quote form at leisure, short enough to be worthless when stolen.
ANON_MAX_AGE_SECONDS = 2 * 60 * 60
_CSRF_SALT = "leadgen.frontend.csrf"
_ANON_SALT = "leadgen.frontend.anonymous"


class CsrfRefusedError(Exception):
    """A state-changing request without a valid token for its cookie."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def token_for(settings: Settings, nonce: str) -> str:
    """A fresh token for the nonce; the random part makes every rendered token different."""
    return signer(settings, _CSRF_SALT).dumps({"n": nonce, "r": secrets.token_urlsafe(6)})


def verify(settings: Settings, nonce: str | None, presented: str | None, max_age: int) -> None:
    """Raise ``CsrfRefusedError`` unless ``presented`` was issued for ``nonce`` within ``max_age``."""
    if not nonce:
        raise CsrfRefusedError("the form's cookie is missing or expired")
    if not presented:
        raise CsrfRefusedError("the form carries no security token")
    try:
        data = signer(settings, _CSRF_SALT).loads(presented, max_age=max_age)
    except BadSignature as exc:
        raise CsrfRefusedError("the form's security token is invalid or expired") from exc
    bound = data.get("n") if isinstance(data, dict) else None
    if not isinstance(bound, str) or not hmac.compare_digest(bound, nonce):
        raise CsrfRefusedError("the form's security token belongs to another session")


def anonymous_nonce(request: Request, settings: Settings) -> str | None:
    raw = request.cookies.get(ANON_COOKIE)
    if not raw:
        return None
    try:
        nonce = signer(settings, _ANON_SALT).loads(raw, max_age=ANON_MAX_AGE_SECONDS)
    except BadSignature:
        return None
    return nonce if isinstance(nonce, str) else None


def set_anonymous_cookie(response: Response, request: Request, settings: Settings, nonce: str) -> None:
    """(Re)issue the anonymous cookie; re-issuing on every form render keeps an open form alive."""
    value = signer(settings, _ANON_SALT).dumps(nonce)
    response.set_cookie(ANON_COOKIE, value, **cookie_options(request, settings, ANON_MAX_AGE_SECONDS))

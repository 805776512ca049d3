"""The dashboard's request dependencies: peers, the session, and CSRF-checked form bodies and their
fields."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from leadgen.core.settings import Settings
from leadgen.frontend import csrf
from leadgen.frontend.client import Peers
from leadgen.frontend.pages import PageError, SignInRequiredError, settings_of
from leadgen.frontend.session import WebSession, read_session, session_lifetime


def get_peers(request: Request) -> Peers:
    peers: Peers = request.app.state.peers
    return peers


def optional_session(request: Request) -> WebSession | None:
    return read_session(request, settings_of(request))


def require_session(viewer: Annotated[WebSession | None, Depends(optional_session)]) -> WebSession:
    if viewer is None:
        raise SignInRequiredError()
    return viewer


def require_staff(viewer: Annotated[WebSession, Depends(require_session)]) -> WebSession:
    if not viewer.is_staff:
        raise PageError(403, "Not allowed", "This page is for admins and managers.")
    return viewer


def require_admin(viewer: Annotated[WebSession, Depends(require_session)]) -> WebSession:
    if not viewer.is_admin:
        raise PageError(403, "Not allowed", "This page is for admins.")
    return viewer


def require_agent(viewer: Annotated[WebSession, Depends(require_session)]) -> WebSession:
    if not viewer.is_agent:
        raise PageError(403, "Not allowed", "Only agents have an inbox.")
    return viewer


async def session_form(request: Request, viewer: Annotated[WebSession, Depends(require_session)]) -> FormData:
    """The posted form of a signed-in user, refused unless its token matches the session."""
    settings = settings_of(request)
    form = await request.form()
    csrf.verify(settings, viewer.csrf_nonce, _token(form), session_lifetime(settings))
    return form


async def anonymous_form(request: Request) -> FormData:
    """A posted sign-in or quote form, refused unless its token matches the anonymous cookie."""
    settings = settings_of(request)
    form = await request.form()
    nonce = csrf.anonymous_nonce(request, settings)
    csrf.verify(settings, nonce, _token(form), csrf.ANON_MAX_AGE_SECONDS)
    return form


def form_text(form: FormData, name: str) -> str:
    """A text field of a posted form, stripped; empty when the form has none."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _token(form: FormData) -> str | None:
    value = form.get(csrf.FIELD)
    return value if isinstance(value, str) else None


PeersDep = Annotated[Peers, Depends(get_peers)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
Viewer = Annotated[WebSession, Depends(require_session)]
MaybeViewer = Annotated[WebSession | None, Depends(optional_session)]
Staff = Annotated[WebSession, Depends(require_staff)]
Admin = Annotated[WebSession, Depends(require_admin)]
Agent = Annotated[WebSession, Depends(require_agent)]
SessionForm = Annotated[FormData, Depends(session_form)]
AnonymousForm = Annotated[FormData, Depends(anonymous_form)]

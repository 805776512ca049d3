"""The frontend target: the server-rendered dashboard and the public quote form.

It has no database. Every page reads from and writes to the api (and the data-service, for the
funnel and agents) over HTTP, with the signed-in user's bearer token, so the api's rules on who
may see what apply here unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from leadgen.core.health import Health
from leadgen.core.http import create_service_app
from leadgen.core.logging import request_id_var
from leadgen.core.resources import Check, Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.frontend.client import Peers
from leadgen.frontend.pages import add_page_handlers
from leadgen.frontend.router import router

# Pages load only their own CSS and script, are never framed, and post only to themselves.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# Browsers that saw it come back over HTTPS only, for a year, to every subdomain too. Not in
# development, where the dashboard runs on plain HTTP and a browser would keep it for localhost.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
API_READINESS_CHECK = "api"
NextHandler = Callable[[Request], Awaitable[Response]]


def create_app(
    settings: Settings | None = None,
    resources: Resources | None = None,
    health: Health | None = None,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    """The dashboard app.

    Args:
        transports: per peer (``"api"``, ``"data-service"``), an httpx transport to use instead
            of the network; tests pass ``httpx.ASGITransport`` over the real apps.

    A readiness check named ``api`` is added to ``health``: the frontend is ready when the api's
    ``/readyz`` answers 200 (safe with a ``Health`` shared with the api in one process).
    """
    settings = settings or get_settings()
    health = health or Health()
    # Pages, not an API: no OpenAPI description or its UI on the public edge.
    app = create_service_app(
        "frontend", [router], settings, resources, health, docs_url=None, redoc_url=None, openapi_url=None
    )
    _manage_peers(app, settings, transports)

    health.checks[API_READINESS_CHECK] = _api_readiness(app)
    add_page_handlers(app)
    app.middleware("http")(_security_headers(strict_transport=not settings.is_development))
    app.mount("/static", StaticFiles(packages=[("leadgen.frontend", "static")]), name="static")
    return app


def _api_readiness(app: FastAPI) -> Check:
    """A check that the api answers its /readyz.

    When the api runs in this process with the same ``Health`` (``leadgen up``), the api's
    /readyz runs this very check again, which would ask the api again, without end. The probe
    request carries a request id unique to this app; the api's middleware puts it in the
    request-id context, so seeing it here means "called from inside our own probe": the api
    is answering, and the recursion stops.
    """
    marker = f"frontend-readiness-{secrets.token_hex(8)}"

    async def api_ready() -> None:
        if request_id_var.get() == marker:
            return
        peers: Peers = app.state.peers
        await peers.api_ready(marker)

    return api_ready


def _manage_peers(app: FastAPI, settings: Settings, transports: Mapping[str, httpx.AsyncBaseTransport] | None) -> None:
    """Open the peer clients inside the app's lifespan and close them after it."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with inner(app_):
            peers = Peers.create(settings, transports)
            app_.state.peers = peers
            try:
                yield
            finally:
                await peers.aclose()

    app.router.lifespan_context = lifespan


def _security_headers(strict_transport: bool) -> Callable[[Request, NextHandler], Awaitable[Response]]:
    async def add_headers(request: Request, call_next: NextHandler) -> Response:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("content-security-policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("x-content-type-options", "nosniff")
        headers.setdefault("referrer-policy", "same-origin")
        headers.setdefault("x-frame-options", "DENY")
        if strict_transport:
            headers.setdefault("strict-transport-security", STRICT_TRANSPORT_SECURITY)
        if not request.url.path.startswith("/static/"):
            # Pages show leads and carry per-session tokens: no shared or back-button caches.
            headers.setdefault("cache-control", "no-store")
        return response

    return add_headers

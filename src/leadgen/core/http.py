"""What every HTTP target shares: request ids, body limits, metrics, errors and the probes."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadgen.core.errors import add_exception_handlers, problem
from leadgen.core.health import Health
from leadgen.core.input import refuse_unknown_query_parameters
from leadgen.core.logging import request_id_var
from leadgen.core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.targets.registry import TARGETS

log = logging.getLogger(__name__)


class _HasId(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


Identified = TypeVar("Identified", bound=_HasId)
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
API_PREFIX = "/api/"


# A client's request id is kept only when it can travel on unchanged: the frontend copies it into its
# calls to the api, whose HTTP client encodes headers as ASCII, and every log line of the request
# carries it. These characters and this length take a UUID, 32 hex digits (nginx's $request_id, a
# W3C trace id), base64 and a prefixed id such as the frontend's readiness probe's; anything else
# (a character outside ASCII, a space, a kilobyte) gets an id of ours instead of an error.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


# An entity tag as If-Match lists it: optionally weak (W/), then a quoted opaque value (RFC 9110 §8.8.3).
_ENTITY_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*')


def revision_tag(revision: int) -> str:
    """A resource's revision as its (strong) ETag."""
    return f'"{revision}"'


def newest_first_page_answers(items: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answers of a list of ``items`` read newest first, a page at a time (``next_page``)."""
    return {
        200: {
            "description": f"The {items}, newest first",
            "headers": {"Link": {"description": 'The next page, `<…?before=<id>…>; rel="next"`, when there is one'}},
        },
        422: {"description": "Field errors, as problem details (an unknown parameter too)"},
    }


def next_page(request: Request, response: Response, rows: Sequence[Identified], limit: int) -> Sequence[Identified]:
    """The page of ``rows``, read one more than ``limit`` to tell whether another follows: when one
    does, the ``Link`` header names it, the same query ``before`` the page's last row."""
    if len(rows) > limit:
        following = request.url.include_query_params(before=str(rows[limit - 1].id))
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return rows[:limit]


def if_match_revisions(header: str | None) -> frozenset[int] | None:
    """The revisions an If-Match header names, compared strongly (RFC 9110 §13.1.1): None when the
    header is absent or ``*``, as any revision will do; a weak tag, or one that is not a revision of
    ours, names none, so a change sent with only such tags is refused."""
    if header is None or header.strip() == "*":
        return None
    named = set()
    for listed in header.split(","):
        tag = _ENTITY_TAG.fullmatch(listed)
        if tag and not tag.group(1) and tag.group(2).isdigit():
            named.add(int(tag.group(2)))
    return frozenset(named)


class Observe:
    """Request id, metrics and one access-log line per request, as plain ASGI (no body buffering;
    Starlette's ``BaseHTTPMiddleware`` costs several times more per request).

    An error nothing else answered is logged here, traceback and request id together, and answered
    with a problem+json 500 that carries the id; the server never sees it, so it is logged once.

    It also holds request bodies to ``max_body_bytes``: one declared longer is refused before any of
    it is read, and one that grows past it while read (chunked) stops the read. Both are a 413
    problem carrying the id, as every other refusal is. (FastAPI's own limit answers outside the
    middleware, in plain text and without the id.)
    """

    def __init__(self, app: ASGIApp, target: str, max_body_bytes: int) -> None:
        self.app = app
        self.target = target
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("ascii"))]
            await send(message)

        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise self._too_large()  # the endpoint reading the body answers it, as a problem
            return message

        try:
            if _declared_length(scope) > self.max_body_bytes:
                await _answer(self._too_large(), scope, receive, send_with_id)
            else:
                await self.app(scope, receive_within_limit, send_with_id)
        except Exception:
            log.exception("%s %s failed", scope["method"], _route_path(scope))
            if status is None:
                answer = problem(
                    500, "Internal Server Error", "an unexpected error; the X-Request-ID names it in our logs"
                )
                await answer(scope, receive, send_with_id)
            # An answer already begun is cut short: the server closes the connection.
        finally:
            self._record(scope, status or 500, time.perf_counter() - started)
            request_id_var.reset(token)

    def _too_large(self) -> StarletteHTTPException:
        return StarletteHTTPException(413, f"the body is over {self.max_body_bytes} bytes")

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        path = _route_path(scope)
        HTTP_REQUESTS.labels(self.target, scope["method"], path, status).inc()
        HTTP_LATENCY.labels(self.target, path).observe(elapsed)
        if path not in PROBE_PATHS:
            log.info("%s %s %s %.1fms", scope["method"], path, status, elapsed * 1000)


def _request_id(scope: Scope) -> str:
    """The client's X-Request-ID when it is fit to pass on, else a new one."""
    sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
    return sent if CLIENT_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def _declared_length(scope: Scope) -> int:
    """The body's Content-Length; 0 when none is given (or one that is no number: the server refuses it)."""
    declared = dict(scope["headers"]).get(b"content-length", b"")
    return int(declared) if declared.isdigit() else 0


async def _answer(error: StarletteHTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    await problem(error.status_code, HTTPStatus(error.status_code).phrase, str(error.detail))(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The route's template (``/leads/{lead_id}``): a label of few values, no ids in the logs."""
    return getattr(scope.get("route"), "path", "unmatched")


def probe_router(health: Health) -> APIRouter:
    router = APIRouter(tags=["probes"])

    @router.get("/healthz", summary="Liveness: the process runs and every part of it still works")
    async def healthz() -> JSONResponse:
        if health.failed is not None:
            return JSONResponse({"status": "failed", "reason": health.failed}, 503)
        return JSONResponse({"status": "ok"})

    @router.get("/readyz", summary="Readiness: dependencies answer and the process is not draining")
    async def readyz() -> JSONResponse:
        ready, report = await health.readiness()
        return JSONResponse({"status": "ok" if ready else "unavailable", "checks": report}, 200 if ready else 503)

    return router


def create_service_app(
    target: str,
    routers: list[APIRouter],
    settings: Settings | None = None,
    resources: Resources | None = None,
    health: Health | None = None,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A target's FastAPI app. Resources passed in are shared and owned by the caller;
    otherwise the app builds its own in the lifespan (how tests and single targets run)."""
    settings = settings or get_settings()
    health = health or Health()
    spec = TARGETS[target]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = resources is None
        res = resources or Resources.build(settings, spec.needs, target)
        app.state.resources = res
        app.state.settings = settings
        if own:
            await res.start()
            health.checks.update(res.checks)
            health.started = True
        try:
            yield
        finally:
            if own:
                await res.close()

    app = FastAPI(title=f"leadgen {target}", lifespan=lifespan, **fastapi_kwargs)
    app.state.health = health
    app.state.settings = settings
    app.add_middleware(Observe, target=target, max_body_bytes=settings.http.max_body_bytes)
    add_exception_handlers(app)
    app.include_router(probe_router(health))
    for router in routers:
        # The API judges every parameter; the dashboard's pages take links that carry others
        # (a campaign's utm_source), and read their own filters from the query.
        api_only = [Depends(refuse_unknown_query_parameters)] if router.prefix.startswith(API_PREFIX) else []
        app.include_router(router, dependencies=api_only)
    return app

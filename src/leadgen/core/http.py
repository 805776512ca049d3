"""What every HTTP target shares: request ids, body limits, metrics, errors and the probes."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from leadgen.core.errors import add_exception_handlers
from leadgen.core.health import Health
from leadgen.core.logging import request_id_var
from leadgen.core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.targets.registry import TARGETS

log = logging.getLogger(__name__)
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


def _observe(target: str) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(rid[:64])
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            request_id_var.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        HTTP_REQUESTS.labels(target, request.method, path, response.status_code).inc()
        HTTP_LATENCY.labels(target, path).observe(elapsed)
        response.headers["x-request-id"] = rid[:64]
        if path not in PROBE_PATHS:
            log.info(
                "%s %s %s %.1fms",
                request.method,
                path,
                response.status_code,
                elapsed * 1000,
                extra={"request_id": rid[:64]},
            )
        return response

    return middleware


def probe_router(health: Health) -> APIRouter:
    router = APIRouter(tags=["probes"])

    @router.get("/healthz", summary="Liveness: the process is running")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

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

    app = FastAPI(
        title=f"leadgen {target}", lifespan=lifespan, max_body_size=settings.http.max_body_bytes, **fastapi_kwargs
    )
    app.state.health = health
    app.state.settings = settings
    app.middleware("http")(_observe(target))
    add_exception_handlers(app)
    app.include_router(probe_router(health))
    for router in routers:
        app.include_router(router)
    return app

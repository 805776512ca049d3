"""What every HTTP target shares: request ids, body limits, metrics, errors and the probes."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadgen.core.errors import add_exception_handlers
from leadgen.core.health import Health
from leadgen.core.logging import request_id_var
from leadgen.core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.targets.registry import TARGETS

log = logging.getLogger(__name__)
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


class Observe:
    """Request id, metrics and one access-log line per request, as plain ASGI (no body buffering;
    Starlette's ``BaseHTTPMiddleware`` costs several times more per request)."""

    def __init__(self, app: ASGIApp, target: str) -> None:
        self.app = app
        self.target = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        rid = (headers.get(b"x-request-id", b"").decode("latin-1") or uuid.uuid4().hex)[:64]
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            self._record(scope, status, time.perf_counter() - started, rid)

    def _record(self, scope: Scope, status: int, elapsed: float, rid: str) -> None:
        path = getattr(scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(self.target, scope["method"], path, status).inc()
        HTTP_LATENCY.labels(self.target, path).observe(elapsed)
        if path not in PROBE_PATHS:
            log.info("%s %s %s %.1fms", scope["method"], path, status, elapsed * 1000, extra={"request_id": rid})


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

    app = FastAPI(
        title=f"leadgen {target}", lifespan=lifespan, max_body_size=settings.http.max_body_bytes, **fastapi_kwargs
    )
    app.state.health = health
    app.state.settings = settings
    app.add_middleware(Observe, target=target)
    add_exception_handlers(app)
    app.include_router(probe_router(health))
    for router in routers:
        app.include_router(router)
    return app

"""The public REST API target."""

from __future__ import annotations

from fastapi import FastAPI

from leadgen.auth.router import router as auth_router
from leadgen.compliance.router import router as opt_outs_router
from leadgen.core.health import Health
from leadgen.core.http import create_service_app
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads.router import router as leads_router
from leadgen.routing.router import router as assignments_router


def create_app(
    settings: Settings | None = None, resources: Resources | None = None, health: Health | None = None
) -> FastAPI:
    return create_service_app(
        "api",
        [auth_router, leads_router, assignments_router, opt_outs_router],
        settings,
        resources,
        health,
        description="Lead intake for sources (API keys) and the dashboard's data (bearer tokens).",
        version="1",
    )

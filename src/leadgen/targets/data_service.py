"""The data-service target: agents, sources, reports and the audit log."""

from __future__ import annotations

from fastapi import FastAPI

from leadgen.agents.router import router as agents_router
from leadgen.core.health import Health
from leadgen.core.http import create_service_app
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.privacy.router import router as privacy_router
from leadgen.reports.router import router as reports_router
from leadgen.routing.policy_router import router as policies_router
from leadgen.sources.router import router as sources_router


def create_app(
    settings: Settings | None = None, resources: Resources | None = None, health: Health | None = None
) -> FastAPI:
    return create_service_app(
        "data-service",
        [agents_router, sources_router, reports_router, privacy_router, policies_router],
        settings,
        resources,
        health,
    )

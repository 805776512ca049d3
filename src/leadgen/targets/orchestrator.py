"""The orchestrator target: the pipeline's HTTP face; its queue consumer runs beside it."""

from __future__ import annotations

from fastapi import FastAPI

from leadgen.core.health import Health
from leadgen.core.http import create_service_app
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.scoring.router import router as scoring_router
from leadgen.scoring.search import router as search_router


def create_app(
    settings: Settings | None = None, resources: Resources | None = None, health: Health | None = None
) -> FastAPI:
    return create_service_app("orchestrator", [scoring_router, search_router], settings, resources, health)

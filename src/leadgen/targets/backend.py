"""The backend target: notifications, admin jobs; produces background work."""

from __future__ import annotations

from fastapi import FastAPI

from leadgen.core.health import Health
from leadgen.core.http import create_service_app
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.notifications.router import router as notifications_router


def create_app(
    settings: Settings | None = None, resources: Resources | None = None, health: Health | None = None
) -> FastAPI:
    return create_service_app("backend", [notifications_router], settings, resources, health)

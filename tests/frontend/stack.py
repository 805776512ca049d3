"""The frontend with the real api and data-service behind it, the people in it, and browser helpers."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents.graph_sync import sync_all
from leadgen.auth.roles import Role
from leadgen.auth.service import create_user
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models.base import utcnow
from leadgen.pipeline.service import Pipeline, pipeline_for, process_lead, reopen, reroute
from leadgen.targets import api as api_target
from leadgen.targets import data_service as data_target
from leadgen.targets import frontend as frontend_target
from leadgen.targets import orchestrator as orchestrator_target
from leadgen.targets.registry import TARGETS
from tests import helpers

PASSWORD = "correct horse battery staple"
ADMIN = "admin@agency.example"
MANAGER = "max@agency.example"
ANA = "ana@agency.example"  # agent licensed for auto in Texas
BEN = "ben@agency.example"  # agent licensed for auto in California
TEXAS_ZIP = "75201"
CALIFORNIA_ZIP = "90210"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def embedded_settings(data_dir: Path, **groups: dict[str, Any]) -> Settings:
    """Development settings on SQLite in ``data_dir``, whatever the surrounding environment says."""
    return Settings(
        common={"data_dir": data_dir, "environment": "development"},
        db={"url": None},
        redis={"url": None, "sentinels": ""},
        **groups,
    )


@dataclass(frozen=True)
class People:
    ana_agent_id: uuid.UUID
    ben_agent_id: uuid.UUID


@asynccontextmanager
async def running(
    settings: Settings, transports: dict[str, httpx.AsyncBaseTransport] | None = None
) -> AsyncIterator[tuple[FastAPI, FastAPI, FastAPI]]:
    """The api, data-service and frontend apps with their lifespans, wired in memory."""
    api = api_target.create_app(settings)
    data = data_target.create_app(settings)
    orchestrator = orchestrator_target.create_app(settings)
    async with (
        api.router.lifespan_context(api),
        data.router.lifespan_context(data),
        orchestrator.router.lifespan_context(orchestrator),
    ):
        wired = transports or {
            "api": httpx.ASGITransport(app=api),
            "data-service": httpx.ASGITransport(app=data),
            "orchestrator": httpx.ASGITransport(app=orchestrator),
        }
        frontend = frontend_target.create_app(settings, transports=wired)
        async with frontend.router.lifespan_context(frontend):
            yield api, data, frontend


@asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[Resources]:
    """What a worker process holds (database, graph, vectors), to run the pipeline as it does."""
    resources = Resources.build(settings, TARGETS["worker"].needs, "test-worker")
    try:
        await resources.start()
        yield resources
    finally:
        await resources.close()


async def _in_worker(settings: Settings, stage: Callable[[AsyncSession, Pipeline], Awaitable[object]]) -> None:
    """Run a pipeline stage the way the worker's task does, agents created since start-up included."""
    async with worker(settings) as resources:
        assert resources.graph is not None
        async with resources.require_sessions()() as session:
            await sync_all(session, resources.graph)
        async with resources.unit_of_work() as session:
            await stage(session, pipeline_for(resources))


async def run_pipeline(settings: Settings, lead_id: uuid.UUID) -> None:
    """``pipeline.process_lead``: process one received lead."""
    await _in_worker(settings, lambda session, pipe: process_lead(session, pipe, lead_id, utcnow()))


async def run_reroute(settings: Settings, lead_id: uuid.UUID) -> None:
    """``pipeline.reroute`` (an offer was declined): offer the lead again."""
    await _in_worker(settings, lambda session, pipe: reroute(session, pipe, lead_id, utcnow()))


async def run_reopen(settings: Settings, lead_id: uuid.UUID) -> None:
    """``pipeline.reopen`` (staff reopened the lead): its round."""
    await _in_worker(settings, lambda session, pipe: reopen(session, pipe, lead_id, utcnow()))


# The car of every lead the tests send: one driver, one vehicle.
QUOTED_CAR = {
    "drivers": [{"age_first_licensed": 17}],
    "vehicles": [{"year": 2019, "make": "Toyota", "model": "Camry"}],
}


@dataclass
class Platform:
    settings: Settings
    api: FastAPI
    data_service: FastAPI
    frontend: FastAPI
    people: People

    def browser(self, base_url: str = "http://testserver") -> httpx.AsyncClient:
        """A fresh browser: its own cookie jar, talking to the frontend."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.frontend), base_url=base_url)

    def peer(self, app: FastAPI) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://peer")

    async def token(self, email: str) -> str:
        async with self.peer(self.api) as api:
            answer = await api.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    async def api_get(self, email: str, path: str) -> Any:
        """What the api itself says (to check the frontend changed or left state as expected)."""
        token = await self.token(email)
        async with self.peer(self.api) as api:
            answer = await api.get(path, headers={"authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def routed_lead(self, phone: str, zip_code: str = TEXAS_ZIP) -> uuid.UUID:
        """A web lead posted to the api's quote endpoint, then run through the real pipeline."""
        payload = {
            "line": "auto",
            "contact": {"first_name": "Dana", "last_name": "Reyes", "phone": phone, "address": {"zip": zip_code}},
            "details": QUOTED_CAR,
            "consent": True,
        }
        async with self.peer(self.api) as api:
            answer = await api.post(
                "/api/v1/quote-requests", json=payload, headers=helpers.vouched_as_frontend(self.settings)
            )
        assert answer.status_code == 202, answer.text
        lead_id = uuid.UUID(answer.json()["id"])
        await run_pipeline(self.settings, lead_id)
        return lead_id

    async def vendor_lead(self, phone: str, notes: str) -> uuid.UUID:
        """A lead a vendor posts with its API key, with notes (the quote form takes none), then run
        through the real pipeline."""
        async with self.api.state.resources.unit_of_work() as session:
            key = await helpers.api_key(session)
        payload = {
            "line": "auto",
            "origin": "phone",
            "contact": {"first_name": "Dana", "last_name": "Reyes", "phone": phone, "address": {"zip": TEXAS_ZIP}},
            "details": QUOTED_CAR,
            "notes": notes,
        }
        async with self.peer(self.api) as api:
            answer = await api.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
        assert answer.status_code == 202, answer.text
        lead_id = uuid.UUID(answer.json()["id"])
        await run_pipeline(self.settings, lead_id)
        return lead_id


async def add_people(settings: Settings) -> People:
    """Staff and two agents, through the real services: users with ``create_user``, agents
    through the data-service's API (so their licences and shifts are what routing reads)."""
    async with running(settings) as (api, data, frontend):
        platform = Platform(settings, api, data, frontend, People(uuid.UUID(int=0), uuid.UUID(int=0)))
        async with api.state.resources.unit_of_work() as session:
            await create_user(session, ADMIN, PASSWORD, Role.ADMIN, None, "test")
            await create_user(session, MANAGER, PASSWORD, Role.MANAGER, None, "test")
        token = await platform.token(ADMIN)
        ana = await add_agent(platform, token, "Ana Agent", "TX")
        ben = await add_agent(platform, token, "Ben Agent", "CA")
        async with api.state.resources.unit_of_work() as session:
            await create_user(session, ANA, PASSWORD, Role.AGENT, ana, "test")
            await create_user(session, BEN, PASSWORD, Role.AGENT, ben, "test")
    return People(ana, ben)


async def add_agent(platform: Platform, token: str, name: str, state: str, email: str | None = None) -> uuid.UUID:
    """An agent licensed for auto in ``state`` and on shift all week, through the data-service's API."""
    body = {
        "name": name,
        "email": email or f"{name.lower().replace(' ', '.')}@agents.example",
        "timezone": "America/Chicago",
        "licences": [{"state": state, "line": "auto", "expires_on": str(date.today() + timedelta(days=365))}],
        "shifts": [{"weekday": d, "starts_at": "00:00:00", "ends_at": time.max.isoformat()} for d in range(7)],
    }
    async with platform.peer(platform.data_service) as data:
        answer = await data.post("/api/v1/agents", json=body, headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    return uuid.UUID(answer.json()["id"])


class AnsweringOn(httpx.AsyncBaseTransport):
    """A peer's transport, except that one path answers with a problem of the given status."""

    def __init__(self, path: str, status: int, transport: httpx.AsyncBaseTransport) -> None:
        self._path = path
        self._status = status
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self._path:
            problem = {"type": "about:blank", "title": "Refused", "status": self._status, "detail": "refused"}
            return httpx.Response(self._status, json=problem, headers={"content-type": "application/problem+json"})
        return await self._transport.handle_async_request(request)


@asynccontextmanager
async def another_frontend(
    platform: Platform, settings: Settings | None = None, api: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[FastAPI]:
    """A second frontend before the platform's api and data-service: with other settings, or
    reaching the api through another transport."""
    transports = {
        "api": api or httpx.ASGITransport(app=platform.api),
        "data-service": httpx.ASGITransport(app=platform.data_service),
    }
    frontend = frontend_target.create_app(settings or platform.settings, transports=transports)
    async with frontend.router.lifespan_context(frontend):
        yield frontend


def csrf_token(html: str, action: str | None = None) -> str:
    """The CSRF token of the form posting to ``action`` (the first form's when None)."""
    start = html.index(f'action="{action}"') if action else 0
    found = CSRF.search(html, start)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await browser.get("/login")
    return await browser.post(
        "/login", data={"csrf_token": csrf_token(page.text, "/login"), "email": email, "password": password}
    )


@asynccontextmanager
async def signed_in(platform: Platform, email: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser with a session."""
    async with platform.browser() as browser:
        answer = await sign_in(browser, email)
        assert answer.status_code == 303, answer.text
        yield browser

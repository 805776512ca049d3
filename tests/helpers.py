"""Small factories for test data (agents, sources, users) written through the real services, and a
wait for what a process does in the background."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, time
from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.agents.schemas import AgentCreate, LicenceIn, ShiftIn
from leadgen.agents.service import create as create_agent
from leadgen.auth.roles import Role
from leadgen.auth.service import create_api_key, create_user
from leadgen.core.resources import Resources
from leadgen.core.security import CLIENT_IP_HEADER, CLIENT_IP_SIGNATURE_HEADER, sign_client_ip
from leadgen.core.settings import Settings, get_settings
from leadgen.leads.lifecycle import Line
from leadgen.models import Agent
from leadgen.models.base import utcnow
from leadgen.pipeline.service import pipeline_for, process_lead
from leadgen.sources.rules import SourceKind

ALL_DAY = (time(0, 0), time(23, 59, 59, 999999))
PASSWORD = "a-long-test-password"


async def agent(
    session: AsyncSession,
    states: list[str],
    lines: list[Line] | None = None,
    *,
    name: str | None = None,
    expires_on: date = date(2035, 1, 1),
    hours: tuple[time, time] = ALL_DAY,
    days: range = range(7),
    daily_cap: int = 1000,
    open_cap: int = 1000,
    timezone: str = "America/Chicago",
) -> Agent:
    name = name or f"Agent {uuid.uuid4().hex[:6]}"
    data = AgentCreate(
        name=name,
        email=f"{uuid.uuid4().hex[:10]}@agents.example.com",
        timezone=timezone,
        daily_cap=daily_cap,
        open_cap=open_cap,
        licences=[LicenceIn(state=s, line=li, expires_on=expires_on) for s in states for li in (lines or [Line.AUTO])],
        shifts=[ShiftIn(weekday=d, starts_at=hours[0], ends_at=hours[1]) for d in days],
    )
    return await create_agent(session, data, "test")


async def api_key(session: AsyncSession, source: str = "test-vendor") -> str:
    _, key = await create_api_key(session, source, SourceKind.VENDOR, "test")
    return key


async def user(session: AsyncSession, role: Role, agent_id: uuid.UUID | None = None) -> str:
    email = f"{uuid.uuid4().hex[:10]}@users.example.com"
    await create_user(session, email, PASSWORD, role, agent_id, "test")
    return email


async def bearer(client: AsyncClient, email: str) -> dict[str, str]:
    """The Authorization header of a user signed in through the API."""
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def vouched_as_frontend(settings: Settings | None = None, ip: str = "203.0.113.9") -> dict[str, str]:
    """The headers with which the frontend names the browser's address (``ip``), signed with the
    session secret (of ``settings``, the process's own unless given): the api takes a quote
    request only with them."""
    secret = (settings or get_settings()).security.session_secret.get_secret_value()
    signature = sign_client_ip(secret, ip)
    return {CLIENT_IP_HEADER: ip, CLIENT_IP_SIGNATURE_HEADER: signature}


async def submitted_and_processed(
    client: AsyncClient, resources: Resources, key: str, payload: dict[str, Any]
) -> uuid.UUID:
    """A lead posted with the source's key, then run through the pipeline as the orchestrator would
    (with the agents the test created synced to the graph first)."""
    from tests.conftest import sync_graph

    answer = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
    lead_id = uuid.UUID(answer.json()["id"])
    await sync_graph(resources)
    async with resources.unit_of_work() as session:
        await process_lead(session, pipeline_for(resources), lead_id, utcnow())
    return lead_id


async def eventually(check: Callable[[], Awaitable[None]]) -> None:
    """``check`` passes within about five seconds (work a process does in the background)."""
    for _ in range(100):
        try:
            await check()
            return
        except Exception:
            await asyncio.sleep(0.05)
    await check()


NEXT_PAGE_LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


async def every_page(client: AsyncClient, headers: dict[str, str], url: str) -> list[list[dict[str, Any]]]:
    """Each page of a list read newest first, following the answers' Link headers from ``url`` (the
    first page) to the last."""
    pages = []
    while True:
        answer = await client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        link = answer.headers.get("link")
        if link is None:
            return pages
        found = NEXT_PAGE_LINK.match(link)
        assert found, link
        url = found["url"]

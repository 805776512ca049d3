"""What the pipeline tests share: the api, a source's key, an agent licensed in Texas."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.settings import Settings
from leadgen.models import Agent
from leadgen.targets.api import create_app
from tests import helpers
from tests.conftest import started


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for c in started(create_app(settings)):
        yield c


@pytest.fixture
async def texas_agent(session: AsyncSession) -> Agent:
    """One agent licensed for auto in Texas, on shift around the clock, committed."""
    agent = await helpers.agent(session, ["TX"])
    await session.commit()
    return agent

"""What the pipeline tests share: an agent licensed in Texas (the api and a key: tests/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.models import Agent
from tests import helpers


@pytest.fixture
async def texas_agent(session: AsyncSession) -> Agent:
    """One agent licensed for auto in Texas, on shift around the clock, committed."""
    agent = await helpers.agent(session, ["TX"])
    await session.commit()
    return agent

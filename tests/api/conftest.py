"""The data-service app the API tests call, started with its lifespan (the api's is tests/conftest.py's ``client``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from leadgen.core.settings import Settings
from leadgen.targets import data_service
from tests.conftest import started


@pytest.fixture
async def data_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for c in started(data_service.create_app(settings)):
        yield c

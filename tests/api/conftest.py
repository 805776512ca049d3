"""The api and data-service apps the API tests call, each started with its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from leadgen.core.settings import Settings
from leadgen.targets import api, data_service
from tests.conftest import started


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for c in started(api.create_app(settings)):
        yield c


@pytest.fixture
async def data_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for c in started(data_service.create_app(settings)):
        yield c

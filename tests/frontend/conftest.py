"""The frontend against the real api and data-service apps, on a fresh SQLite file per test.

Nothing is mocked: the frontend's peer clients are routed to the real ASGI apps with
``httpx.ASGITransport``; each app runs its own lifespan (engine, rate limiter, broker).
Users and agents are created once per session in a copy of the migrated template database
(argon2 makes each user cost most of a second), and every test starts from a copy of that.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from leadgen.core.settings import Settings
from tests.frontend.stack import People, Platform, add_people, embedded_settings, running


@pytest.fixture(scope="session")
async def people_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, People]:
    folder = tmp_path_factory.mktemp("frontend-people")
    shutil.copy(sqlite_template, folder / "leadgen.db")
    people = await add_people(embedded_settings(folder))
    return folder / "leadgen.db", people


@pytest.fixture
def people(people_template: tuple[Path, People]) -> People:
    return people_template[1]


@pytest.fixture
def data_dir(people_template: tuple[Path, People], tmp_path: Path) -> Path:
    """This test's data directory, holding its own copy of the database."""
    folder = tmp_path / "data"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(people_template[0], folder / "leadgen.db")
    return folder


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return embedded_settings(data_dir)


@pytest.fixture
async def platform(settings: Settings, people: People) -> AsyncIterator[Platform]:
    async with running(settings) as (api, data, frontend):
        yield Platform(settings, api, data, frontend, people)

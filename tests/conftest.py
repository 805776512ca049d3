"""Shared fixtures: real PostgreSQL and Redis when present (required under CI=true), SQLite always.

Database tests run twice, once per backend, through the ``backend`` parameter. Each test gets
a fresh schema: SQLite copies a migrated template file; PostgreSQL truncates every table.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.migrate import upgrade
from leadgen.core.resources import VECTOR_FILL, Resources
from leadgen.core.runtime import close_task_runtime
from leadgen.core.settings import Settings, get_settings
from leadgen.models import Base
from leadgen.pipeline.service import Pipeline, pipeline_for
from leadgen.targets import api, data_service
from leadgen.targets.registry import DB, GRAPH, VECTORS
from tests import helpers

if TYPE_CHECKING:
    from tests.targets.processes import TcpProxy

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_URL = os.environ.get("LEADGEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BACKENDS = ["sqlite", "postgres"]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip on a laptop without the server; under CI=true a missing server is a failure."""
    if reachable(host, port):
        return
    if IN_CI:
        pytest.fail(f"{name} at {host}:{port} is required under CI=true but does not answer")
    pytest.skip(f"{name} is not running at {host}:{port}")


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def postgres_url(database: str | None = None) -> str:
    return f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{database or f'leadgen_test_{worker_id()}'}"


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set variables for a block and put back exactly what was there (session fixtures may run
    inside a test whose own environment must survive them)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No LEADGEN_* from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("LEADGEN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LEADGEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEADGEN_SECRETS_DIR", str(tmp_path / "no-secrets"))
    get_settings.cache_clear()
    # A command run in this process makes the umask private (``cli.output.private_data``), as it
    # does for a command's own process; the tests after it keep the one they started with.
    umask = os.umask(0o077)
    os.umask(umask)
    yield
    os.umask(umask)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its production cost takes ~0.3 s a hash; tests use the cheapest valid parameters."""
    from argon2 import PasswordHasher

    from leadgen.core import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    with environment(LEADGEN_DATA_DIR=str(folder)):
        upgrade(Settings())
    return folder / "leadgen.db"


@pytest.fixture(scope="session")
def postgres_database() -> str:
    """A database of this xdist worker's own, migrated once per session."""
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    import asyncpg

    name = f"leadgen_test_{worker_id()}"

    async def recreate() -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    with environment(LEADGEN_DB_URL=postgres_url(name)):
        upgrade(Settings())
    return postgres_url(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "data" / "leadgen.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, target)
        return f"sqlite+aiosqlite:///{target}"
    url = str(request.getfixturevalue("postgres_database"))
    # A loop of its own, never made the thread's current one: the tests' session loop stays as it is.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_empty(url))
    finally:
        loop.close()
    return url


async def _empty(url: str) -> None:
    """Every table of the worker's PostgreSQL database emptied, before the test rather than after
    it: a test whose processes or apps wrote without the ``resources`` fixture leaves nothing for
    the next one to count."""
    import asyncpg

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"TRUNCATE {tables} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def redis_url() -> str:
    require_server("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def settings_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a development process on the parametrised database."""
    env = {"LEADGEN_DB_URL": database_url, "LEADGEN_INTAKE_RATE_LIMIT": "1000/second"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return env


@pytest.fixture
def settings(settings_env: dict[str, str]) -> Settings:
    return get_settings()


@pytest.fixture
def worker(settings: Settings) -> Iterator[None]:
    """Celery tasks called here run in this process's task runtime, closed after the test."""
    yield
    close_task_runtime()


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    res = Resources.build(settings, frozenset({DB, GRAPH, VECTORS}), "test")
    await res.start()
    # The new collection's fill, in the background: done before the test, whose statements it would join.
    fill = res.set_ups[VECTOR_FILL]

    async def filled() -> None:
        assert fill.done

    await helpers.eventually(filled)
    yield res
    await res.close()


@pytest.fixture
def pipeline(resources: Resources) -> Pipeline:
    """The pipeline over the test's database, Qdrant local mode and the embedded graph."""
    return pipeline_for(resources)


async def sync_graph(resources: Resources) -> None:
    """Agents created by a test reach the graph the way a running platform's sync brings them."""
    from leadgen.agents.graph_sync import sync_all

    assert resources.graph is not None
    async with resources.require_sessions()() as s:
        await sync_all(s, resources.graph)


@pytest.fixture
def database_proxy() -> Iterator[TcpProxy]:
    """A TCP proxy in front of PostgreSQL, which a test cuts as an outage would."""
    from tests.targets.processes import TcpProxy  # which imports this module's addresses

    proxy = TcpProxy((PG_HOST, PG_PORT))
    yield proxy
    proxy.cut()


@pytest.fixture
async def data_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The data-service app, started with its lifespan (the api's is ``client``)."""
    async for c in started(data_service.create_app(settings)):
        yield c


@pytest.fixture
async def admin_headers(client: AsyncClient, session: AsyncSession) -> dict[str, str]:
    """The Authorization header of a signed-in admin."""
    user = await helpers.user(session, Role.ADMIN)
    await session.commit()
    return await helpers.bearer(client, user)


@pytest.fixture
async def session(resources: Resources) -> AsyncIterator[AsyncSession]:
    """A session whose work the test commits explicitly (``await session.commit()``)."""
    async with resources.require_sessions()() as s:
        yield s


@pytest.fixture
async def key(session: AsyncSession) -> str:
    """A source's API key (``tests.helpers.api_key``), committed."""
    plaintext = await helpers.api_key(session)
    await session.commit()
    return plaintext


async def started(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The api app, started with its lifespan. Tests that need other settings define their own."""
    async for c in started(api.create_app(settings)):
        yield c


def lead_payload(**overrides: Any) -> dict[str, Any]:
    """A valid auto lead from Austin, TX; pass overrides for top-level keys."""
    import uuid
    from datetime import UTC, datetime

    suffix = uuid.uuid4().int % 10_000
    payload: dict[str, Any] = {
        "line": "auto",
        "campaign": "spring-auto",
        "contact": {
            "first_name": "Pat",
            "last_name": "Doe",
            "email": f"pat{suffix}@example.com",
            "phone": f"512-555-{suffix:04d}",
            "address": {"street": "12 Oak Street", "city": "Austin", "zip": "78701"},
        },
        "currently_insured": True,
        "consent": {
            "text": "I agree to be contacted by licensed agents about insurance quotes.",
            "captured_at": datetime.now(UTC).isoformat(),
            "ip": "203.0.113.7",
            "page_url": "https://quotes.example.com/auto",
        },
        "details": {
            "drivers": [{"age_first_licensed": 17}],
            "vehicles": [{"year": 2019, "make": "Toyota", "model": "Camry"}],
        },
    }
    payload.update(overrides)
    return payload

"""Alembic wrapped for the CLI; the migrations ship inside the package so the image can migrate."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from leadgen.core.db import create_engine, is_sqlite
from leadgen.core.settings import Settings


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "leadgen:migrations")
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


async def _lock_and(settings: Settings, action: str, revision: str, sql: bool) -> None:
    """Hold a PostgreSQL advisory lock so two migration runs never interleave."""
    engine = create_engine(settings, "migrate-lock")
    try:
        if is_sqlite(engine) or sql:
            await asyncio.to_thread(_run, action, revision, sql)
            return
        # The lock belongs to the session, so the connection holds no transaction open meanwhile:
        # one would make CREATE INDEX CONCURRENTLY in a migration wait for it forever.
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("SELECT pg_advisory_lock(7245001)"))
            try:
                await asyncio.to_thread(_run, action, revision, sql)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(7245001)"))
    finally:
        await engine.dispose()


def _run(action: str, revision: str, sql: bool) -> None:
    config = alembic_config()
    if action == "upgrade":
        command.upgrade(config, revision, sql=sql)
    else:
        command.downgrade(config, revision, sql=sql)


def upgrade(settings: Settings, revision: str = "head", sql: bool = False) -> None:
    asyncio.run(_lock_and(settings, "upgrade", revision, sql))


def downgrade(settings: Settings, revision: str, sql: bool = False) -> None:
    asyncio.run(_lock_and(settings, "downgrade", revision, sql))


def current_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()

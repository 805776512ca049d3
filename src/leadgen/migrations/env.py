"""Alembic environment: runs on the engine the settings describe (SQLite or PostgreSQL), with the
limits of a migration (``leadgen.core.migrate``) instead of the app's."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from leadgen.core.migrate import DDL_LOCK_TIMEOUT_MS, migration_engine
from leadgen.core.settings import get_settings
from leadgen.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rewrites tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # Each revision commits on its own, its DDL with its version stamp: the locks its DDL takes
        # are not held through the revisions after it, and a run that fails (or is killed) keeps
        # the revisions done before and nothing of the one under way. SQLite's DDL is
        # transactional too on the migration engine (``leadgen.core.migrate``), not by default.
        transactional_ddl=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = migration_engine(get_settings(), "migrate", lock_timeout_ms=DDL_LOCK_TIMEOUT_MS)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=get_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())

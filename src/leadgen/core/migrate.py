"""Alembic wrapped for the CLI, and the operations the migration scripts share; the migrations ship
inside the package so the image can migrate.

A migration's connection is not the app's. It has no statement timeout: an index build or a
backfill may take minutes on a big table, and the app's limit would cancel it half done (the
Job's deadline bounds the run instead). It has a short lock timeout: a DDL statement waiting for
its table's lock queues every read and write of the table behind it, so it gives up after
``DDL_LOCK_TIMEOUT_MS`` and the upgrade (or downgrade) is tried again a little later, up to
``LOCK_ATTEMPTS`` times. A retry takes up where the last committed step left off, so every step that commits before
its revision is stamped (an index built CONCURRENTLY, a backfill in batches) must find what an
interrupted run of it left and complete it: ``add_column_if_missing``, ``create_index_concurrently``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from leadgen.core.db import create_engine, is_sqlite
from leadgen.core.settings import Settings

log = logging.getLogger(__name__)

# Long enough for a lock held by ordinary traffic (requests take milliseconds, and the app's own
# statements stop at its statement timeout), short enough that requests queued behind the waiting
# DDL are late rather than failed.
DDL_LOCK_TIMEOUT_MS = 5000
LOCK_ATTEMPTS = 6
LOCK_RETRY_PAUSE_SECONDS = 10.0
BATCH_ROWS = 10_000
_LOCK_NOT_AVAILABLE = "55P03"
_RELATIVE = re.compile(r"[+-]\d+$")
_ADVISORY_LOCK = 7245001


class MigrationLockTimeout(RuntimeError):
    """A migration's DDL found its table locked at every attempt."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "leadgen:migrations")
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def migration_engine(settings: Settings, process_name: str, lock_timeout_ms: int) -> AsyncEngine:
    """The settings' engine, on PostgreSQL with no statement timeout and ``lock_timeout_ms`` (0:
    none) instead of the app's limits; on SQLite with transactional DDL."""
    engine = create_engine(
        settings, process_name, limits={"statement_timeout": "0", "lock_timeout": str(lock_timeout_ms)}
    )
    if is_sqlite(engine):
        event.listen(engine.sync_engine, "connect", _driver_begins_nothing)
        event.listen(engine.sync_engine, "begin", _begin_explicitly)
    return engine


# Python's sqlite3 driver (and aiosqlite, which wraps it) begins a transaction only before an
# INSERT, UPDATE or DELETE, so a migration's CREATE and ALTER statements each committed at once: a
# process stopped part-way left a revision half applied and unstamped, which every later upgrade
# failed on ("duplicate column name"). SQLAlchemy's recipe for transactional DDL on SQLite (the
# sqlite dialect's "Using SQLAlchemy to emit BEGIN in lieu of SQLite's transaction control") takes
# the BEGIN over from the driver: a revision's DDL then commits with its version stamp.


def _driver_begins_nothing(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_explicitly(connection: sa.Connection) -> None:
    """BEGIN, except in an autocommit block (whose statements commit one by one, as the block
    says). Leaving such a block, SQLAlchemy hands the BEGIN back to the driver: taken back here."""
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is not None and dbapi_connection.isolation_level is not None:
        dbapi_connection.isolation_level = None
    connection.exec_driver_sql("BEGIN")


async def _lock_and(settings: Settings, action: str, revision: str, sql: bool) -> None:
    """Hold a PostgreSQL advisory lock so two migration runs never interleave."""
    # No lock timeout: a second run waits for the first to finish, however long it takes.
    engine = migration_engine(settings, "migrate-lock", lock_timeout_ms=0)
    try:
        if is_sqlite(engine) or sql:
            await asyncio.to_thread(_run, action, revision, sql)
            return
        # The lock belongs to the session, so the connection holds no transaction open meanwhile:
        # one would make CREATE INDEX CONCURRENTLY in a migration wait for it forever.
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"SELECT pg_advisory_lock({_ADVISORY_LOCK})"))
            try:
                await asyncio.to_thread(_run, action, revision, sql)
            finally:
                await conn.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_LOCK})"))
    finally:
        await engine.dispose()


def _run(action: str, revision: str, sql: bool) -> None:
    config = alembic_config()
    migrate = command.upgrade if action == "upgrade" else command.downgrade
    # Each try goes on from the last revision done: towards a relative target ("+1", "-1") a
    # second try would go that much further.
    attempts = 1 if _RELATIVE.search(revision) else LOCK_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            migrate(config, revision, sql=sql)
            return
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            if attempt == attempts:
                raise MigrationLockTimeout(_lock_timeout_message(error, action, attempts)) from error
            log.warning(
                "migration: a lock was still held after %d ms (%s); trying again in %.0f s (%d of %d)",
                DDL_LOCK_TIMEOUT_MS,
                _statement_of(error),
                LOCK_RETRY_PAUSE_SECONDS,
                attempt + 1,
                attempts,
            )
            time.sleep(LOCK_RETRY_PAUSE_SECONDS)


def _statement_of(error: DBAPIError) -> str:
    return " ".join(str(error.statement).split())[:200]


def _lock_timeout_message(error: DBAPIError, action: str, attempts: int) -> str:
    tries = "1 try" if attempts == 1 else f"{attempts} tries"
    return (
        f"the migration waited more than {DDL_LOCK_TIMEOUT_MS} ms for a lock ({tries}), at: "
        f"{_statement_of(error)}. A long transaction holds a lock on that table (pg_stat_activity and "
        f"pg_locks show which); end it or let it finish, then run `leadgen db {action}` again: the "
        "revisions done so far stay done."
    )


def upgrade(settings: Settings, revision: str = "head", sql: bool = False) -> None:
    asyncio.run(_lock_and(settings, "upgrade", revision, sql))


def downgrade(settings: Settings, revision: str, sql: bool = False) -> None:
    asyncio.run(_lock_and(settings, "downgrade", revision, sql))


def current_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# Operations for migration scripts (they run inside Alembic's migration context).


def _reading_postgresql() -> bool:
    """PostgreSQL with a connection to read from (not scripting ``--sql``)."""
    return not context.is_offline_mode() and op.get_context().dialect.name == "postgresql"


def add_column_if_missing(table_name: str, column: sa.Column[Any]) -> None:
    """ADD COLUMN, unless an interrupted run of the same migration added it already (with
    ``--sql``, where nothing can be read, always)."""
    if not context.is_offline_mode():
        present = {found["name"] for found in sa.inspect(op.get_bind()).get_columns(table_name)}
        if column.name in present:
            return
    op.add_column(table_name, column)


@contextmanager
def waiting_for_locks() -> Iterator[None]:
    """No lock timeout, inside an autocommit block, for a statement whose lock lets the table be read
    and written meanwhile (SHARE UPDATE EXCLUSIVE: an index built or dropped CONCURRENTLY, a foreign
    key validated). Such a statement also waits for every older transaction to end (a backup's
    snapshot, a long report), which the lock timeout would cancel, leaving an INVALID index."""
    if not _reading_postgresql():
        yield
        return
    op.execute("SET lock_timeout = 0")
    try:
        yield
    finally:
        op.execute("RESET lock_timeout")


def create_index_concurrently(
    name: str, table_name: str, columns: Sequence[str], *, unique: bool = False, where: sa.TextClause | None = None
) -> None:
    """CREATE INDEX CONCURRENTLY on PostgreSQL (a plain CREATE INDEX on SQLite), outside any
    transaction, so the table is written meanwhile. The work of the migration before it commits
    first. A build that was interrupted (cancelled, or its Job killed) leaves the index behind,
    INVALID, under its name: it is dropped and built again. An index built already is kept."""
    with op.get_context().autocommit_block(), waiting_for_locks():
        if _reading_postgresql() and _invalid_index(name):
            op.drop_index(name, table_name=table_name, postgresql_concurrently=True)
        op.create_index(
            name,
            table_name,
            list(columns),
            unique=unique,
            postgresql_concurrently=True,
            if_not_exists=not context.is_offline_mode(),
            **_partial(where),
        )


def drop_index_concurrently(name: str, table_name: str, *, where: sa.TextClause | None = None) -> None:
    """DROP INDEX CONCURRENTLY on PostgreSQL (a plain DROP INDEX on SQLite), if it is there."""
    with op.get_context().autocommit_block(), waiting_for_locks():
        op.drop_index(name, table_name=table_name, postgresql_concurrently=True, if_exists=True, **_partial(where))


def _partial(where: sa.TextClause | None) -> dict[str, Any]:
    """The keywords of an index of only the rows ``where`` selects (all, when None)."""
    return {"postgresql_where": where, "sqlite_where": where} if where is not None else {}


def _invalid_index(name: str) -> bool:
    query = text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)")
    return bool(op.get_bind().scalar(query, {"name": name}))


def id_batches(ids: sa.ColumnElement[uuid.UUID], size: int = BATCH_ROWS) -> Iterator[sa.ColumnElement[bool]]:
    """Conditions on ``ids`` (a table's primary key) that select its rows ``size`` at a time, in id
    order, each found as the one before it is used. Run each batch's statements in an autocommit
    block: a batch then commits on its own, holding its rows' locks only meanwhile and leaving
    vacuum a batch's old row versions at a time. With ``--sql`` one batch takes every row: the
    batches need to read where each ends."""
    if context.is_offline_mode():
        yield sa.true()
        return
    after: uuid.UUID | None = None
    while True:
        last_of_batch = sa.select(ids).order_by(ids).offset(size - 1).limit(1)
        end = op.get_bind().scalar(last_of_batch if after is None else last_of_batch.where(ids > after))
        yield sa.and_(ids > after if after is not None else sa.true(), ids <= end if end is not None else sa.true())
        if end is None:
            return
        after = end

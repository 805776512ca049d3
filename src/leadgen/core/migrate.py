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

On PostgreSQL a run holds an advisory lock, so that two runs (two Jobs, a Job and a one-off pod)
never interleave, and the server stops a run's statement once the run is gone (killed at its Job's
deadline). A database that a newer release migrated, at a revision this release does not ship, is
left as it is by an upgrade given no revision (the Job's), and refused by anything else.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leadgen.core.db import create_engine, is_sqlite
from leadgen.core.settings import Settings

log = logging.getLogger(__name__)

# Long enough for a lock held by ordinary traffic (requests take milliseconds, and the app's own
# statements stop at its statement timeout), short enough that requests queued behind the waiting
# DDL are late rather than failed.
DDL_LOCK_TIMEOUT_MS = 5000
LOCK_ATTEMPTS = 6
LOCK_RETRY_PAUSE_SECONDS = 10.0
# How often a run waiting for another one's advisory lock tries again, and says it still waits.
LOCK_POLL_SECONDS = 1.0
LOCK_WAIT_REPORT_SECONDS = 60.0
# How often the server checks, while a migration's statement runs, that the run is still there.
CLIENT_CHECK_INTERVAL_MS = 5000
BATCH_ROWS = 10_000
_LOCK_NOT_AVAILABLE = "55P03"
_RELATIVE = re.compile(r"[+-]\d+$")
_ADVISORY_LOCK = 7245001


# What downgrading each of these revisions loses for good: no upgrade gives it back.
LOSSY_DOWNGRADES = {
    "0020": "the consent records' phone and e-mail hashes (0020): an upgrade cannot take the erased leads' "
    "again, and a complaint naming such a number then finds no consent evidence",
    "0001": "every table (0001), the consent records included",
}


class MigrationLockTimeout(RuntimeError):
    """A migration's DDL found its table locked at every attempt."""


class DatabaseNewerThanRelease(RuntimeError):
    """The database is at a revision this release does not ship: a newer release migrated it."""


class LossyDowngrade(RuntimeError):
    """A downgrade would lose what no upgrade gives back, and nobody confirmed it."""

    def __init__(self, target: str, losses: list[str]) -> None:
        super().__init__(f"downgrading to {target} loses {'; and '.join(losses)}")
        self.target = target
        self.losses = losses


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "leadgen:migrations")
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def migration_engine(settings: Settings, process_name: str, lock_timeout_ms: int) -> AsyncEngine:
    """The settings' engine, on PostgreSQL with no statement timeout and ``lock_timeout_ms`` (0:
    none) instead of the app's limits; on SQLite with transactional DDL."""
    engine = create_engine(
        settings,
        process_name,
        limits={
            "statement_timeout": "0",
            "lock_timeout": str(lock_timeout_ms),
            # A run killed at its Job's deadline leaves its statement running on the server, while
            # the advisory lock goes with the killed run's other connection: the next run would
            # migrate beside it. PostgreSQL (14+) checks this often that the client is still there.
            "client_connection_check_interval": str(CLIENT_CHECK_INTERVAL_MS),
        },
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


async def _lock_and(
    settings: Settings, action: str, revision: str, sql: bool, ready: Callable[[tuple[str, ...]], bool]
) -> None:
    """Run Alembic's ``action`` if ``ready`` says so of the revision(s) the database is at; on
    PostgreSQL under an advisory lock, so two migration runs never interleave."""
    engine = migration_engine(settings, "migrate-lock", lock_timeout_ms=0)
    try:
        if sql:
            await asyncio.to_thread(_run, action, revision, sql)
            return
        if is_sqlite(engine):
            # Read, then closed: a read left open would hold off the migration's writes to the file.
            async with engine.connect() as conn:
                heads = await conn.run_sync(_database_heads)
            if ready(heads):
                await asyncio.to_thread(_run, action, revision, sql)
            return
        # The lock belongs to the session, so the connection holds no transaction open meanwhile:
        # one would make CREATE INDEX CONCURRENTLY in a migration wait for it forever.
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await _wait_for_the_lock(conn)
            try:
                if ready(await conn.run_sync(_database_heads)):
                    await asyncio.to_thread(_run, action, revision, sql)
            finally:
                await conn.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_LOCK})"))
    finally:
        await engine.dispose()


async def _wait_for_the_lock(conn: AsyncConnection) -> None:
    """Take the advisory lock, trying again every ``LOCK_POLL_SECONDS`` while another run holds it,
    however long that takes (a Job's deadline bounds it). Not ``pg_advisory_lock``: a statement
    waiting for the lock holds a snapshot all along, and the other run's CREATE INDEX CONCURRENTLY
    waits for every older snapshot to go, so each would wait for the other until the deadline.
    One try holds its snapshot for a moment only."""
    waiting_since: float | None = None
    reported_at = 0.0
    while not await conn.scalar(text(f"SELECT pg_try_advisory_lock({_ADVISORY_LOCK})")):
        now = time.monotonic()
        if waiting_since is None:
            waiting_since = reported_at = now
            log.warning(
                "migration: another migration run (%s) is under way; waiting for it to end", await _holder(conn)
            )
        elif now - reported_at >= LOCK_WAIT_REPORT_SECONDS:
            reported_at = now
            log.warning(
                "migration: still waiting for another migration run (%s) to end, for %.0f s now",
                await _holder(conn),
                now - waiting_since,
            )
        await asyncio.sleep(LOCK_POLL_SECONDS)


async def _holder(conn: AsyncConnection) -> str:
    """The session holding the advisory lock: its process id (for pg_stat_activity) and application name."""
    holding = await conn.execute(
        text(
            "SELECT activity.pid, activity.application_name FROM pg_locks JOIN pg_stat_activity activity "
            "USING (pid) WHERE locktype = 'advisory' AND objid = :key AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"key": _ADVISORY_LOCK},
    )
    holder = holding.first()
    return f"PostgreSQL process {holder.pid}, {holder.application_name}" if holder else "whose session has just ended"


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


def upgrade(settings: Settings, revision: str | None = None, sql: bool = False) -> None:
    """Migrate up to ``revision``; with none, to this release's head, and a database a newer release
    migrated already is left as it is (a warning says so): the migrations only add, so a release
    runs on a newer one's schema, as its pods do while the newer release rolls out. The previous
    release's migration Job, after a rollback, then has nothing to do."""
    ready = functools.partial(_ready_to_upgrade, revision)
    asyncio.run(_lock_and(settings, "upgrade", revision or "head", sql, ready))


def downgrade(settings: Settings, revision: str, sql: bool = False, losses_confirmed: bool = False) -> None:
    """Migrate down to ``revision``. Outside development, a downgrade that loses what no upgrade
    gives back (``LOSSY_DOWNGRADES``) needs ``losses_confirmed``."""
    ready = functools.partial(_ready_to_downgrade, settings, revision, losses_confirmed)
    asyncio.run(_lock_and(settings, "downgrade", revision, sql, ready))


def current_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _database_heads(connection: sa.Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()


def _ready_to_upgrade(target: str | None, heads: tuple[str, ...]) -> bool:
    newer = _not_shipped(heads)
    if not newer:
        return True
    if target is None:
        log.warning("migration: %s; nothing to do", _newer_than_this_release(newer))
        return False
    raise DatabaseNewerThanRelease(
        f"{_newer_than_this_release(newer)}: this release cannot take it to {target} (`leadgen db upgrade` "
        "with no revision leaves it as it is)"
    )


def _ready_to_downgrade(settings: Settings, target: str, losses_confirmed: bool, heads: tuple[str, ...]) -> bool:
    newer = _not_shipped(heads)
    if newer:
        raise DatabaseNewerThanRelease(
            f"{_newer_than_this_release(newer)}: this release does not know its revisions and cannot "
            "downgrade it; run the downgrade with the release that migrated it"
        )
    losses = [LOSSY_DOWNGRADES[revision] for revision in _undone(heads, target) if revision in LOSSY_DOWNGRADES]
    if losses and not (settings.is_development or losses_confirmed):
        raise LossyDowngrade(target, losses)
    return True


def _not_shipped(heads: tuple[str, ...]) -> list[str]:
    """The revisions in ``heads`` that this release has no script of."""
    shipped = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    return [head for head in heads if head not in shipped]


def _newer_than_this_release(revisions: list[str]) -> str:
    return (
        f"the database is at {', '.join(revisions)}, newer than this release's head {current_head()}: a newer "
        "release migrated it"
    )


def _undone(heads: tuple[str, ...], target: str) -> list[str]:
    """The revisions a downgrade from ``heads`` to ``target`` undoes, found as Alembic's downgrade
    finds them (whatever the target's spelling: base, -2, 0020-1), or none for a target it will
    refuse with its own message."""
    script = ScriptDirectory.from_config(alembic_config())
    try:
        return [found.revision for found in script.iterate_revisions(heads, target, select_for_downgrade=True)]
    except RevisionError:
        return []


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

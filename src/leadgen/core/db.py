"""Engine and session factories: SQLite for a laptop, PostgreSQL everywhere else."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, any_, bindparam, event, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import ORMExecuteState, QueryableAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause
from sqlalchemy.sql.visitors import InternalTraversal

from leadgen.core.settings import Settings
from leadgen.core.sqlite import configure_connection


def create_engine(settings: Settings, process_name: str, limits: Mapping[str, str] | None = None) -> AsyncEngine:
    """One engine per process, tagged with ``<environment>.<process>`` on PostgreSQL. Its errors
    leave out the statement's parameters: a lead's are its name, address and date of birth, which
    would reach the logs with the error. ``limits`` replace the app's session settings on PostgreSQL
    (a migration's timeouts), sent with each connection's start-up: the defaults a RESET goes back to."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {
        "server_settings": {
            "application_name": f"{settings.common.environment.value}.{process_name}"[:63],
            "statement_timeout": str(settings.db.statement_timeout_ms),
            # asyncpg prepares every statement once per connection, and PostgreSQL then settles on
            # a generic plan costed on the tables as they were: on a young database, nearly empty.
            # Routing's load counts kept such a plan while assignments grew to thousands of rows,
            # and PostgreSQL's CPU per lead went from 7 to 54 ms within a minute of load
            # (bench/pipeline). Planning each execution for its parameters costs far less.
            "plan_cache_mode": "force_custom_plan",
            **(limits or {}),
        }
    }
    engine = create_async_engine(
        url,
        pool_size=settings.db.pool_size,
        max_overflow=settings.db.max_overflow,
        pool_timeout=settings.db.pool_timeout_seconds,
        # Recycling stale connections instead of pinging on every checkout saves a round trip per
        # request; a connection the server dropped fails once and is replaced by the pool.
        pool_recycle=300,
        connect_args=connect_args,
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "do_connect", _connect_or_unreachable)
    return engine


class DatabaseUnreachable(ConnectionError):
    """A new connection to PostgreSQL could not be opened: refused, reset, timed out, or the server
    is starting up or shutting down. asyncpg raises such failures as they are (an OSError, one of
    its own errors), which SQLAlchemy passes on unwrapped: named here, they cannot be taken for a
    failure of another store."""


# A connection the server ended or would not take: class 08 (connection exception), and
# admin_shutdown, crash_shutdown and cannot_connect_now (a restart, a failover, a server starting).
_CONNECTION_LOST_SQLSTATE_CLASS = "08"
_CONNECTION_LOST_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def is_connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached, or dropped the connection: nothing
    of the statement's transaction is left on the server, and it may answer again in a moment
    (unless the connection dropped as the transaction committed, which it may have)."""
    if isinstance(exc, DatabaseUnreachable):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    # asyncpg's "connection is closed" comes as an InterfaceError; SQLAlchemy marks the connections
    # its dialect recognises as gone (connection_invalidated).
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    return _lost_connection_sqlstate(getattr(exc.orig, "sqlstate", None))


def _lost_connection_sqlstate(code: object) -> bool:
    return isinstance(code, str) and (
        code.startswith(_CONNECTION_LOST_SQLSTATE_CLASS) or code in _CONNECTION_LOST_SQLSTATES
    )


def _connect_or_unreachable(dialect: Dialect, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
    """Open a connection as the dialect does, naming a failure to reach the server (``DatabaseUnreachable``)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except dialect.loaded_dbapi.Error:
        raise  # the driver's errors as the dialect translated them, which SQLAlchemy wraps
    except Exception as exc:
        if isinstance(exc, OSError) or _lost_connection_sqlstate(getattr(exc, "sqlstate", None)):
            raise DatabaseUnreachable(f"cannot connect to the database: {type(exc).__name__}: {exc}") from exc
        raise


class InList(ColumnElement[bool]):
    """``column IN (the list bound to name)``, the list given at execution.

    On PostgreSQL it is ``column = ANY(one array parameter)``: the statement's text stays the same
    whatever the list's length, so each connection prepares it once, and nothing re-renders it per
    execution. Elsewhere it is an expanding IN.
    """

    type = Boolean()
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column: QueryableAttribute[Any] | ColumnElement[Any], name: str) -> None:
        self.column = column.__clause_element__() if isinstance(column, QueryableAttribute) else column
        self.name = name

    def self_group(self, against: Any = None) -> InList:
        return self  # already a comparison: no "= 1" around it on SQLite

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.column._from_objects  # the column's table joins the FROM of the statement


@compiles(InList)
def _expanding_in(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(InList, "postgresql")
def _equals_any(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    array = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(array), **kw)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    configure_connection(cursor.execute, busy_timeout_ms=30000, durable=True)
    cursor.close()


_AFTER_COMMIT = "leadgen.after_commit"
# Work for once a transaction has committed; one that returns an awaitable (a write to another
# store) is awaited.
AfterCommit = Callable[[], Awaitable[None] | None]


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the unit of work's transaction has committed (not if it rolls back)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def take_after_commit(session: AsyncSession) -> list[AfterCommit]:
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    return callbacks


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if is_sqlite(engine):
        return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=_SQLiteSession)
    return async_sessionmaker(engine, expire_on_commit=False)


class _SQLiteSession(Session):
    """A session on SQLite, which has no row locks: the first statement that would lock rows on
    PostgreSQL (``FOR UPDATE``) takes the database's write lock instead (``_write_lock_for_update``)."""


_BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"


@event.listens_for(_SQLiteSession, "do_orm_execute")
def _write_lock_for_update(state: ORMExecuteState) -> None:
    """SQLite ignores FOR UPDATE, and Python's driver begins a transaction only at its first write,
    so two transactions could both read a PENDING offer, or an agent's load under a cap, and both
    act on it. Where PostgreSQL would lock those rows, the transaction begins here by taking the
    write lock (waiting for another writer to commit, up to the busy timeout): from then on it is
    the only writer, as the row locks make it on PostgreSQL. Readers are not held up (WAL)."""
    if getattr(state.statement, "_for_update_arg", None) is None:  # set by Select.with_for_update
        return
    connection = state.session.connection()
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:  # a transaction that wrote already holds it
        connection.exec_driver_sql(_BEGIN_IMMEDIATE)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """The boundary owns the transaction: commit on success, roll back on error."""
    async with sessions() as session, session.begin():
        yield session


_PROCESS_LOCKS: dict[int, threading.Lock] = {}


@asynccontextmanager
async def exclusively(engine: AsyncEngine, key: int) -> AsyncIterator[async_sessionmaker[AsyncSession] | None]:
    """Sessions for work that one process does at a time, or None while another does it.

    On PostgreSQL the process takes the session advisory lock ``key`` without waiting, on one
    connection outside any transaction, which the sessions then use statement by statement: the work
    may take minutes, and holds one connection of the pool, not two, nor a transaction that would
    keep VACUUM from the rows it could clean. SQLite serves one process, whose event loops (the
    server's, the task runtime's) take a lock of the process instead."""
    if is_sqlite(engine):
        lock = _PROCESS_LOCKS.setdefault(key, threading.Lock())
        if not lock.acquire(blocking=False):
            yield None
            return
        try:
            yield create_sessionmaker(engine)
        finally:
            lock.release()
        return
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        if not (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})).scalar_one():
            yield None
            return
        try:
            yield async_sessionmaker(conn, expire_on_commit=False)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def insert_for(session: AsyncSession) -> Callable[[Any], PgInsert | SqliteInsert]:
    """The INSERT of the session's database, which has ``on_conflict_do_nothing`` / ``_do_update``
    (PostgreSQL's, else SQLite's: both speak ON CONFLICT)."""
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert

"""The ``leadgen`` command's boundary: a failure that is no bug of the command (a database it cannot
reach or use, a revision that does not exist) is one line on stderr and exit code 1 or 2, not a
traceback. The database is named by its host and port only: its URL may hold a password."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from typer.core import TyperGroup

from leadgen.cli.output import fail

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

# PostgreSQL's invalid_catalog_name and undefined_table.
_NO_SUCH_DATABASE = "3D000"
_NO_SUCH_TABLE = "42P01"
_SQLITE_NO_SUCH_TABLE = "no such table"
FIRST_STEP = "run `leadgen db upgrade`, or start `leadgen up` once"
USAGE = 2


class LeadgenGroup(TyperGroup):
    """The top command: every subcommand runs inside its ``invoke``."""

    def invoke(self, ctx: Any) -> Any:  # ctx: the Context of typer's own click, a private module
        try:
            return super().invoke(ctx)
        except Exception as exc:
            explained = explanation(exc)
            if explained is None:
                raise
            message, code = explained
            raise fail(message, code) from None


def explanation(exc: BaseException) -> tuple[str, int] | None:
    """What to say of ``exc``, and the exit code, when it is a known mistake; None for a bug."""
    # Imported on failure only: `leadgen --help` and the k8s commands start without them.
    from alembic.script.revision import ResolutionError
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError

    from leadgen.core.db import DatabaseUnreachable

    for error in _chain(exc):
        if isinstance(error, DatabaseUnreachable):
            cause = error.__cause__
            detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(error)
            return f"cannot reach the database at {_database_address()} ({detail})", 1
        if isinstance(error, DBAPIError):
            said = _database_answer(error)
            if said is not None:
                return said
        if isinstance(error, ResolutionError):
            return f"unknown revision {error.argument!r}: {_revisions()}", USAGE
    if isinstance(exc, CommandError):  # Alembic's word on a migration it will not run
        return f"migration: {exc}", 1
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _database_answer(error: DBAPIError) -> tuple[str, int] | None:
    """A database error that says the database, or its schema, is not there yet."""
    said = str(error.orig).splitlines()[0] if error.orig is not None else ""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate == _NO_SUCH_DATABASE:
        return f"{said} at {_database_address()}: create it, or correct LEADGEN_DB_URL", 1
    if sqlstate == _NO_SUCH_TABLE or said.startswith(_SQLITE_NO_SUCH_TABLE):
        return f"the database has no schema yet, or an older one ({said}): {FIRST_STEP}", 1
    return None


def _database_address() -> str:
    """host:port of the configured database, never its user or password."""
    from sqlalchemy.engine import make_url

    from leadgen.core.settings import ConfigError, get_settings

    try:
        url = make_url(get_settings().database_url)
    except ConfigError:
        return "the address LEADGEN_DB_URL names"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _revisions() -> str:
    from alembic.script import ScriptDirectory

    from leadgen.core.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    known = [revision.revision for revision in script.walk_revisions()]
    return f"this release's are {known[-1]} to {known[0]}, head and base, or relative to where the database is (-1, +1)"

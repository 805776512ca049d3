"""On SQLite a revision is all or nothing: its DDL and its version stamp commit together, so a run
cut short (an error, a process killed during the first `leadgen up`) leaves the revision before,
and the next upgrade completes the schema."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from leadgen.cli.main import app
from leadgen.core.migrate import current_head, upgrade
from leadgen.core.settings import Settings


class _Interrupted(RuntimeError):
    """Raised right after a chosen statement, as though the process had stopped there."""


@contextmanager
def _interrupted_after(statement: str) -> Iterator[None]:
    """Every engine raises right after it executes a statement starting with ``statement``."""

    def interrupt(_connection: object, _cursor: object, sql: str, *_: object) -> None:
        if sql.lstrip().startswith(statement):
            raise _Interrupted(statement)

    event.listen(Engine, "after_cursor_execute", interrupt)
    try:
        yield
    finally:
        event.remove(Engine, "after_cursor_execute", interrupt)


def _database(data_dir: Path) -> Path:
    return data_dir / "leadgen.db"


def _version(data_dir: Path) -> str | None:
    with sqlite3.connect(_database(data_dir)) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone():
            return None
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None


def _tables(data_dir: Path) -> set[str]:
    with sqlite3.connect(_database(data_dir)) as db:
        return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _columns(data_dir: Path, table_name: str) -> set[str]:
    with sqlite3.connect(_database(data_dir)) as db:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table_name})")}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The data directory of the test's settings (conftest's ``clean_environment``)."""
    return Path(os.environ["LEADGEN_DATA_DIR"])


def _no_agents(data_dir: Path) -> bool:
    return "agents" not in _tables(data_dir)


def _no_failed_sends(data_dir: Path) -> bool:
    return "failed_sends" not in _columns(data_dir, "notifications")


def _notifications_as_in_0004(data_dir: Path) -> bool:
    return "_alembic_tmp_notifications" not in _tables(data_dir) and "event_key" not in _columns(
        data_dir, "notifications"
    )


@pytest.mark.parametrize(
    ("before", "target", "statement", "stays_at", "as_before"),
    [
        # The first `leadgen up`: the initial schema, one CREATE TABLE in.
        (None, "0001", "CREATE TABLE agents", None, _no_agents),
        # An ADD COLUMN alone.
        ("0006", "0007", "ALTER TABLE notifications ADD COLUMN failed_sends", "0006", _no_failed_sends),
        # 0005 adds a column, then rewrites the table (batch mode). It runs after revisions with
        # autocommit blocks (0002) on the same connection, which leave it transactional again.
        ("0001", "0005", "CREATE TABLE _alembic_tmp_notifications", "0004", _notifications_as_in_0004),
    ],
    ids=["0001 after its first table", "0007 after its column", "0005 in its table rewrite"],
)
def test_a_revision_cut_short_leaves_the_one_before_and_the_next_upgrade_completes(
    data_dir: Path,
    before: str | None,
    target: str,
    statement: str,
    stays_at: str | None,
    as_before: Callable[[Path], bool],
) -> None:
    settings = Settings()
    if before is not None:
        upgrade(settings, before)
    with _interrupted_after(statement), pytest.raises(_Interrupted):
        upgrade(settings, target)
    assert _version(data_dir) == stays_at
    assert as_before(data_dir)
    upgrade(settings)
    assert _version(data_dir) == current_head()


_KILLED_AFTER = """
import os
from sqlalchemy import event
from sqlalchemy.engine import Engine

@event.listens_for(Engine, "after_cursor_execute")
def die(_connection, _cursor, statement, *_):
    if statement.lstrip().startswith({statement!r}):
        os._exit(9)

from leadgen.core.migrate import upgrade
from leadgen.core.settings import Settings
upgrade(Settings())
"""


def test_the_first_up_killed_mid_migration_is_completed_by_the_next_one(data_dir: Path) -> None:
    """kill -9 (or a closed laptop) during the initial schema: nothing of it was committed, and
    `leadgen db upgrade` (what `leadgen up` runs first) completes it."""
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER.format(statement="CREATE TABLE sources")],
        env=os.environ.copy(),
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == 9, killed.stderr.decode()
    assert "agents" not in _tables(data_dir) and _version(data_dir) is None
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert _version(data_dir) == current_head()

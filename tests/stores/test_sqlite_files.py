"""How the embedded stores open their SQLite files when several connections arrive at once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from leadgen.core.db import create_engine
from leadgen.core.settings import Settings
from leadgen.core.sqlite import configure_connection


def _open_together(path: Path, count: int) -> list[str]:
    """Open ``count`` connections on one new file at once, each writing; the journal mode each ends in."""
    start = threading.Barrier(count)
    modes: list[str] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        start.wait()
        try:
            configure_connection(conn.execute, busy_timeout_ms=5000)
            conn.execute("CREATE TABLE IF NOT EXISTS leads (id INTEGER PRIMARY KEY)")
            modes.append(conn.execute("PRAGMA journal_mode").fetchone()[0])
        except BaseException as error:
            errors.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=open_one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return modes


def test_connections_opening_a_new_file_together_all_end_in_wal_mode(tmp_path: Path) -> None:
    # SQLite refuses one of two simultaneous switches to WAL without waiting; without the retry about
    # one attempt in six failed here, so forty of them catch a regression every time.
    for attempt in range(40):
        assert _open_together(tmp_path / f"race-{attempt}.sqlite3", 3) == ["wal"] * 3


def test_a_file_that_stays_locked_fails_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "held.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        waiter = sqlite3.connect(path, isolation_level=None)
        try:
            configure_connection(waiter.execute, busy_timeout_ms=50)
        except sqlite3.OperationalError as error:
            assert "locked" in str(error)
        else:
            raise AssertionError("a connection configured itself on a file another one holds locked")
        finally:
            waiter.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_database_commits_to_disk_before_a_lead_is_answered(settings: Settings, backend: str) -> None:
    """A lead answered 202 survives a power cut on a laptop: FULL, where the stores rebuilt from
    the database (the graph) keep NORMAL."""
    engine = create_engine(settings, "api")
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA synchronous")) == 2  # FULL
    finally:
        await engine.dispose()

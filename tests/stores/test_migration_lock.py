"""Migration runs that meet on PostgreSQL: two at once (two Jobs, a Job and a one-off pod), and one
killed at its Job's deadline, whose statement must not outlive it. Each run is a real
``leadgen db upgrade`` process."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from leadgen.core import migrate
from leadgen.core.migrate import CLIENT_CHECK_INTERVAL_MS, current_head, upgrade
from leadgen.core.settings import Settings
from tests.stores.test_migrations import (
    _connect,
    _in_background,
    _snapshot_held,
    _version_and_invalid_indexes,
    _waiting,
)
from tests.stores.test_migrations import postgres_database as postgres_database  # the fixture
from tests.stores.test_migrations import runner as runner  # the fixture

# 0009 builds an index CONCURRENTLY, and so do revisions after it.
BEFORE_AN_INDEX_BUILD = "0008"
RUN_SECONDS = 90


@pytest.fixture
def upgrades() -> Iterator[list[subprocess.Popen[str]]]:
    """``leadgen db upgrade`` processes the test starts (in the test's environment, hence on its
    database), killed at its end if still running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for run in started:
        if run.poll() is None:
            run.kill()
        run.communicate()


def _upgrading(upgrades: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    run = subprocess.Popen(
        [sys.executable, "-m", "leadgen", "db", "upgrade"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    upgrades.append(run)
    return run


async def _second_run_tries_the_lock(settings: Settings) -> None:
    """Once two runs' lock sessions are open and the newer has asked for the advisory lock."""
    conn = await _connect(settings)
    try:
        for _ in range(400):
            queries = await conn.fetch(
                "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name LIKE '%.migrate-lock' ORDER BY backend_start"
            )
            if len(queries) == 2 and "advisory_lock(" in queries[1]["query"]:
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError("the second run never asked for the lock")


def test_two_upgrades_at_once_both_finish_the_second_after_the_first(
    postgres_database: Settings, runner: asyncio.Runner, upgrades: list[subprocess.Popen[str]]
) -> None:
    """The first run's index build waits for a backup meanwhile, so that the second asks for the
    lock while the first has index builds to come. A second run waiting in ``pg_advisory_lock``
    held a snapshot, which the first's next CREATE INDEX CONCURRENTLY waited for: each waited for
    the other until the Job's deadline."""
    upgrade(postgres_database, BEFORE_AN_INDEX_BUILD)
    backup = runner.run(_snapshot_held(postgres_database))
    try:
        first = _upgrading(upgrades)
        runner.run(_waiting(postgres_database, "CREATE"))
        second = _upgrading(upgrades)
        runner.run(_second_run_tries_the_lock(postgres_database))
    finally:
        runner.run(backup.close())
    first_said = first.communicate(timeout=RUN_SECONDS)
    second_said = second.communicate(timeout=RUN_SECONDS)
    assert (first.returncode, second.returncode) == (0, 0), (first_said, second_said)
    assert "another migration run (PostgreSQL process" in second_said[1]
    assert "is under way; waiting for it to end" in second_said[1]
    assert runner.run(_version_and_invalid_indexes(postgres_database)) == (current_head(), [])


def test_a_run_waiting_for_the_lock_says_whose_it_is_now_and_then(
    postgres_database: Settings,
    runner: asyncio.Runner,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=migrate.__name__)
    monkeypatch.setattr(migrate, "LOCK_POLL_SECONDS", 0.05)
    monkeypatch.setattr(migrate, "LOCK_WAIT_REPORT_SECONDS", 0.2)
    holder = runner.run(_connect(postgres_database, application_name="production.migrate-lock"))
    try:
        runner.run(holder.execute(f"SELECT pg_advisory_lock({migrate._ADVISORY_LOCK})"))
        upgrading = _in_background("0001", postgres_database)
        time.sleep(0.5)
        assert not upgrading.done(), upgrading.exception()
    finally:
        runner.run(holder.close())
    upgrading.result(timeout=30)
    assert runner.run(_version_and_invalid_indexes(postgres_database)) == ("0001", [])
    whose = f"another migration run (PostgreSQL process {holder.get_server_pid()}, production.migrate-lock)"
    assert caplog.messages.count(f"migration: {whose} is under way; waiting for it to end") == 1
    assert any(said.startswith(f"migration: still waiting for {whose} to end, for ") for said in caplog.messages)


async def _ended_within(settings: Settings, pid: int, seconds: float) -> bool:
    conn = await _connect(settings)
    try:
        for _ in range(int(seconds / 0.1)):
            if not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
                return True
            await asyncio.sleep(0.1)
        return False
    finally:
        await conn.close()


def test_a_run_killed_at_its_deadline_leaves_no_statement_running(
    postgres_database: Settings, runner: asyncio.Runner, upgrades: list[subprocess.Popen[str]]
) -> None:
    """Killed while its index build waits for a backup, the run's lock goes at once with its
    session. Its build went on (until the backup ended), and the next run migrated beside it."""
    upgrade(postgres_database, BEFORE_AN_INDEX_BUILD)
    backup = runner.run(_snapshot_held(postgres_database))
    try:
        killed = _upgrading(upgrades)
        building = runner.run(_waiting(postgres_database, "CREATE"))
        killed.kill()  # the Job's deadline: SIGTERM, then SIGKILL
        killed.communicate()
        assert runner.run(_ended_within(postgres_database, building, CLIENT_CHECK_INTERVAL_MS / 1000 + 5))
    finally:
        runner.run(backup.close())
    upgrade(postgres_database)  # the next run rebuilds the index the killed one left INVALID
    assert runner.run(_version_and_invalid_indexes(postgres_database)) == (current_head(), [])

"""Fixtures of the privacy tests: a backup of the test's database, restored into one of its own."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import worker_id
from tests.targets.processes import drop_database, fresh_database


@pytest.fixture
def backup(settings_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], Awaitable[str]]]:
    """Takes a backup of the test's database and restores it into a database of its own, as the
    backups do (SQLite: its online backup; PostgreSQL: ``pg_dump --format=custom``, as the
    postgres-backup CronJob, and ``pg_restore``): the restored database's URL."""
    url = settings_env["LEADGEN_DB_URL"]
    name = f"leadgen_test_restored_{worker_id()}"

    async def take() -> str:
        if url.startswith("sqlite"):
            restored_file = tmp_path / "restored.db"
            source, copy = sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///")), sqlite3.connect(restored_file)
            try:
                source.backup(copy)
            finally:
                source.close()
                copy.close()
            return f"sqlite+aiosqlite:///{restored_file}"
        if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
            pytest.skip("PostgreSQL's client tools (pg_dump, pg_restore) are not installed")
        dump, restored = tmp_path / "leadgen.dump", await fresh_database(name)
        for command in (
            ["pg_dump", "--format=custom", f"--file={dump}", _libpq(url)],
            ["pg_restore", "--no-owner", f"--dbname={_libpq(restored)}", str(dump)],
        ):
            await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True, timeout=60)
        return restored

    yield take
    if not url.startswith("sqlite"):
        # A loop of its own, never made the thread's current one (as ``tests.conftest.database_url``).
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(drop_database(name))
        finally:
            loop.close()


def _libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")

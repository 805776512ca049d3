"""A database a newer release migrated, at a revision this release does not ship (after a rollback,
the previous release's migration Job meets one): the Job's upgrade, given no revision, leaves it as
it is; anything else is refused, saying so. On both backends."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from leadgen.cli.main import app
from leadgen.core import migrate
from leadgen.core.migrate import current_head, upgrade
from leadgen.core.settings import Settings
from tests.stores.test_migrations import _session
from tests.stores.test_migrations import empty_database as empty_database  # the fixture, for both backends

NOT_SHIPPED = "9999"


async def _stamp(settings: Settings, revision: str) -> None:
    async with _session(settings) as session:
        await session.execute(text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision})


async def _version(settings: Settings) -> str:
    async with _session(settings) as session:
        return str(await session.scalar(text("SELECT version_num FROM alembic_version")))


@pytest.fixture
def migrated_by_a_newer_release(empty_database: Settings) -> Settings:
    upgrade(empty_database, "0001")
    asyncio.run(_stamp(empty_database, NOT_SHIPPED))
    return empty_database


def test_the_jobs_upgrade_leaves_it_as_it_is_and_says_why(
    migrated_by_a_newer_release: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=migrate.__name__)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (
        f"the database is at {NOT_SHIPPED}, newer than this release's head {current_head()}: a newer release "
        "migrated it; nothing to do"
    ) in caplog.text
    assert asyncio.run(_version(migrated_by_a_newer_release)) == NOT_SHIPPED


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        (["db", "upgrade", "head"], "this release cannot take it to head"),
        (["db", "upgrade", "+1"], "this release cannot take it to +1"),
        (["db", "upgrade", NOT_SHIPPED], f"this release cannot take it to {NOT_SHIPPED}"),
        (["db", "downgrade", "-1"], "cannot downgrade it; run the downgrade with the release that migrated it"),
        (["db", "downgrade", "base"], "cannot downgrade it; run the downgrade with the release that migrated it"),
    ],
)
def test_anything_else_is_refused_saying_the_database_is_newer(
    migrated_by_a_newer_release: Settings, command: list[str], refusal: str
) -> None:
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output
    said = " ".join(result.stderr.split())
    assert f"the database is at {NOT_SHIPPED}, newer than this release's head {current_head()}" in said
    assert refusal in said
    assert asyncio.run(_version(migrated_by_a_newer_release)) == NOT_SHIPPED


def test_an_unknown_target_stays_an_error(empty_database: Settings) -> None:
    upgrade(empty_database, "0001")
    result = CliRunner().invoke(app, ["db", "upgrade", NOT_SHIPPED])
    assert result.exit_code == 2, result.output
    assert f"unknown revision '{NOT_SHIPPED}'" in result.stderr
    assert asyncio.run(_version(empty_database)) == "0001"

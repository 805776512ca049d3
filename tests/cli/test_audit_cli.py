"""`leadgen audit list`: the audit log from the command line, as GET /api/v1/audit reads it."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner, Result

from leadgen.cli.main import app
from leadgen.core.db import create_engine, create_sessionmaker, transaction
from leadgen.core.settings import get_settings
from leadgen.models import AuditEntry

T0 = datetime(2020, 11, 20, 9, 0, tzinfo=UTC)


def _audit(*args: str) -> Result:
    return CliRunner().invoke(app, ["audit", "list", *args])


def _logged(*entries: tuple[datetime, str, str]) -> list[uuid.UUID]:
    """Entries (when, action, actor) written to the test's database: their ids."""

    async def write() -> list[uuid.UUID]:
        engine = create_engine(get_settings(), "test")
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                rows = [
                    AuditEntry(actor=actor, action=action, subject_type="agent", subject_id="a-1", created_at=at)
                    for at, action, actor in entries
                ]
                session.add_all(rows)
                await session.flush()
                return [row.id for row in rows]
        finally:
            await engine.dispose()

    return asyncio.run(write())


def _ids(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [entry["id"] for entry in json.loads(result.stdout)]


def test_filters_and_pages_as_the_api_does(settings_env: dict[str, str]) -> None:
    change, *views = _logged(
        (T0, "agent.updated", "user:admin"), *((T0 + timedelta(seconds=s), "lead.viewed", "user:agent") for s in (1, 2))
    )
    assert _ids(_audit("--action", "agent.updated", "--json")) == [str(change)]
    assert _ids(_audit("--actor", "user:agent", "--limit", "1", "--json")) == [str(views[1])]
    assert _ids(_audit("--actor", "user:agent", "--before", str(views[1]), "--json")) == [str(views[0])]
    # A time without a zone is UTC; --until is not included.
    window = ("--since", "2020-11-20T09:00:01", "--until", "2020-11-20T04:00:02-05:00", "--json")
    assert _ids(_audit(*window)) == [str(views[0])]
    [shown] = json.loads(_audit("--action", "agent.updated", "--json").stdout)
    assert shown == {
        "id": str(change),
        "at": "2020-11-20T09:00:00Z",
        "actor": "user:admin",
        "action": "agent.updated",
        "subject_type": "agent",
        "subject_id": "a-1",
        "data": {},
    }


def test_a_table_for_people_says_how_to_read_older_entries(settings_env: dict[str, str]) -> None:
    _, newer = _logged((T0, "lead.viewed", "user:agent"), (T0 + timedelta(seconds=1), "lead.viewed", "user:agent"))
    first = _audit("--action", "lead.viewed", "--limit", "1")
    assert first.exit_code == 0, first.output
    assert "2020-11-20 09:00:01" in first.stdout and "2020-11-20 09:00:00" not in first.stdout
    assert first.stdout.splitlines()[-1] == f"older entries: the same command with --before {newer}"
    last = _audit("--action", "lead.viewed", "--before", str(newer))
    assert "2020-11-20 09:00:00" in last.stdout and "--before" not in last.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "yesterday"], "--since"),
        (["--since", "2020-11-21", "--until", "2020-11-20"], "--until"),
        (["--limit", "0"], "--limit"),
        (["--limit", "501"], "--limit"),
        (["--action", ""], "--action"),
        (["--before", "42"], "--before"),
        (["--before", "00000000-0000-4000-8000-000000000000"], "--before"),  # no such entry
    ],
)
def test_a_bad_option_is_exit_code_2_naming_it(settings_env: dict[str, str], args: list[str], named: str) -> None:
    result = _audit(*args)
    assert result.exit_code == 2, result.output
    assert named in result.stderr and "Traceback" not in result.output

"""Common mistakes get one line saying what is wrong and what to do, exit code 1 or 2, never a
traceback, and never the database's password."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from leadgen.cli.main import app
from leadgen.core.settings import ConfigError, Settings
from tests.conftest import PG_HOST, PG_PORT, require_server, worker_id
from tests.targets.processes import drop_database, fresh_database

PASSWORD = "hunter2-do-not-print"
# Nothing listens on port 1 of the loopback address: the connection is refused at once.
UNREACHABLE = f"postgresql://leadgen:{PASSWORD}@127.0.0.1:1/leadgen"


def _leadgen(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _said_in_one_line(result: Result, code: int, *fragments: str) -> str:
    """The one line on stderr, after checking the exit code, the fragments and that no secret and
    no traceback was printed."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and PASSWORD not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def development(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `leadgen up` sets for itself, undone after the test."""
    monkeypatch.setenv("LEADGEN_ENVIRONMENT", "development")


@pytest.mark.parametrize("command", [["sources", "list"], ["db", "upgrade"], ["up"]])
@pytest.mark.usefixtures("development")
def test_an_unreachable_database_is_named_by_its_address(monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    monkeypatch.setenv("LEADGEN_DB_URL", UNREACHABLE)
    # `up` binds its ports before it migrates: ports of its own, out of the way of other tests.
    monkeypatch.setenv("LEADGEN_HTTP_PORT_OFFSET", str(30000 + os.getpid() % 2000 * 10))
    _said_in_one_line(_leadgen(*command), 1, "cannot reach the database at 127.0.0.1:1 (", "ConnectionRefusedError")


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("notaurl", "not a database URL"),
        (f"postgresql://leadgen:{PASSWORD}@db.internal:fivefour/leadgen", "not a database URL"),
        (f"mysql://leadgen:{PASSWORD}@db.internal/leadgen", "mysql is not a database the platform runs on"),
    ],
)
def test_a_database_url_that_cannot_be_used_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, url: str, named: str
) -> None:
    monkeypatch.setenv("LEADGEN_DB_URL", url)
    with pytest.raises(ConfigError) as error:
        Settings()
    assert [problem.split(":")[0] for problem in error.value.problems] == ["LEADGEN_DB_URL"]
    assert named in error.value.problems[0] and PASSWORD not in str(error.value)
    result = _leadgen("sources", "list")
    assert result.exit_code == 2 and "LEADGEN_DB_URL" in result.stderr and named in result.stderr
    assert "Traceback" not in result.output and PASSWORD not in result.output


@pytest.mark.parametrize(
    "url",
    [
        # A base64 password holding a "/": redis-py read its first part as the port, and said so.
        "redis://:c2VjcmV0cGFz/cw+hunter2-do-not-print==@redis.internal:6379/0",
        f"memcached://:{PASSWORD}@cache.internal:11211",
    ],
)
def test_a_redis_url_that_cannot_be_used_is_a_configuration_error_that_does_not_repeat_it(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("LEADGEN_REDIS_URL", url)
    with pytest.raises(ConfigError) as error:
        Settings()
    assert [problem.split(":")[0] for problem in error.value.problems] == ["LEADGEN_REDIS_URL"]
    assert "not a Redis URL" in error.value.problems[0]
    assert "c2VjcmV0cGFz" not in str(error.value) and PASSWORD not in str(error.value)
    result = _leadgen("sources", "list")
    assert result.exit_code == 2 and "LEADGEN_REDIS_URL" in result.stderr
    assert "c2VjcmV0cGFz" not in result.output and PASSWORD not in result.output


def test_an_empty_database_url_means_the_sqlite_file_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_DB_URL", "")
    settings = Settings()
    assert settings.database_url == f"sqlite+aiosqlite:///{settings.common.data_dir / 'leadgen.db'}"


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_an_unknown_revision_is_named(command: str) -> None:
    _said_in_one_line(_leadgen("db", command, "nonsense"), 2, "unknown revision 'nonsense'")


def test_a_revision_alembic_will_not_go_to_is_its_one_line() -> None:
    assert _leadgen("db", "upgrade", "0003").exit_code == 0
    _said_in_one_line(
        _leadgen("db", "downgrade", "0005"), 1, "migration: Destination 0005 is not a valid downgrade target"
    )


@pytest.fixture
def missing_postgres_database() -> Iterator[str]:
    """The URL of a database the PostgreSQL server does not have."""
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    name = f"leadgen_test_missing_{worker_id()}"
    asyncio.run(drop_database(name))
    yield f"postgresql://postgres:{PASSWORD}@{PG_HOST}:{PG_PORT}/{name}"


def test_a_missing_postgres_database_is_named(monkeypatch: pytest.MonkeyPatch, missing_postgres_database: str) -> None:
    monkeypatch.setenv("LEADGEN_DB_URL", missing_postgres_database)
    name = missing_postgres_database.rsplit("/", 1)[1]
    _said_in_one_line(
        _leadgen("db", "upgrade"), 1, f'database "{name}" does not exist', f"{PG_HOST}:{PG_PORT}", "LEADGEN_DB_URL"
    )


NO_SCHEMA = "the database has no schema yet, or an older one"
FIRST_STEP = "run `leadgen db upgrade`, or start `leadgen up` once"


@pytest.mark.parametrize("command", [["sources", "list"], ["api-keys", "create", "acme-leads"], ["demo", "load"]])
def test_commands_before_the_first_up_say_to_create_the_schema(command: list[str]) -> None:
    _said_in_one_line(_leadgen(*command), 1, NO_SCHEMA, FIRST_STEP)


@pytest.fixture
def empty_postgres_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    name = f"leadgen_test_no_schema_{worker_id()}"
    monkeypatch.setenv("LEADGEN_DB_URL", asyncio.run(fresh_database(name)))
    yield
    asyncio.run(drop_database(name))


@pytest.mark.usefixtures("empty_postgres_database")
def test_a_postgres_database_without_the_schema_says_so_too() -> None:
    _said_in_one_line(_leadgen("sources", "list"), 1, NO_SCHEMA, FIRST_STEP)


@pytest.mark.usefixtures("development")
def test_up_on_a_data_directory_that_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a directory\n")
    _said_in_one_line(_leadgen("up", "--data-dir", str(a_file)), 2, f"{a_file} is not a directory")


@pytest.mark.usefixtures("development")
def test_up_on_a_data_directory_it_cannot_create(tmp_path: Path) -> None:
    # procfs refuses new entries to every user, root too.
    _said_in_one_line(
        _leadgen("up", "--data-dir", "/proc/leadgen-test"), 2, "cannot create the data directory /proc/leadgen-test"
    )


@pytest.mark.usefixtures("development")
@pytest.mark.parametrize("command", [["up"], ["serve", "--target", "api"]])
def test_serving_other_machines_with_the_development_secrets_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    """What the image's `up` did when published beyond this machine: anyone could forge tokens."""
    monkeypatch.setenv("LEADGEN_HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("LEADGEN_DATA_DIR", str(tmp_path / "data"))
    _said_in_one_line(_leadgen(*command), 2, "LEADGEN_HTTP_HOST: 0.0.0.0 serves other machines", "listen on 127.0.0.1")
    assert not (tmp_path / "data" / "leadgen.db").exists(), "refused before it migrated"


@pytest.mark.parametrize("port", ["0", "99999"])
def test_serve_takes_only_a_port_number(port: str) -> None:
    result = _leadgen("serve", "--target", "api", "--port", port)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--port'" in result.stderr

"""`leadgen db downgrade` past what no upgrade gives back (below 0020: the consent records' hashes;
to base: every table) needs the environment's name typed out, outside development."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadgen.cli.main import app
from leadgen.core.migrate import current_head
from leadgen.core.settings import get_settings

HASHES_LOST = "the consent records' phone and e-mail hashes (0020)"
TABLES_LOST = "every table (0001), the consent records included"
# The relative target that lands on 0019 from the head.
BELOW_0020_BY_STEPS = f"-{int(current_head() or 0) - 19}"


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database at this release's head."""
    path = tmp_path / "leadgen.db"
    shutil.copy(sqlite_template, path)
    monkeypatch.setenv("LEADGEN_DB_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    return path


def _in(environment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_ENVIRONMENT", environment)
    get_settings.cache_clear()


def _version(database: Path) -> str:
    with sqlite3.connect(database) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def _downgrade(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["db", "downgrade", *arguments])
    return result.exit_code, " ".join(result.stderr.split())


@pytest.mark.parametrize("environment", ["production", "staging"])
@pytest.mark.parametrize(
    ("target", "lost"),
    [
        ("base", [HASHES_LOST, TABLES_LOST]),
        ("0001", [HASHES_LOST]),
        ("0019", [HASHES_LOST]),
        ("0020-1", [HASHES_LOST]),
        (BELOW_0020_BY_STEPS, [HASHES_LOST]),
    ],
)
def test_a_lossy_downgrade_is_refused_naming_what_it_would_lose(
    database: Path, monkeypatch: pytest.MonkeyPatch, environment: str, target: str, lost: list[str]
) -> None:
    _in(environment, monkeypatch)
    code, said = _downgrade(target)
    assert code == 2, said
    assert all(loss in said for loss in lost), said
    assert (TABLES_LOST in said) == (TABLES_LOST in lost)
    assert f"Nothing was changed: in {environment}, that needs --confirm {environment}" in said
    assert _version(database) == current_head()


def test_the_environments_name_lets_it_run(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _in("production", monkeypatch)
    assert _downgrade("0019", "--confirm", "production") == (0, "")
    assert _version(database) == "0019"


@pytest.mark.parametrize("target", ["base", "-1"])
def test_another_environments_name_is_refused_whatever_the_downgrade(
    database: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    _in("production", monkeypatch)
    code, said = _downgrade(target, "--confirm", "staging")
    assert code == 2
    assert "--confirm staging does not name this environment, production: nothing was changed" in said
    assert _version(database) == current_head()


def test_a_downgrade_that_loses_nothing_for_good_needs_no_confirmation(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _in("production", monkeypatch)
    assert _downgrade("-1")[0] == 0
    assert _version(database) != current_head()


def test_in_development_no_downgrade_asks(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _in("development", monkeypatch)
    assert _downgrade("0019")[0] == 0
    assert _version(database) == "0019"

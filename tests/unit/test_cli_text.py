"""What the CLI prints is the user's text, and its commands take what their help says."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from leadgen.cli.main import app
from leadgen.cli.output import private_data as _private_data
from leadgen.ops.output import TerminalPrompter


def test_help_keeps_its_brackets() -> None:
    assert "pip install 'leadgen[train]'" in CliRunner().invoke(app, ["model", "train", "--help"]).stdout


def test_a_confirmation_shows_its_choices_and_the_question_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=False, width=200)

    def answer_yes(prompt: object = "", **_: object) -> str:
        console.print(prompt, end="")
        return "y"

    monkeypatch.setattr(console, "input", answer_yes)
    assert TerminalPrompter(console, interactive=True).confirm("Scale worker[blue] to 1?", hint="--yes")
    assert "Scale worker[blue] to 1? [y/N]" in screen.getvalue()


def test_the_sql_of_sqlite_migrations_is_refused_in_one_line() -> None:
    result = CliRunner().invoke(app, ["db", "upgrade", "--sql"])
    assert result.exit_code == 2 and "--sql prints PostgreSQL's script" in result.stderr


def test_a_relative_revision_is_taken_as_one() -> None:
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    down = CliRunner().invoke(app, ["db", "downgrade", "-1"])
    assert down.exit_code == 0, down.output


@pytest.fixture
def umask_restored() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.mark.usefixtures("umask_restored")
def test_the_laptops_data_is_its_users_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    _private_data(data)
    (data / "leadgen.db").write_text("")
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "leadgen.db").stat().st_mode) == 0o600

"""What the embedded stores keep holds people's personal data: the data directory a command
creates, and the files in it, are its user's alone (README), whichever command comes first."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadgen.cli.main import app


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("command", [["db", "upgrade"], ["sources", "list"]])
def test_a_command_that_creates_the_data_directory_makes_it_private(command: list[str]) -> None:
    data = Path(os.environ["LEADGEN_DATA_DIR"])
    assert not data.exists()
    CliRunner().invoke(app, command)
    assert _mode(data) == 0o700
    assert sorted(path.name for path in data.iterdir() if _mode(path) != 0o600) == []
    assert (data / "leadgen.db").exists()


def test_a_data_directory_made_readable_to_others_is_private_again() -> None:
    data = Path(os.environ["LEADGEN_DATA_DIR"])
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    assert _mode(data) == 0o700 and _mode(data / "leadgen.db") == 0o600


def test_a_data_directory_another_user_gave_keeps_its_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pod's emptyDir is root's and writable by all (mode 2777 with the fsGroup): its user may
    not change the mode, and must start all the same. What it creates there is still its own."""
    data = Path(os.environ["LEADGEN_DATA_DIR"])
    data.mkdir()
    os.chmod(data, 0o2777)
    owner = data.stat().st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)  # this process is not the owner
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    assert _mode(data) == 0o2777 and _mode(data / "leadgen.db") == 0o600

"""One ``leadgen up`` per data directory: a second one started on it stops before it touches
anything there (no migration, no demo book, nothing printed but why), naming the first one's pid.

The processes here are the real command with ``serve._run`` replaced by a stand-in that prepares
(migrates, loads the demo book) as ``_run`` does, then says it serves and waits: everything ``up``
does before serving runs as it is, and no port is bound.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer

from leadgen.cli.serve import UP_LOCK_FILE, sole_up
from tests.targets.processes import base_env

# ``python -m leadgen`` with serving replaced by a line on stdout and a wait for stdin to close.
SERVING_STAND_IN = """
import sys
from leadgen.cli import serve
def serving(settings, spec, ports, prepare, **options):
    prepare()
    print("serving", flush=True)
    sys.stdin.read()
serve._run = serving
from leadgen.cli.main import app
app(sys.argv[1:], prog_name="leadgen")
"""
# Ample for the imports and the migrations of a new SQLite file.
START_SECONDS = 90


def command(data_dir: Path, *options: str) -> list[str]:
    return [sys.executable, "-c", SERVING_STAND_IN, "up", "--data-dir", str(data_dir), *options]


@contextmanager
def running_up(data_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """An ``up`` on ``data_dir`` that got as far as serving; killed (SIGKILL) when the block ends."""
    first = subprocess.Popen(
        command(data_dir),
        env=base_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        lines = []
        for line in first.stdout:  # "data directory: …", then the stand-in's "serving"
            lines.append(line)
            if line.strip() == "serving":
                break
        else:
            pytest.fail(f"the first `leadgen up` did not start: {lines} {first.communicate(timeout=5)[1]!r}")
        yield first
    finally:
        first.kill()
        first.communicate(timeout=START_SECONDS)


def contents(data_dir: Path) -> dict[str, str]:
    """Every file under the data directory, by its digest."""
    return {
        str(path.relative_to(data_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(data_dir.rglob("*"))
        if path.is_file()
    }


def test_the_lock_refuses_a_second_holder_naming_the_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with sole_up(tmp_path):
        assert (tmp_path / UP_LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(typer.Exit) as refused, sole_up(tmp_path):
            pytest.fail("a second holder was let in")
        assert refused.value.exit_code == 2
        assert capsys.readouterr().err == f"error: another `leadgen up` is using {tmp_path} (pid {os.getpid()})\n"
    with sole_up(tmp_path):  # given back when the first holder is done
        pass


def test_a_second_up_changes_nothing_and_says_who_holds_the_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "up"
    with running_up(data_dir) as first:
        before = contents(data_dir)
        assert "leadgen.db" in before  # migrated by the first
        # With --demo, which would add the demo admin and its published password to the first's database.
        second = subprocess.run(
            command(data_dir, "--demo"),
            env=base_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_SECONDS,
            check=False,
        )
        assert (second.returncode, second.stdout) == (2, ""), second
        assert second.stderr == f"error: another `leadgen up` is using {data_dir} (pid {first.pid})\n"
        assert contents(data_dir) == before
        # The lock goes with its process, however it ends.
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=START_SECONDS)
    with sole_up(data_dir):
        assert (data_dir / UP_LOCK_FILE).read_text() == f"{os.getpid()}\n"

"""``leadgen up`` given a data directory it cannot write in (one left another user's by a ``sudo``
start, say): one line naming the directory and what to do, exit code 2, no traceback, nothing
migrated. The real command, on ports moved out of everything else's way."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadgen.cli.serve import UP_LOCK_FILE
from tests.laptop.test_up import free_offset, run_up
from tests.targets.processes import base_env, free_port_outside_ephemeral_range

NOBODY = 65534


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """Another user's directory (nobody's) that no one may create files in, root included:
    immutable (chattr +i). Where the test's user may not make it so (not root, or a file system
    without the attribute) the case cannot be set up, and is skipped saying so."""
    data_dir = tmp_path / "read-only"
    data_dir.mkdir(mode=0o700)
    try:
        os.chown(data_dir, NOBODY, NOBODY)
    except PermissionError:
        pytest.skip("only root may give a directory to another user")
    made = subprocess.run(["chattr", "+i", str(data_dir)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a directory immutable here: {made.stderr.strip()}")
    try:
        yield data_dir
    finally:
        subprocess.run(["chattr", "-i", str(data_dir)], check=True)


def up_env() -> dict[str, str]:
    smtp_port = free_port_outside_ephemeral_range()
    return base_env(LEADGEN_HTTP_PORT_OFFSET=str(free_offset()), LEADGEN_SMTP_PORT=str(smtp_port))


def test_a_data_directory_up_cannot_write_in_is_one_line_and_exit_2(read_only_dir: Path) -> None:
    done = run_up(read_only_dir, up_env())
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr == (
        f"error: cannot write in the data directory {read_only_dir} ({UP_LOCK_FILE}: Operation not permitted): "
        "make it yours and writable, or choose another with --data-dir or LEADGEN_DATA_DIR\n"
    )
    assert list(read_only_dir.iterdir()) == []


def test_a_lock_file_up_cannot_open_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Its name taken by a directory, which no user can open as the lock."""
    data_dir = tmp_path / "up"
    (data_dir / UP_LOCK_FILE).mkdir(parents=True)
    done = run_up(data_dir, up_env())
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr == (
        f"error: cannot write in the data directory {data_dir} ({UP_LOCK_FILE}: Is a directory): "
        "make it yours and writable, or choose another with --data-dir or LEADGEN_DATA_DIR\n"
    )
    assert not (data_dir / "leadgen.db").exists()

"""scripts/bootstrap.sh (run by scripts/up and scripts/test) calls pip only when pyproject.toml
changed since the last install of the same kind: a second start installs nothing, so it also
starts without a package index. Run on a copy of the script with a pip that only logs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

LOGGING_STUB = '#!/bin/sh\necho "$(basename "$0") $*" >>"$STUB_LOG"\n'


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout holding the script, a pyproject.toml and a virtualenv whose pip only logs;
    checkov counts as installed and apt-get only logs, so --test touches nothing of the host."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "bootstrap.sh", tmp_path / "scripts" / "bootstrap.sh")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "leadgen"\n')
    (tmp_path / "requirements").mkdir()
    checkov = tmp_path / "requirements" / "checkov.txt"
    checkov.write_text("checkov==0\n")
    tools = tmp_path / ".tools" / "checkov"
    tools.mkdir(parents=True)
    (tools / f".installed-{hashlib.sha256(checkov.read_bytes()).hexdigest()[:16]}").touch()
    for stub in (
        tmp_path / ".venv" / "bin" / "python",
        tmp_path / ".venv" / "bin" / "pip",
        tmp_path / "bin" / "apt-get",
    ):
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(LOGGING_STUB)
        stub.chmod(0o755)
    return tmp_path


def bootstrap(checkout: Path, *args: str) -> list[str]:
    """Run the script; the commands the stubs saw."""
    log = checkout / "stub.log"
    log.write_text("")
    env = {**os.environ, "STUB_LOG": str(log), "PATH": f"{checkout / 'bin'}:{os.environ['PATH']}"}
    subprocess.run(["bash", str(checkout / "scripts" / "bootstrap.sh"), *args], env=env, check=True, timeout=30)
    return log.read_text().splitlines()


def test_a_second_start_installs_nothing(checkout: Path) -> None:
    assert bootstrap(checkout) == ["pip install --quiet -e ."]
    assert bootstrap(checkout) == []


def test_the_test_tools_install_answers_for_a_start_too(checkout: Path) -> None:
    assert bootstrap(checkout, "--test") == ["pip install --quiet -e .[dev]"]
    assert bootstrap(checkout) == []
    assert bootstrap(checkout, "--test") == []


def test_a_start_then_the_test_tools_installs_the_dev_extra_once(checkout: Path) -> None:
    assert bootstrap(checkout) == ["pip install --quiet -e ."]
    assert bootstrap(checkout, "--test") == ["pip install --quiet -e .[dev]"]
    assert bootstrap(checkout, "--test") == []


def test_a_changed_pyproject_installs_again_even_back_to_an_earlier_one(checkout: Path) -> None:
    pyproject = checkout / "pyproject.toml"
    first = pyproject.read_text()
    assert bootstrap(checkout) == ["pip install --quiet -e ."]
    pyproject.write_text(first + 'dependencies = ["httpx==0.28.1"]\n')
    assert bootstrap(checkout) == ["pip install --quiet -e ."]
    pyproject.write_text(first)
    assert bootstrap(checkout) == ["pip install --quiet -e ."]
    assert bootstrap(checkout) == []

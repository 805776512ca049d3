"""scripts/bootstrap.sh (run by scripts/up and scripts/test) calls pip only when pyproject.toml
changed since the last install of the same kind: a second start installs nothing, so it also
starts without a package index. It makes the virtualenv with a Python that pyproject.toml's
requires-python accepts, and makes again one of an older Python. Run on a copy of the script with
a pip that only logs, and real interpreters whose ``-m venv`` only logs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

LOGGING_STUB = '#!/bin/sh\necho "$(basename "$0") $*" >>"$STUB_LOG"\n'
# A real interpreter whose `-m venv DIR` logs, then makes DIR a virtualenv of that interpreter
# with a pip that only logs.
VENV_LOGGING_PYTHON = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  echo "python -m venv $3" >>"$STUB_LOG"
  mkdir -p "$3/bin" && ln -sf {real} "$3/bin/python" && cp {pip} "$3/bin/pip"
  exit 0
fi
exec {real} "$@"
"""
THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _an_older_python() -> Path | None:
    """An interpreter of an older minor version than this one, if the machine has one that runs."""
    for minor in range(sys.version_info.minor - 1, 5, -1):
        for found in (*Path.home().glob(f".pyenv/versions/3.{minor}.*/bin/python3"), shutil.which(f"python3.{minor}")):
            if found is None:
                continue
            answer = subprocess.run(
                [found, "-c", f"import sys; print(sys.version_info < (3, {sys.version_info.minor}))"],
                capture_output=True,
                text=True,
            )
            if answer.stdout.strip() == "True":
                return Path(found).resolve()
    return None


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout holding the script, a pyproject.toml and a virtualenv whose pip only logs;
    checkov counts as installed and apt-get only logs, so --test touches nothing of the host."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "bootstrap.sh", tmp_path / "scripts" / "bootstrap.sh")
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "leadgen"\nrequires-python = ">={THIS_PYTHON}"\n')
    (tmp_path / "requirements").mkdir()
    checkov = tmp_path / "requirements" / "checkov.txt"
    checkov.write_text("checkov==0\n")
    tools = tmp_path / ".tools" / "checkov"
    tools.mkdir(parents=True)
    (tools / f".installed-{hashlib.sha256(checkov.read_bytes()).hexdigest()[:16]}").touch()
    for stub in (tmp_path / "stubs" / "pip", tmp_path / "bin" / "apt-get"):
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(LOGGING_STUB)
        stub.chmod(0o755)
    _python(tmp_path, "python3", Path(sys.executable))
    _virtualenv(tmp_path, Path(sys.executable))
    return tmp_path


def _python(checkout: Path, name: str, real: Path) -> Path:
    """``real``, as ``name`` first on the checkout's PATH, making virtualenvs that only log."""
    python = checkout / "bin" / name
    python.parent.mkdir(exist_ok=True)
    python.write_text(VENV_LOGGING_PYTHON.format(real=real, pip=checkout / "stubs" / "pip"))
    python.chmod(0o755)
    return python


def _virtualenv(checkout: Path, real: Path) -> None:
    """A .venv of the interpreter ``real`` whose pip only logs."""
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "python").symlink_to(real)
    shutil.copy(checkout / "stubs" / "pip", bin_dir / "pip")


def _run(checkout: Path, *args: str, python: str | None = None) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the script (with PYTHON=``python``, if given); what it did, and the commands the stubs saw."""
    log = checkout / "stub.log"
    log.write_text("")
    env = {**os.environ, "STUB_LOG": str(log), "PATH": f"{checkout / 'bin'}:{os.environ['PATH']}"}
    env.pop("PYTHON", None)
    if python is not None:
        env["PYTHON"] = python
    done = subprocess.run(
        ["bash", str(checkout / "scripts" / "bootstrap.sh"), *args], env=env, capture_output=True, text=True, timeout=30
    )
    return done, log.read_text().splitlines()


def bootstrap(checkout: Path, *args: str) -> list[str]:
    """Run the script, which must succeed; the commands the stubs saw."""
    done, seen = _run(checkout, *args)
    assert done.returncode == 0, done.stderr
    return seen


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


@pytest.fixture
def older_python() -> Path:
    found = _an_older_python()
    if found is None:
        pytest.skip(f"no Python older than {THIS_PYTHON} on this machine")
    return found


def test_a_python_older_than_requires_python_is_refused_before_anything_is_made(
    checkout: Path, older_python: Path
) -> None:
    shutil.rmtree(checkout / ".venv")
    old = _python(checkout, "python-old", older_python)
    done, seen = _run(checkout, python=str(old))
    assert done.returncode == 1 and seen == []
    assert f"leadgen needs Python {THIS_PYTHON} or newer (requires-python in pyproject.toml)" in done.stderr
    assert f"{old} is 3." in done.stderr  # the version it found
    assert not (checkout / ".venv").exists()


def test_a_virtualenv_of_an_older_python_is_made_again(checkout: Path, older_python: Path) -> None:
    """The first run used the machine's old python3 (a version check this script lacked then); the
    Python installed since is used the next time."""
    shutil.rmtree(checkout / ".venv")
    _virtualenv(checkout, older_python)
    assert bootstrap(checkout) == ["python -m venv .venv", "pip install --quiet -e ."]
    assert (checkout / ".venv" / "bin" / "python").resolve() == Path(sys.executable).resolve()
    assert bootstrap(checkout) == []


def test_a_virtualenv_of_a_new_enough_python_is_kept_whatever_python3_is(checkout: Path, older_python: Path) -> None:
    old = _python(checkout, "python-old", older_python)
    done, seen = _run(checkout, python=str(old))
    assert done.returncode == 0 and seen == ["pip install --quiet -e ."]


def test_the_minimum_is_read_from_requires_python(checkout: Path) -> None:
    (checkout / "pyproject.toml").write_text('[project]\nname = "leadgen"\nrequires-python = ">=3.99,<4"\n')
    shutil.rmtree(checkout / ".venv")
    done, seen = _run(checkout)
    assert done.returncode == 1 and seen == [] and "leadgen needs Python 3.99 or newer" in done.stderr

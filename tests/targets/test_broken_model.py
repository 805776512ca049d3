"""A process that scores leads refuses to start with a scoring model it cannot use.

Each test runs the real command (``leadgen serve --target X``, ``leadgen up``) as a child process,
with the packaged model file's path pointed at a broken one, which is the one thing changed.
Nothing is connected to: the model is loaded before any store is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from leadgen.scoring.model import DEFAULT_PATH
from tests.conftest import REDIS_URL, postgres_url
from tests.targets.processes import base_env, free_port

# ``python -m leadgen`` with the model file's path replaced by the first argument.
WITH_MODEL_FILE = """
import sys
from pathlib import Path
from leadgen.scoring import model
model.DEFAULT_PATH = Path(sys.argv[1])
from leadgen.cli.main import app
app(sys.argv[2:], prog_name="leadgen")
"""
# Ample for a refusal (imports, and for ``up`` the migrations of a new SQLite file); a process
# that started instead runs until it is killed.
REFUSAL_SECONDS = 90


def start(command: list[str], model_file: Path) -> subprocess.CompletedProcess[str]:
    """Run the command; ``serve`` is given servers it never reaches, ``up`` uses its embedded stores."""
    env = base_env(LEADGEN_HTTP_METRICS_PORT=str(free_port()))
    if command[0] == "serve":
        env.update(LEADGEN_DB_URL=postgres_url("leadgen_never_connected"), LEADGEN_REDIS_URL=REDIS_URL)
    try:
        return subprocess.run(
            [sys.executable, "-c", WITH_MODEL_FILE, str(model_file), *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=REFUSAL_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as running:
        pytest.fail(f"`leadgen {' '.join(command)}` started with a broken model file:\n{running.stderr!r}")


@pytest.mark.parametrize(
    "command",
    [["serve", "--target", "orchestrator"], ["serve", "--target", "worker"], ["up", "--data-dir", "{tmp}/up"]],
    ids=["orchestrator", "worker", "up"],
)
def test_refuses_to_start_naming_the_file_and_what_is_wrong_with_it(command: list[str], tmp_path: Path) -> None:
    broken = tmp_path / "lead-score-v1.json"
    broken.write_text('{"format": 1, "model": "lead-score-v1", "coeff')
    done = start([part.format(tmp=tmp_path) for part in command], broken)
    assert done.returncode == 2, done.stderr
    problems = [line.strip() for line in done.stderr.splitlines() if line.strip().startswith("- ")]
    assert problems == [
        f"- cannot read the scoring model {broken}: Unterminated string starting at: line 1 column 41 "
        "(char 40) (the file ships with leadgen: reinstall it, or rebuild the image)"
    ], done.stderr
    assert "Traceback" not in done.stderr


def test_a_model_of_another_version_is_refused_at_start_up(tmp_path: Path) -> None:
    other = tmp_path / "lead-score-v7.json"
    other.write_text(json.dumps({**json.loads(DEFAULT_PATH.read_text()), "model": "lead-score-v7"}))
    done = start(["serve", "--target", "orchestrator"], other)
    assert done.returncode == 2, done.stderr
    assert f"{other} is not a usable lead score model: model 'lead-score-v7'; this version reads " in done.stderr

"""Under CI=true nothing is skipped: the tests that render the real overlays with kubectl fail
when it is missing, and skip only on a developer's machine. Run in a pytest of their own with a
PATH that holds no kubectl."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

NEEDS_KUBECTL = [
    "tests/ops/test_manifests.py::TestTheRealOverlays",
    "tests/ops/test_scale.py::TestTheRealOverlay",
    "tests/ops/test_waves.py::test_every_workload_of_every_overlay_is_in_exactly_one_wave",
]


def outcomes(ci: str, empty_bin: Path) -> dict[str, int]:
    env = {**os.environ, "CI": ci, "PATH": str(empty_bin)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *NEEDS_KUBECTL],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1]
    return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", summary)}


@pytest.mark.parametrize(("ci", "outcome"), [("true", "failed"), ("", "skipped")])
def test_a_missing_kubectl_fails_under_ci_and_skips_elsewhere(tmp_path: Path, ci: str, outcome: str) -> None:
    counted = outcomes(ci, tmp_path)
    assert list(counted) == [outcome], counted

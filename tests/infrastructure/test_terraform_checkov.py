"""checkov (framework terraform) over infrastructure/: zero failed checks, every skip justified.

Registry modules are not downloaded (no internet), so checkov scans our own resources and the
local modules; the registry modules' inputs are covered by test_terraform_static instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.tf_support import INFRA_DIR, REPO_ROOT, tf_files

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(?P<id>[A-Z0-9_]+)(?P<rest>.*)$")


def _checkov() -> str:
    candidates = [
        os.environ.get("CHECKOV_BIN", ""),
        str(REPO_ROOT / ".venv" / "bin" / "checkov"),
        str(REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"),
        shutil.which("checkov") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("checkov 3.3.30 is not installed (looked in $CHECKOV_BIN, .venv, .tools/checkov and PATH)")


def _reports(stdout: str) -> list[dict[str, Any]]:
    data = json.loads(stdout)
    return data if isinstance(data, list) else [data]


@pytest.mark.slow
def test_checkov_terraform_has_no_failed_checks() -> None:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        [
            _checkov(),
            "--framework", "terraform",
            "-d", str(INFRA_DIR),
            "--compact", "--quiet",
            "--skip-download",
            "--download-external-modules", "false",
            "-o", "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=False,
        timeout=540,
    )  # fmt: skip
    assert result.stdout.strip(), f"checkov printed nothing (rc {result.returncode}):\n{result.stderr[-4000:]}"
    reports = _reports(result.stdout)
    failures = []
    for report in reports:
        summary = report.get("summary", {})
        assert summary.get("parsing_errors", 0) == 0, f"checkov could not parse some files: {summary}"
        assert summary.get("resource_count", 0) > 0, "checkov scanned no resources"
        for check in report.get("results", {}).get("failed_checks", []):
            failures.append(
                f"{check['check_id']} {check['resource']} {check['file_path']}:{check['file_line_range']} "
                f"{check['check_name']}"
            )
    assert not failures, f"{len(failures)} failed checkov checks:\n" + "\n".join(failures)
    assert result.returncode == 0, result.stderr[-4000:]


def test_every_checkov_skip_has_a_reason() -> None:
    problems = []
    for path in tf_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if not match:
                continue
            reason = match.group("rest").lstrip(":").strip()
            if not match.group("rest").startswith(":") or len(reason) < 15:
                problems.append(f"{path.relative_to(REPO_ROOT)}:{number}: {match.group('id')} needs ': <reason>'")
    assert not problems, "\n".join(problems)


def test_checkov_skips_sit_inside_the_resource_they_skip() -> None:
    """An inline skip only applies inside the block it annotates; a stray one at file level is a
    silent no-op, so every skip must be followed by resource content within the same block."""
    for path in tf_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if SKIP_COMMENT.search(line):
                assert line.startswith((" ", "\t")), (
                    f"{path.relative_to(REPO_ROOT)}:{number + 1}: checkov skip must be inside a block"
                )

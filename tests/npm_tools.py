"""The Node.js tools the tests run (tools/crd-validate, tools/axe), installed from their lock files."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path


def ensure_npm_tool(tool: Path) -> None:
    """`npm ci` in ``tool`` once (when its node_modules is missing or older than its lock file).

    Safe under pytest-xdist: workers serialise on a lock file.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is not on PATH; Node.js 20+ is needed for {tool.name}")
    cache_dir = tool / ".cache"
    cache_dir.mkdir(exist_ok=True)
    with (cache_dir / "npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = tool / "node_modules" / ".package-lock.json"
        if marker.exists() and marker.stat().st_mtime >= (tool / "package-lock.json").stat().st_mtime:
            return
        result = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=tool,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"npm ci in {tool} failed:\n{result.stdout}\n{result.stderr}")

"""What `leadgen up` tells whoever starts it: where the demo API key is kept, and, without the demo
book, how to create the first dashboard user."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from leadgen.cli.main import app
from leadgen.cli.serve import FIRST_ADMIN_HINT


def test_the_help_of_demo_says_where_the_api_key_goes() -> None:
    help_text = " ".join(CliRunner().invoke(app, ["up", "--help"]).stdout.split())
    assert "demo-api-key" in help_text and "print an API key" not in help_text


def test_up_without_the_demo_book_says_how_to_create_the_first_admin(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LEADGEN_DATA_DIR": str(tmp_path / "data"),
        # Ports of its own, out of the way of other tests and of a `leadgen up` of the developer's.
        "LEADGEN_HTTP_PORT_OFFSET": str(30000 + os.getpid() % 2000 * 10),
        "LEADGEN_SMTP_PORT": str(30000 + os.getpid() % 2000 * 10 + 1025),
    }
    up = subprocess.Popen(
        [sys.executable, "-m", "leadgen", "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    said: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert up.stdout is not None
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            said.append(" ".join(line.split()))
            if FIRST_ADMIN_HINT in said[-1]:
                break
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)
    assert any(FIRST_ADMIN_HINT in line for line in said), said
    assert "leadgen users create --email" in FIRST_ADMIN_HINT

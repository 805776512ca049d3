"""What ``scripts/up`` (``leadgen up --demo``) tells a new user once everything listens, as its
last lines, which the log does not push away: the dashboard's address and whom to sign in as, where
the API is described, the demo API key, how to stop. Each of them is tried as the user would try
it. Ctrl-C then stops every process it started, and the next start serves the same data (README,
Quick start). The real command, on ports moved out of everything else's way."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from leadgen.cli.serve import DEMO_KEY_FILE, DEMO_SOURCE
from leadgen.demo.book import ADMIN_EMAIL, DEMO_PASSWORD, EXAMPLE_AGENT_EMAIL
from tests.laptop.test_up import Up, austin_auto_lead, free_offset, running_up, stop
from tests.targets.processes import base_env, free_port_outside_ephemeral_range


def closing_lines(up: Up) -> dict[str, str]:
    """The banner's lines after the mail line, by their name; waits for the last one."""
    up.wait_for_line(lambda line: line.strip().startswith("stop "), "the banner's stop line")
    banner = up.banner()
    mail = next(i for i, line in enumerate(banner) if line.strip().startswith("mail "))
    named = (re.match(r"\s*(dashboard|API docs|API key|stop) (.*)", line) for line in banner[mail + 1 :])
    return {found[1]: found[2] for found in named if found}


def no_process_left(up: Up) -> bool:
    """Nothing of what ``up`` started still runs (it was started in a session of its own)."""
    try:
        os.killpg(up.process.pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_the_banner_ends_with_where_to_sign_in_and_the_next_start_keeps_the_data(tmp_path: Path) -> None:
    offset = free_offset()
    data_dir = tmp_path / "up"
    env = base_env(LEADGEN_HTTP_PORT_OFFSET=str(offset), LEADGEN_SMTP_PORT=str(free_port_outside_ephemeral_range()))
    api, dashboard = f"http://127.0.0.1:{3000 + offset}", f"http://127.0.0.1:{8080 + offset}"
    key_file = data_dir / DEMO_KEY_FILE
    with running_up(data_dir, env, "--demo") as up:
        said = closing_lines(up)
        assert said == {
            "dashboard": f"{dashboard}: sign in as {ADMIN_EMAIL} or an agent such as {EXAMPLE_AGENT_EMAIL}, "
            f"password {DEMO_PASSWORD}",
            "API docs": f"{api}/docs (and /docs on each service above but the frontend)",
            "API key": f"of {DEMO_SOURCE} (X-API-Key) in {key_file}",
            "stop": f"Ctrl-C; the data stays in {data_dir} for the next start",
        }, up.output()
        assert httpx.get(f"{dashboard}/login", timeout=10).status_code == 200
        assert httpx.get(f"{api}/docs", timeout=10).status_code == 200
        for user in (ADMIN_EMAIL, EXAMPLE_AGENT_EMAIL):
            signed_in = httpx.post(
                f"{api}/api/v1/auth/token", data={"username": user, "password": DEMO_PASSWORD}, timeout=10
            )
            assert signed_in.status_code == 200, (user, signed_in.text)
        key = key_file.read_text().strip()
        received = httpx.post(f"{api}/api/v1/leads", json=austin_auto_lead(), headers={"X-API-Key": key}, timeout=10)
        assert received.status_code == 202, received.text
        stop(up)
        assert no_process_left(up)

    with running_up(data_dir, env, "--demo") as again:
        closing_lines(again)
        assert key_file.read_text().strip() == key  # kept while it works
        kept = httpx.get(f"{api}/api/v1/leads/{received.json()['id']}", headers={"X-API-Key": key}, timeout=10)
        assert kept.status_code == 200, kept.text
        stop(again)
        assert no_process_left(again)

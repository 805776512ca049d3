"""``leadgen up`` on a laptop, run as the real command on ports moved out of everything else's way.

- every port it would listen on is tried before it changes anything: one that is taken stops it
  with exit code 2 and one line naming the port and what would have listened there, nothing migrated;
- ``LEADGEN_HTTP_PORT_OFFSET`` moves its ports, and its services still find each other;
- with the default (loopback) SMTP settings the e-mail it sends is kept in a Maildir in the data
  directory, which its banner names; an SMTP server the user already runs on that port is used
  instead, and the banner says so.
"""

from __future__ import annotations

import contextlib
import datetime
import mailbox
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from leadgen.core.settings import HttpSettings, SmtpSettings
from leadgen.targets.registry import TARGETS
from tests.targets.processes import base_env, free_port_outside_ephemeral_range, wait_for

# Ample for the imports, the migrations of a new SQLite file and the demo book.
START_SECONDS = 120
PORTS = {name: t.http_port for name, t in TARGETS.items() if t.http_port} | {
    "metrics": HttpSettings.model_fields["metrics_port"].default
}


def port_free(port: int) -> bool:
    """Free as ``up`` binds (SO_REUSEADDR): no program listens there; connections closed a moment ago
    may linger on it in TIME_WAIT."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_offset() -> int:
    """An offset that moves every port of ``up`` onto a free one below the ephemeral range."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for offset in random.Random().sample(range(1000, low - max(PORTS.values())), 200):
        if all(port_free(port + offset) for port in PORTS.values()):
            return offset
    raise RuntimeError("no offset moves every port of `leadgen up` onto a free one")


@dataclass
class Up:
    """A running ``leadgen up``; what it prints (stdout and stderr) gathered line by line."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._gather, daemon=True).start()

    def _gather(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, wanted: Callable[[str], bool], what: str) -> str:
        def probe() -> str | None:
            found = next((line for line in self.lines if wanted(line)), None)
            if found is None and self.process.poll() is not None:
                raise AssertionError(f"`leadgen up` exited with {self.process.returncode}:\n{self.output()}")
            return found

        return wait_for(probe, START_SECONDS, what)

    def banner(self) -> list[str]:
        """What it printed for people: every line but the log's (JSON)."""
        return [line for line in self.lines if not line.startswith("{")]

    def output(self) -> str:
        return "\n".join(self.lines[-60:])


@contextlib.contextmanager
def running_up(data_dir: Path, env: dict[str, str], *options: str) -> Iterator[Up]:
    process = subprocess.Popen(
        [sys.executable, "-m", "leadgen", "up", "--data-dir", str(data_dir), *options],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    up = Up(process)
    try:
        yield up
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def run_up(data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``up`` expected to stop before serving; one that serves instead is killed at the timeout."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "leadgen", "up", "--data-dir", str(data_dir)],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as running:
        pytest.fail(f"`leadgen up` started although a port it needs is taken:\n{running.stdout!r}")


@contextlib.contextmanager
def held(port: int) -> Iterator[socket.socket]:
    """Another program listening on 127.0.0.1:``port``."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        yield holder


def austin_auto_lead() -> dict[str, Any]:
    """The README's first lead: an auto lead from Austin, TX, which the demo book offers to an agent."""
    return {
        "line": "auto",
        "campaign": "spring-auto",
        "contact": {
            "first_name": "Pat",
            "last_name": "Doe",
            "email": "pat@example.com",
            "phone": "(512) 555-0147",
            "address": {"street": "12 Oak Street", "city": "Austin", "zip": "78701"},
        },
        "currently_insured": True,
        "consent": {
            "text": "I agree to be contacted by licensed insurance agents about quotes.",
            "captured_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "ip": "203.0.113.7",
            "page_url": "https://quotes.example.com/auto",
        },
        "details": {
            "drivers": [{"age_first_licensed": 17}],
            "vehicles": [{"year": 2019, "make": "Toyota", "model": "Camry"}],
        },
    }


def post_lead(offset: int, data_dir: Path) -> None:
    key = (data_dir / "demo-api-key").read_text().strip()
    answer = httpx.post(
        f"http://127.0.0.1:{3000 + offset}/api/v1/leads", json=austin_auto_lead(), headers={"X-API-Key": key}
    )
    assert answer.status_code == 202, answer.text


def offers(messages: list[Message]) -> list[Message]:
    return [m for m in messages if str(m["Subject"]).startswith("New auto lead in TX")]


def stop(up: Up) -> None:
    """Ctrl-C: ``up`` stops every server it runs, the SMTP one too, and exits 0."""
    up.process.send_signal(signal.SIGINT)
    assert up.process.wait(60) == 0, up.output()


# --- a taken port --------------------------------------------------------------------------------


def test_a_taken_port_stops_up_before_it_changes_anything(tmp_path: Path) -> None:
    offset = free_offset()
    data_dir = tmp_path / "up"
    env = base_env(LEADGEN_HTTP_PORT_OFFSET=str(offset), LEADGEN_SMTP_PORT=str(free_port_outside_ephemeral_range()))
    backend = 8000 + offset
    with held(backend):
        started = time.monotonic()
        done = run_up(data_dir, env)
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr == (
        f"error: port {backend} (backend) is in use: stop what uses it, or set "
        f"LEADGEN_HTTP_PORT_OFFSET={offset + 100} to listen on {backend + 100} (and on every other port 100 higher)\n"
    )
    assert time.monotonic() - started < 30  # the imports; no migration, no waiting for servers
    assert not (data_dir / "leadgen.db").exists()


def test_every_taken_port_is_named_on_the_one_line(tmp_path: Path) -> None:
    offset = free_offset()
    env = base_env(LEADGEN_HTTP_PORT_OFFSET=str(offset), LEADGEN_SMTP_PORT=str(free_port_outside_ephemeral_range()))
    with held(3001 + offset), held(9090 + offset):
        done = run_up(tmp_path / "up", env)
    assert done.returncode == 2, done
    data_service, metrics = 3001 + offset, 9090 + offset
    assert done.stderr == (
        f"error: ports {data_service} (data-service) and {metrics} (metrics) are in use: stop what uses them, or set "
        f"LEADGEN_HTTP_PORT_OFFSET={offset + 100} to listen on {data_service + 100} and {metrics + 100} "
        "(and on every other port 100 higher)\n"
    )
    assert not (tmp_path / "up" / "leadgen.db").exists()


def test_an_smtp_port_taken_by_something_else_than_an_smtp_server_stops_up(tmp_path: Path) -> None:
    smtp_port = free_port_outside_ephemeral_range()
    env = base_env(LEADGEN_HTTP_PORT_OFFSET=str(free_offset()), LEADGEN_SMTP_PORT=str(smtp_port))
    with held(smtp_port):  # listens, and never greets
        done = run_up(tmp_path / "up", env)
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr == (
        f"error: port {smtp_port} (mail) is in use by something that is not an SMTP server: stop it, "
        "or set LEADGEN_SMTP_PORT to a free port (or to an SMTP server's)\n"
    )
    assert not (tmp_path / "up" / "leadgen.db").exists()


# --- serving on moved ports, keeping the mail ----------------------------------------------------


@pytest.mark.slow
def test_up_on_moved_ports_keeps_an_offer_email_in_the_data_directory(tmp_path: Path) -> None:
    offset = free_offset()
    smtp_port = free_port_outside_ephemeral_range()
    data_dir = tmp_path / "up"
    maildir = data_dir / "mail"
    env = base_env(LEADGEN_HTTP_PORT_OFFSET=str(offset), LEADGEN_SMTP_PORT=str(smtp_port))
    with running_up(data_dir, env, "--demo") as up:
        up.wait_for_line(lambda line: line.strip().startswith("mail "), "the banner's mail line")
        banner = up.banner()
        for name, port in PORTS.items():
            assert any(re.search(rf"\b{name} http://127\.0\.0\.1:{port + offset}\b", line) for line in banner), banner
        assert f"mail kept in {maildir} (a Maildir" in " ".join(" ".join(banner).split())
        # Listening once the banner is out: the dashboard's readiness asks the api at its moved port.
        for port in [*PORTS.values()]:
            assert httpx.get(f"http://127.0.0.1:{port + offset}/readyz", timeout=5).status_code == 200, port

        post_lead(offset, data_dir)

        def offer_kept() -> Message | None:
            if not (maildir / "new").is_dir():
                return None
            found = offers(list(mailbox.Maildir(maildir, create=False)))
            return found[0] if found else None

        offer = wait_for(offer_kept, 60, "the offer e-mail in the Maildir")
        assert str(offer["To"]).endswith("@demo.leadgen.dev"), offer["To"]
        body = offer.get_payload(decode=True)
        assert isinstance(body, bytes)
        assert f"http://127.0.0.1:{8080 + offset}/" in body.decode(), body  # the link follows the moved dashboard
        stop(up)
    assert all(port_free(port + offset) for port in PORTS.values())
    assert port_free(smtp_port)


@pytest.mark.slow
def test_the_offset_moves_the_port_up_keeps_its_mail_on_unless_one_is_set(tmp_path: Path) -> None:
    """A second ``up`` beside the first (another data directory, another offset) keeps its own mail,
    rather than taking the first one's keeper on the default port for the user's SMTP server."""
    smtp_default = SmtpSettings.model_fields["port"].default
    offset = next(o for o in iter(free_offset, None) if port_free(smtp_default + o))
    data_dir = tmp_path / "up"
    with running_up(data_dir, base_env(LEADGEN_HTTP_PORT_OFFSET=str(offset))) as up:
        line = up.wait_for_line(lambda line: line.strip().startswith("mail "), "the banner's mail line")
        assert f"kept in {data_dir / 'mail'}" in line, line
        assert not port_free(smtp_default + offset)
        stop(up)
    assert port_free(smtp_default + offset)


class Kept:
    """An SMTP server the user runs (MailHog, Mailpit): keeps what arrives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes

        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.mark.slow
def test_up_hands_mail_to_the_smtp_server_already_on_its_port(tmp_path: Path) -> None:
    offset = free_offset()
    smtp_port = free_port_outside_ephemeral_range()
    kept = Kept()
    users_server = Controller(kept, hostname="127.0.0.1", port=smtp_port)
    users_server.start()
    data_dir = tmp_path / "up"
    try:
        env = base_env(LEADGEN_HTTP_PORT_OFFSET=str(offset), LEADGEN_SMTP_PORT=str(smtp_port))
        with running_up(data_dir, env, "--demo") as up:
            line = up.wait_for_line(lambda line: line.strip().startswith("mail "), "the banner's mail line")
            assert f"sent to the SMTP server already listening on 127.0.0.1:{smtp_port}" in line, line
            post_lead(offset, data_dir)
            wait_for(lambda: offers(kept.messages) or None, 60, "the offer e-mail at the user's SMTP server")
            stop(up)
    finally:
        users_server.stop()
    assert not (data_dir / "mail").exists()


# --- where mail goes, decided before anything starts ---------------------------------------------


@pytest.mark.parametrize(
    ("settings", "described"),
    [
        ({"LEADGEN_SMTP_HOST": "smtp.example.com", "LEADGEN_SMTP_PORT": "587"}, "sent to smtp.example.com:587"),
        # A local server that wants a login or TLS is the user's own, not one `up` can stand in for.
        ({"LEADGEN_SMTP_USERNAME": "me", "LEADGEN_SMTP_PASSWORD": "secret"}, "sent to 127.0.0.1:{port}"),
        ({"LEADGEN_SMTP_STARTTLS": "true"}, "sent to 127.0.0.1:{port}"),
    ],
    ids=["another-host", "login", "starttls"],
)
def test_smtp_settings_of_the_users_own_get_no_server_of_ups(
    settings: dict[str, str], described: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from leadgen.core.server import mail_route
    from leadgen.core.settings import Settings

    port = free_port_outside_ephemeral_range()  # free: `up` would have listened on it
    for name, value in {"LEADGEN_SMTP_PORT": str(port), **settings}.items():
        monkeypatch.setenv(name, value)
    route = mail_route(Settings().smtp, tmp_path / "mail")
    assert route.socket is None
    assert route.description == described.format(port=port)
    assert port_free(port)

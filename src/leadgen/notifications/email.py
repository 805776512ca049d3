"""E-mail over SMTP with the standard library client.

Each worker thread keeps its SMTP session open between messages: a burst of offers then costs
one MAIL/RCPT/DATA exchange per message instead of a new connection, greeting and QUIT. A
session idle longer than ``IDLE_SECONDS`` is closed before use rather than trusted, because
servers drop idle clients (RFC 5321 lets them after 5 minutes) and a dropped one is found only
when a send fails.
"""

from __future__ import annotations

import contextlib
import smtplib
import threading
import time
from email.message import EmailMessage

from leadgen.core.settings import SmtpSettings

IDLE_SECONDS = 30.0


class _Session:
    def __init__(self, cfg: SmtpSettings) -> None:
        self.client = smtplib.SMTP(cfg.host, cfg.port, timeout=10)
        if cfg.starttls:
            self.client.starttls()
        if cfg.username and cfg.password:
            self.client.login(cfg.username, cfg.password.get_secret_value())
        self.used_at = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            self.client.quit()
        self.client.close()


_sessions = threading.local()


def _key(cfg: SmtpSettings) -> tuple[object, ...]:
    return (cfg.host, cfg.port, cfg.username, cfg.starttls)


def _session(cfg: SmtpSettings) -> tuple[_Session, bool]:
    """This thread's session with the configured server, and whether it was already open."""
    held: dict[tuple[object, ...], _Session] = _sessions.__dict__.setdefault("by_server", {})
    session = held.get(_key(cfg))
    if session is not None and time.monotonic() - session.used_at <= IDLE_SECONDS:
        return session, True
    _forget(cfg)
    session = held[_key(cfg)] = _Session(cfg)
    return session, False


def _forget(cfg: SmtpSettings) -> None:
    held: dict[tuple[object, ...], _Session] = _sessions.__dict__.setdefault("by_server", {})
    session = held.pop(_key(cfg), None)
    if session is not None:
        session.close()


def send_email(cfg: SmtpSettings, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = cfg.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    while True:
        session, reused = _session(cfg)
        try:
            session.client.send_message(message)
        except (smtplib.SMTPException, OSError):
            # smtplib drops the connection when the server went away or answered 421 (closing the
            # channel, as servers do past their messages-per-connection limit). On a kept session
            # that is no fault of this message: once more on a fresh one. After any other failure
            # the session's state is unknown, and the task's retry starts clean.
            ended_by_server = session.client.sock is None
            _forget(cfg)
            if reused and ended_by_server:
                continue
            raise
        session.used_at = time.monotonic()
        return

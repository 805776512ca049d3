"""E-mail over SMTP with the standard library client.

Each worker thread keeps its SMTP session open between messages: a burst of offers then costs a
NOOP and one MAIL/RCPT/DATA exchange per message instead of a new connection, greeting and QUIT.
A session idle longer than ``IDLE_SECONDS`` is closed rather than trusted (RFC 5321 lets servers
drop idle clients after 5 minutes), and a kept one is asked NOOP before each message, so a server
that went away is found before any of the message is sent. A message is sent again at once only
when the server refused it before DATA with 421 (closing the channel, as servers do past their
messages-per-connection limit); after DATA has begun, an unanswered message may have been
delivered, and the task's retry decides.
"""

from __future__ import annotations

import contextlib
import email.policy
import smtplib
import threading
import time
from email.message import EmailMessage

from leadgen.core.settings import SmtpSettings

IDLE_SECONDS = 30.0
REPLY_TIMEOUT_SECONDS = 10.0


class _Session:
    def __init__(self, cfg: SmtpSettings) -> None:
        self.client = smtplib.SMTP(cfg.host, cfg.port, timeout=REPLY_TIMEOUT_SECONDS)
        try:
            if cfg.starttls:
                self.client.starttls()
            if cfg.username and cfg.password:
                self.client.login(cfg.username, cfg.password.get_secret_value())
        except BaseException:
            self.client.close()
            raise
        self.used_at = time.monotonic()

    def alive(self) -> bool:
        try:
            return self.client.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def close(self) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            self.client.quit()
        self.client.close()


_sessions = threading.local()


def _key(cfg: SmtpSettings) -> tuple[object, ...]:
    return (cfg.host, cfg.port, cfg.username, cfg.starttls)


def _held() -> dict[tuple[object, ...], _Session]:
    """This thread's open sessions, by server."""
    held: dict[tuple[object, ...], _Session] = _sessions.__dict__.setdefault("by_server", {})
    return held


def _session(cfg: SmtpSettings) -> _Session:
    """This thread's session with the configured server: kept if recent and answering, else new."""
    session = _held().get(_key(cfg))
    if session is not None and time.monotonic() - session.used_at <= IDLE_SECONDS and session.alive():
        return session
    _forget(cfg)
    session = _held()[_key(cfg)] = _Session(cfg)
    return session


def _forget(cfg: SmtpSettings) -> None:
    session = _held().pop(_key(cfg), None)
    if session is not None:
        session.close()


def _closing_channel(exc: BaseException) -> bool:
    """The server refused the message before DATA with 421: nothing of it was delivered."""
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return exc.smtp_code == 421
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code == 421 for code, _ in exc.recipients.values())
    return False


# RFC 5322's own limit on a line, not the 78 characters it recommends: at 78, a List-Unsubscribe
# header (one long URL) would be sent as RFC 2047 encoded words, which mail clients do not read.
_POLICY = email.policy.SMTP.clone(max_line_length=998)


def send_email(cfg: SmtpSettings, to: str, subject: str, body: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
    message = EmailMessage(policy=_POLICY)
    message["From"] = cfg.sender
    message["To"] = to
    message["Subject"] = subject
    for name, value in headers:
        message[name] = value
    message.set_content(body)
    for last_try in (False, True):
        session = _session(cfg)
        try:
            session.client.send_message(message)
        except BaseException as exc:
            # The session's state is unknown after any failure: the next message starts a new one.
            _forget(cfg)
            if last_try or not _closing_channel(exc):
                raise
            continue
        session.used_at = time.monotonic()
        return

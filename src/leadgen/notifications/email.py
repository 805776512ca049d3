"""E-mail over SMTP with the standard library client.

Each worker thread keeps its SMTP session open between messages: a burst of offers then costs a
NOOP and one MAIL/RCPT/DATA exchange per message instead of a new connection, greeting and QUIT.
A session idle longer than ``IDLE_SECONDS`` is closed rather than trusted (RFC 5321 lets servers
drop idle clients after 5 minutes), and a kept one is asked NOOP before each message, so a server
that went away is found before any of the message is sent. A message is sent again at once only
when the server refused it before DATA with 421 (closing the channel, as servers do past their
messages-per-connection limit); after DATA has begun, an unanswered message may have been
delivered, and the task's retry decides.

Every wait of a send is bounded, so that the send ends within ``SEND_SECONDS`` however slowly a
live server answers: the outbox holds a delivery's event (and the person's message its row) for
that long, and a send that outlived its hold could be sent again by the delivery taking it over.
"""

from __future__ import annotations

import contextlib
import email.policy
import smtplib
import threading
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING

from leadgen.core.settings import SmtpSettings

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

IDLE_SECONDS = 30.0
# Each reply but the one to the end of a message's data. A server that takes longer is stuck, and
# as it has not taken the message yet, the task's retry sends it later without making a copy.
REPLY_TIMEOUT_SECONDS = 10.0
# All the waits of one send before the end of its data, however many replies they are: a new
# session's greeting, EHLO, STARTTLS and its handshake, EHLO again, AUTH (up to three replies a
# mechanism, and smtplib tries the next one the server offers after a refusal), MAIL, RCPT, DATA
# and the message itself, all of it again in a new session after a 421, and the QUIT of a session
# given up. Counting replies would miss some; a deadline cannot.
EXCHANGES_SECONDS = 60.0
# The reply to the end of a message's data. The server may have taken the message by then and be
# scanning or delivering it: a client that stops waiting sends it again, so RFC 5321 §4.5.3.2.6
# gives this reply 10 minutes. We wait half that: a delivery holds its outbox event for as long as
# a send may take (``tasks.SEND_TIME_LIMIT``), and an offer whose worker died is taken over only
# then, with the agent's SLA (15 minutes by default) running.
DATA_END_TIMEOUT_SECONDS = 300.0
# The longest one ``send_email`` takes before it returns or raises.
SEND_SECONDS = EXCHANGES_SECONDS + DATA_END_TIMEOUT_SECONDS


class _Client(smtplib.SMTP):
    """smtplib's client with the waits of one send bounded: each read and write by
    REPLY_TIMEOUT_SECONDS and by the send's ``deadline``, but the reply to the end of a message's
    data, given DATA_END_TIMEOUT_SECONDS."""

    def __init__(self, cfg: SmtpSettings, deadline: float) -> None:
        self.deadline = deadline
        self._in_data = self._data_sent = False
        super().__init__(cfg.host, cfg.port, timeout=self._short_wait())

    def _short_wait(self) -> float:
        # Never 0, which smtplib takes for a non-blocking socket: past the deadline, a read finds
        # only what has already arrived.
        return max(min(REPLY_TIMEOUT_SECONDS, self.deadline - time.monotonic()), 0.001)

    def send(self, s: ReadableBuffer | str) -> None:
        if self.sock:
            self.sock.settimeout(self._short_wait())
        super().send(s)
        # In DATA, smtplib sends the command as text and the message as bytes: once the message has
        # gone, the next reply is the one to its end.
        self._data_sent = self._in_data and isinstance(s, bytes)

    def getreply(self) -> tuple[int, bytes]:
        if self.sock:
            self.sock.settimeout(DATA_END_TIMEOUT_SECONDS if self._data_sent else self._short_wait())
        return super().getreply()

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self._in_data = True
        try:
            return super().data(msg)
        finally:
            self._in_data = self._data_sent = False


class _Session:
    def __init__(self, cfg: SmtpSettings, deadline: float) -> None:
        self.client = _Client(cfg, deadline)
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


def _session(cfg: SmtpSettings, deadline: float) -> _Session:
    """This thread's session with the configured server, its waits bounded by ``deadline``: kept if
    recent and answering, else new."""
    session = _held().get(_key(cfg))
    if session is not None and time.monotonic() - session.used_at <= IDLE_SECONDS:
        session.client.deadline = deadline
        if session.alive():
            return session
    _forget(cfg)
    session = _held()[_key(cfg)] = _Session(cfg, deadline)
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


def message_id(cfg: SmtpSettings, key: uuid.UUID) -> str:
    """The Message-ID of the message ``key`` names, at the domain of our sender address (RFC 5322
    §3.6.4): the same on every send of it, so that a copy sent again after a reply that never came
    can be told for what it is, and dropped, by whoever receives it."""
    domain = parseaddr(cfg.sender)[1].rpartition("@")[2] or "localhost"
    return f"<{key}@{domain}>"


def sender_name(cfg: SmtpSettings) -> str:
    """Who our messages are from, as a person reads it: the display name of our From address
    (``"Lone Star Insurance <leads@lonestar.example>"``), else, for a bare address, its domain.
    A text to a person names it as the e-mail's From does, so that both name one sender."""
    name, address = parseaddr(cfg.sender)
    return name.strip() or address.rpartition("@")[2] or address


def send_email(
    cfg: SmtpSettings, to: str, subject: str, body: str, *, key: uuid.UUID, headers: tuple[tuple[str, str], ...] = ()
) -> None:
    """Send one message, ``key`` naming it the same way on every send (``message_id``)."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = cfg.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(cfg, key)
    for name, value in headers:
        message[name] = value
    message.set_content(body)
    deadline = time.monotonic() + EXCHANGES_SECONDS
    for last_try in (False, True):
        session = _session(cfg, deadline)
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

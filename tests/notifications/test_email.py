"""The SMTP session a worker thread keeps open: reused, reopened when dropped or idle."""

from __future__ import annotations

import asyncio
import smtplib
import time
import uuid
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from leadgen.core.settings import SmtpSettings
from leadgen.notifications import email
from tests.notifications.conftest import Mailbox, free_port


def smtp(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port)


def test_messages_from_one_thread_share_one_connection(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    for n in range(3):
        email.send_email(smtp(port), f"agent{n}@example.com", f"Offer {n}", "A new lead is waiting.", key=uuid.uuid4())
    assert [m["Subject"] for m in box.messages] == ["Offer 0", "Offer 1", "Offer 2"]
    assert len(set(box.peers)) == 1


def test_a_session_the_server_dropped_is_reopened() -> None:
    port = free_port()
    before, after = Mailbox(), Mailbox()
    first = Controller(before, hostname="127.0.0.1", port=port)
    first.start()
    email.send_email(smtp(port), "agent@example.com", "Before", "first", key=uuid.uuid4())
    first.stop()  # the server restarts: the session this thread kept is gone with it
    second = Controller(after, hostname="127.0.0.1", port=port)
    second.start()
    try:
        email.send_email(smtp(port), "agent@example.com", "After", "second", key=uuid.uuid4())
    finally:
        second.stop()
    assert [m["Subject"] for m in before.messages] == ["Before"]
    assert [m["Subject"] for m in after.messages] == ["After"]


class CappedMailbox(Mailbox):
    """Takes two messages per connection, then answers 421 as a server past its limit does."""

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if sum(1 for peer in self.peers if peer == session.peer) >= 2:
            return "421 4.7.0 too many messages on this connection"
        envelope.mail_from = address
        return "250 OK"


def test_a_server_that_closes_the_session_after_some_messages_gets_every_message() -> None:
    box = CappedMailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        for n in range(5):
            email.send_email(smtp(controller.port), f"agent{n}@example.com", f"Offer {n}", "waiting", key=uuid.uuid4())
    finally:
        controller.stop()
    assert [m["Subject"] for m in box.messages] == [f"Offer {n}" for n in range(5)]
    assert len(set(box.peers)) == 3


class SlowMailbox(Mailbox):
    """Takes every message, but answers the second one's end of DATA only after a second."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == 2:
            await asyncio.sleep(1.0)
        return answer


def test_a_message_left_unanswered_after_data_is_not_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email, "DATA_END_TIMEOUT_SECONDS", 0.3)
    box = SlowMailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        email.send_email(smtp(controller.port), "agent@example.com", "First", "one", key=uuid.uuid4())
        # The server may have taken it: the task's retry decides, not a silent second copy.
        with pytest.raises((smtplib.SMTPException, OSError)):
            email.send_email(smtp(controller.port), "agent@example.com", "Second", "two", key=uuid.uuid4())
        time.sleep(1.2)
    finally:
        controller.stop()
    assert [m["Subject"] for m in box.messages] == ["First", "Second"]


def test_an_idle_session_is_closed_rather_than_trusted(
    mailbox: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    box, port = mailbox
    monkeypatch.setattr(email, "IDLE_SECONDS", 0.0)
    email.send_email(smtp(port), "agent@example.com", "One", "first", key=uuid.uuid4())
    email.send_email(smtp(port), "agent@example.com", "Two", "second", key=uuid.uuid4())
    assert len(box.messages) == 2
    assert len(set(box.peers)) == 2


def test_each_server_gets_its_own_session(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    other = Mailbox()
    controller = Controller(other, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        email.send_email(smtp(port), "a@example.com", "To the first", "x", key=uuid.uuid4())
        email.send_email(smtp(controller.port), "b@example.com", "To the second", "y", key=uuid.uuid4())
        email.send_email(smtp(port), "c@example.com", "First again", "z", key=uuid.uuid4())
    finally:
        controller.stop()
    assert [m["Subject"] for m in box.messages] == ["To the first", "First again"]
    assert [m["Subject"] for m in other.messages] == ["To the second"]
    assert len(set(box.peers)) == 1

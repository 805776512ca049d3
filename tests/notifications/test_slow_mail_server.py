"""A slow but live mail server: the reply to the end of a message's data is waited for minutes (the
server may have taken the message and be scanning it), every other wait is short and bounded in
all, and a delivery holds its outbox event for as long as each send may take."""

from __future__ import annotations

import asyncio
import smtplib
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.runtime import RECONNECT_FOR_SECONDS, close_task_runtime, task_runtime
from leadgen.core.settings import SmtpSettings, get_settings
from leadgen.models import Lead, Notification, OutboxEvent
from leadgen.notifications import email, tasks
from leadgen.notifications.sms import send_sms
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, SmsStandIn, free_port
from tests.notifications.test_notifications import first_round, rows


class ScanningMailbox(Mailbox):
    """Takes each message to ``scanned``, then answers the end of its data only after a while, as a
    relay that scans what it has queued before it answers."""

    scan_seconds = 1.0
    scanned: set[str]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if set(envelope.rcpt_tos) & self.scanned:
            await asyncio.sleep(self.scan_seconds)
        return answer


@pytest.fixture
def scanning(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ScanningMailbox, int]]:
    box = ScanningMailbox()
    box.scanned = set()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    # Every reply but the one to the end of the data is given less than the scan takes.
    monkeypatch.setattr(email, "REPLY_TIMEOUT_SECONDS", 0.3)
    try:
        yield box, controller.port
    finally:
        controller.stop()


def test_the_reply_to_the_end_of_a_message_s_data_is_waited_for_longer_than_the_others(
    scanning: tuple[ScanningMailbox, int],
) -> None:
    box, port = scanning
    box.scanned.add("agent@example.com")
    email.send_email(SmtpSettings(host="127.0.0.1", port=port), "agent@example.com", "Scanned", "x", key=uuid.uuid4())
    assert [m["Subject"] for m in box.messages] == ["Scanned"]


async def test_a_mail_server_slow_to_answer_the_end_of_data_gets_the_person_s_message_once(
    routed: Lead, session: AsyncSession, scanning: tuple[ScanningMailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to be given the reply timeout of every other command: the message it had taken was
    left for a retry, and the person got it twice."""
    box, port = scanning
    monkeypatch.setenv("LEADGEN_SMTP_PORT", str(port))
    monkeypatch.setenv("LEADGEN_SMS_ACCOUNT_SID", "")  # no SMS: the person is thanked by e-mail
    get_settings.cache_clear()
    close_task_runtime()
    box.scanned.add(routed.email or "")
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(routed))
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW + tasks.HELD_RETRY_FIRST)
    tasks.send_due()  # the sweep that would send a message left for a retry
    assert [m["To"] for m in box.messages].count(routed.email) == 1
    [to_the_person] = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert (to_the_person.channel, to_the_person.status, to_the_person.failed_sends) == ("email", "sent", 0)


class SlowToAnswer(Mailbox):
    """Live, but answers EHLO, AUTH, MAIL and RCPT each after ``seconds``, just inside the reply
    timeout: a send waits on all of them in turn."""

    seconds = 0.3

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        await asyncio.sleep(self.seconds)
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        await asyncio.sleep(self.seconds)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        await asyncio.sleep(self.seconds)
        return await super().handle_RCPT(server, session, envelope, address, options)

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        time.sleep(self.seconds)  # aiosmtpd calls it without awaiting
        return AuthResult(success=True)


def test_a_send_ends_by_its_deadline_however_many_slow_replies_a_live_server_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The replies before the end of the data used to be bounded one by one, as if a send waited on
    six of them: with AUTH it waits on more, and after a 421 on all of them again. Bounded together,
    a send gives up before the server has the message, so the task's retry makes no copy."""
    monkeypatch.setattr(email, "REPLY_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(email, "EXCHANGES_SECONDS", 1.0)  # EHLO, AUTH, MAIL, RCPT: 1.2 s
    box = SlowToAnswer()
    controller = Controller(
        box, hostname="127.0.0.1", port=free_port(), authenticator=box.authenticate, auth_require_tls=False
    )
    controller.start()
    cfg = SmtpSettings(host="127.0.0.1", port=controller.port, username="leadgen", password="secret")
    started = time.monotonic()
    try:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            email.send_email(cfg, "agent@example.com", "Too slow", "x", key=uuid.uuid4())
        took = time.monotonic() - started
    finally:
        controller.stop()
    assert box.messages == []
    assert 1.0 <= took < 1.0 + 0.3


def test_a_delivery_holds_its_event_and_the_person_s_message_for_as_long_as_a_send_may_take() -> None:
    assert tasks.SEND_TIME_LIMIT["email"] == timedelta(seconds=email.EXCHANGES_SECONDS + email.DATA_END_TIMEOUT_SECONDS)
    # Past the send, its outcome is recorded in a transaction that may wait out a database outage.
    assert tasks.SEND_TIME_LIMIT["email"] + timedelta(seconds=RECONNECT_FOR_SECONDS) < tasks.SWEEP_HOLD


async def test_each_send_of_a_round_is_held_for_until_it_could_have_ended_and_no_longer(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held for every send of the round from the start, a slow e-mail could outlive the hold (the
    round taken over sends the messages after it again); held for each send in its turn, it cannot,
    and a worker that died in a text is taken over once that text could have ended."""
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    held_while_sending: list[tuple[str, str, timedelta]] = []

    def held_for(channel: str, to: str) -> None:
        async def claimed_until(s: AsyncSession) -> Any:
            return await s.scalar(select(OutboxEvent.claimed_until).where(OutboxEvent.key == first_round(routed)))

        held_while_sending.append((channel, to, task_runtime().in_transaction(claimed_until) - INSIDE_WINDOW))

    def sending_email(cfg: Any, to: str, *args: Any, **kwargs: Any) -> None:
        held_for("email", to)
        email.send_email(cfg, to, *args, **kwargs)

    def sending_sms(cfg: Any, to: str, body: str) -> str:
        held_for("sms", to)
        return send_sms(cfg, to, body)

    monkeypatch.setattr(tasks, "send_email", sending_email)
    monkeypatch.setattr(tasks, "send_sms", sending_sms)
    assert tasks.notify_round(first_round(routed)) == 3
    limit, claim = tasks.SEND_TIME_LIMIT, tasks.DELIVERY_CLAIM
    assert held_while_sending == [
        ("email", held_while_sending[0][1], claim + limit["email"]),
        ("sms", "+15125550111", claim + limit["sms"]),
        # The person's message, written again as it goes, may go by e-mail if SMS was turned off.
        ("sms", routed.phone, claim + max(limit.values())),
    ]

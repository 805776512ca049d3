"""Every e-mail carries a Date and a Message-ID, and every send of one message the same Message-ID:
one sent again after a reply that never came can be dropped as a copy by whoever receives it."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.runtime import close_task_runtime
from leadgen.core.settings import get_settings
from leadgen.models import Agent, Lead, Notification
from leadgen.notifications import email, tasks
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, free_port
from tests.notifications.test_notifications import first_round, rows


class LateFirstReply(Mailbox):
    """Takes every message, but answers the end of the first one's data to each of ``late_for``
    after the client stopped waiting: the message arrived, its sender never heard so."""

    late_for: set[str]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        late = set(envelope.rcpt_tos) & self.late_for
        self.late_for -= late
        if late:
            await asyncio.sleep(0.5)
        return answer


@pytest.fixture
def late_first_reply(routed: Lead, monkeypatch: pytest.MonkeyPatch) -> Iterator[LateFirstReply]:
    """The mail server of the round of ``routed``, SMS off (the person is thanked by e-mail)."""
    box = LateFirstReply()
    box.late_for = set()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("LEADGEN_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("LEADGEN_SMS_ACCOUNT_SID", "")
    get_settings.cache_clear()
    close_task_runtime()
    monkeypatch.setattr(email, "DATA_END_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    try:
        yield box
    finally:
        controller.stop()


def at_our_domain() -> str:
    return "@" + get_settings().smtp.sender.rpartition("@")[2] + ">"


async def test_an_e_mail_carries_its_date_and_a_message_id_at_our_domain(
    routed: Lead, session: AsyncSession, late_first_reply: LateFirstReply
) -> None:
    tasks.notify_round(first_round(routed))
    [offer, thanks] = late_first_reply.messages
    for sent in (offer, thanks):
        assert abs(parsedate_to_datetime(sent["Date"]) - datetime.now(UTC)) < timedelta(minutes=1)
        assert sent["Date"].endswith("+0000")
        assert sent["Message-ID"].startswith("<") and sent["Message-ID"].endswith(at_our_domain())
    assert offer["Message-ID"] != thanks["Message-ID"]
    # The person's message is sent as its row: the row names it.
    [row] = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert thanks["Message-ID"] == f"<{row.id}{at_our_domain()}"


async def test_an_offer_sent_again_after_its_reply_was_lost_carries_the_same_message_id(
    routed: Lead, session: AsyncSession, late_first_reply: LateFirstReply
) -> None:
    [agent] = await rows(session, Agent)
    late_first_reply.late_for.add(agent.email)
    with pytest.raises(smtplib.SMTPServerDisconnected):  # for Celery to retry the round
        tasks.notify_round(first_round(routed))
    tasks.notify_round(first_round(routed))  # Celery's retry
    first, again = [m for m in late_first_reply.messages if m["To"] == agent.email]
    assert first["Message-ID"] is not None and first["Message-ID"] == again["Message-ID"]


async def test_the_person_s_message_sent_again_after_its_reply_was_lost_carries_the_same_message_id(
    routed: Lead, session: AsyncSession, late_first_reply: LateFirstReply, monkeypatch: pytest.MonkeyPatch
) -> None:
    late_first_reply.late_for.add(routed.email or "")
    tasks.notify_round(first_round(routed))
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW + tasks.HELD_RETRY_FIRST)
    assert tasks.send_due() == 1
    first, again = [m for m in late_first_reply.messages if m["To"] == routed.email]
    [row] = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert first["Message-ID"] == again["Message-ID"] == f"<{row.id}{at_our_domain()}"

"""A refusal for good is recorded failed and not tried again; an outage, ours included (credentials
the mail server or the SMS provider refuses), is retried with the message kept."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.runtime import close_task_runtime
from leadgen.core.settings import Settings, get_settings
from leadgen.models import Lead, Notification, OutboxEvent
from leadgen.notifications import tasks
from leadgen.notifications.sms import SmsError, send_sms
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, SmsStandIn, free_port
from tests.notifications.test_notifications import first_round, hold_the_acknowledgement, rows


class RefusingMailbox(Mailbox):
    """Answers MAIL with ``at_mail``, or the end of each message's data with ``at_data_end`` (once
    it has read it: what a content scan refuses), or refuses every AUTH with 535."""

    at_mail: str | None = None
    at_data_end: str | None = None

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        envelope.mail_from = address
        return self.at_mail or "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self.at_data_end or await super().handle_DATA(server, session, envelope)

    def refuse_credentials(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=False, handled=False)  # handled: the 535 is aiosmtpd's to send


@pytest.fixture
def refusing(routed: Lead, monkeypatch: pytest.MonkeyPatch) -> Iterator[RefusingMailbox]:
    """The mail server of the round of ``routed``, which asks for AUTH; SMS off (the person is
    thanked by e-mail)."""
    box = RefusingMailbox()
    controller = Controller(
        box, hostname="127.0.0.1", port=free_port(), authenticator=box.refuse_credentials, auth_require_tls=False
    )
    controller.start()
    monkeypatch.setenv("LEADGEN_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("LEADGEN_SMS_ACCOUNT_SID", "")
    get_settings.cache_clear()
    close_task_runtime()
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    try:
        yield box
    finally:
        controller.stop()


@pytest.mark.parametrize(
    ("at_mail", "at_data_end", "code"),
    [
        ("553 5.7.1 sender address not allowed", None, 553),
        (None, "554 5.7.1 message content rejected", 554),  # a scan's verdict, after the data
    ],
)
async def test_a_message_the_mail_server_refuses_for_good_is_recorded_failed_and_not_retried(
    at_mail: str | None,
    at_data_end: str | None,
    code: int,
    routed: Lead,
    session: AsyncSession,
    refusing: RefusingMailbox,
) -> None:
    """It used to be tried again as if the server were busy: the offer 20 times, the person's
    message 8 times over two hours, then recorded failed without the server's code."""
    refusing.at_mail, refusing.at_data_end = at_mail, at_data_end
    assert tasks.notify_round(first_round(routed)) == 0  # no exception: Celery does not retry it
    recorded = {n.recipient_kind: (n.status, n.detail, n.failed_sends) for n in await rows(session, Notification)}
    refused = ("failed", f"the mail server refused the message ({code})", 0)
    assert recorded == {"agent": refused, "lead": refused}
    assert [e.processed_at for e in await rows(session, OutboxEvent) if e.topic == "offers.made"] == [INSIDE_WINDOW]
    assert tasks.send_due() == 0  # nor the sweep the person's
    assert refusing.messages == []


@pytest.mark.parametrize(
    ("at_mail", "at_data_end", "username", "error"),
    [
        ("451 4.3.0 try again later", None, None, smtplib.SMTPSenderRefused),
        (None, "452 4.3.1 insufficient system storage", None, smtplib.SMTPDataError),
        # Our credentials, not the message: missing (RFC 4954's 530 at MAIL) or refused (535 at AUTH).
        ("530 5.7.0 authentication required", None, None, smtplib.SMTPSenderRefused),
        (None, None, "leadgen", smtplib.SMTPAuthenticationError),
    ],
)
async def test_a_mail_server_that_cannot_take_messages_now_or_refuses_our_credentials_is_tried_again(
    at_mail: str | None,
    at_data_end: str | None,
    username: str | None,
    error: type[Exception],
    routed: Lead,
    session: AsyncSession,
    refusing: RefusingMailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refusing.at_mail, refusing.at_data_end = at_mail, at_data_end
    if username:
        monkeypatch.setenv("LEADGEN_SMTP_USERNAME", username)
        monkeypatch.setenv("LEADGEN_SMTP_PASSWORD", "rotated-since")
        get_settings.cache_clear()
        close_task_runtime()
    with pytest.raises(error):  # for Celery to retry the round
        tasks.notify_round(first_round(routed))
    recorded = [(n.recipient_kind, n.status, n.detail) for n in await rows(session, Notification)]
    assert recorded == [("lead", "scheduled", f"not sent yet: {error.__name__}")]  # the offer goes with the retry


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_an_outage_of_ours_logged_as_such(
    status: int, notify_env: Settings, sms: SmsStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    sms.credentials_refused = status
    with pytest.raises(SmsError) as refused:
        send_sms(notify_env.sms, "+15125550123", "hello")
    assert refused.value.retryable
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "refused our credentials" in logged.getMessage() and "LEADGEN_SMS_AUTH_TOKEN" in logged.getMessage()


async def test_a_text_to_the_person_meeting_refused_credentials_is_kept_and_goes_once_they_are_fixed(
    routed: Lead,
    session: AsyncSession,
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It used to be recorded failed for good at the first try: every person texted while the token
    was wrong was never thanked."""
    hold_the_acknowledgement(routed, monkeypatch)
    sms.credentials_refused = 401
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.send_due() == 0
    [held] = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert (held.status, held.detail, held.failed_sends) == ("scheduled", "not sent yet: SmsError", 1)
    sms.credentials_refused = None  # the token is put right
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW + tasks.HELD_RETRY_FIRST)
    assert tasks.send_due() == 1
    assert [r["To"] for r in sms.received if r["To"] == routed.phone] == [routed.phone]
    assert sms.refused == [routed.phone]


async def test_an_offer_meeting_refused_credentials_is_retried_not_failed(
    routed: Lead,
    session: AsyncSession,
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sms.credentials_refused = 401
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    with pytest.raises(SmsError):  # for Celery to retry the round
        tasks.notify_round(first_round(routed))
    recorded = {(n.template, n.channel): n.status for n in await rows(session, Notification)}
    assert recorded == {("offer", "email"): "sent", ("acknowledgement", "sms"): "scheduled"}
    sms.credentials_refused = None
    assert tasks.notify_round(first_round(routed)) == 1  # the retry: the offer's text
    assert [r["To"] for r in sms.received] == ["+15125550111"]

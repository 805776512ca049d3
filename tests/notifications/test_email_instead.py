"""A person whose number cannot get texts (a landline) is thanked by e-mail when they gave an
address, the e-mail checked against every rule of a message to them before it goes; one who replied
STOP to our texts is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance import repository as dnc
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models import Lead, Notification
from leadgen.notifications import service, tasks
from tests import helpers
from tests.conftest import lead_payload
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, SmsStandIn, processed
from tests.notifications.test_notifications import first_round, hold_the_acknowledgement, rows, sent_count, sweep_at

TEXT_REFUSED = "SMS provider refused the message (400)"


async def to_the_person(session: AsyncSession) -> list[tuple[str, str, str | None]]:
    found = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    return sorted((n.channel, n.status, n.detail) for n in found)


def e_mails_to(lead: Lead, mailbox: tuple[Mailbox, int]) -> list[str]:
    bodies = [m.get_payload(decode=True) for m in mailbox[0].messages if m["To"] == lead.email]
    return [raw.decode() for raw in bodies if isinstance(raw, bytes)]


async def test_a_person_whose_number_cannot_get_texts_is_thanked_by_e_mail(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text was recorded failed and that was all: the person never heard from us."""
    sms.invalid.add(routed.phone or "")
    held_before = sent_count("email", "acknowledgement", "scheduled")
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.notify_round(first_round(routed)) == 2  # the offer's e-mail and text
    assert await to_the_person(session) == [
        ("email", "scheduled", service.BY_EMAIL_INSTEAD),
        ("sms", "failed", TEXT_REFUSED),
    ]
    assert sent_count("email", "acknowledgement", "scheduled") == held_before + 1
    assert sweep_at(INSIDE_WINDOW + timedelta(minutes=1), monkeypatch) == 1
    assert await to_the_person(session) == [("email", "sent", None), ("sms", "failed", TEXT_REFUSED)]
    [thanks] = e_mails_to(routed, mailbox)
    assert "Maria Gonzalez, a licensed agent, will contact you shortly" in thanks and "/unsubscribe/" in thanks
    assert sms.refused == [routed.phone]  # not texted again
    assert sweep_at(INSIDE_WINDOW + timedelta(minutes=2), monkeypatch) == 0


async def test_a_person_who_replied_stop_to_our_texts_is_not_e_mailed_instead(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    sms.unsubscribed.add(routed.phone or "")
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(routed))
    assert sweep_at(INSIDE_WINDOW + timedelta(minutes=1), monkeypatch) == 0
    assert await to_the_person(session) == [("sms", "blocked", tasks.OPTED_OUT_AT_PROVIDER)]
    assert e_mails_to(routed, mailbox) == []


async def test_a_person_who_gave_no_address_is_left_at_the_refused_text(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await helpers.agent(session, ["TX"], name="Maria Gonzalez")
    payload = lead_payload()
    payload["contact"].pop("email")
    lead = await processed(notify_env, session, resources, payload)
    sms.invalid.add(lead.phone or "")
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(lead))
    assert sweep_at(INSIDE_WINDOW + timedelta(minutes=1), monkeypatch) == 0
    assert await to_the_person(session) == [("sms", "failed", TEXT_REFUSED)]


async def test_the_e_mail_instead_is_not_sent_to_an_address_on_the_do_not_contact_list(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The person asked us, by e-mail, to stop after their text was refused."""
    sms.invalid.add(routed.phone or "")
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(routed))
    await dnc.add_many(session, [("email", routed.email_hash or "")], "unsubscribe-link")
    await session.commit()
    assert sweep_at(INSIDE_WINDOW + timedelta(minutes=1), monkeypatch) == 0
    assert await to_the_person(session) == [("email", "blocked", "do-not-contact"), ("sms", "failed", TEXT_REFUSED)]
    assert e_mails_to(routed, mailbox) == []


async def test_the_e_mail_instead_waits_for_the_person_s_contact_window(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text, held overnight, was refused as the window closed: the e-mail goes next morning."""
    hold_the_acknowledgement(routed, monkeypatch)
    sms.invalid.add(routed.phone or "")
    closing = datetime(2026, 6, 2, 1, 59, 30, tzinfo=UTC)  # 20:59:30 in Houston, 19:59:30 in El Paso
    assert sweep_at(closing, monkeypatch) == 0
    assert sweep_at(closing + timedelta(minutes=1), monkeypatch) == 0  # 21:00:30 in Houston: too late
    assert await to_the_person(session) == [
        ("email", "scheduled", "outside contact window"),
        ("sms", "failed", TEXT_REFUSED),
    ]
    assert e_mails_to(routed, mailbox) == []
    assert sweep_at(datetime(2026, 6, 2, 15, 0, tzinfo=UTC), monkeypatch) == 1  # 9:00 in El Paso
    assert len(e_mails_to(routed, mailbox)) == 1

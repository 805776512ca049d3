"""A person who gave their number with an extension (their line behind a company's switchboard) is
not texted: a text goes to the main number, which cannot pass it on to the extension, so a message
meant for them would reach the business's front desk. They are thanked by e-mail instead when they
gave an address, as a person whose number is a landline is, and the text's record says why it
was not sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models import Lead
from leadgen.notifications import service, tasks
from tests import helpers
from tests.conftest import lead_payload
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, SmsStandIn, processed
from tests.notifications.test_email_instead import e_mails_to, to_the_person
from tests.notifications.test_notifications import first_round, hold_the_acknowledgement, sweep_at

AGENT_PHONE = "+15125550111"


async def at_an_extension(settings: Settings, session: AsyncSession, resources: Resources, *, email: bool) -> Lead:
    """A lead whose number was given with an extension, routed to an agent who takes texts."""
    agent = await helpers.agent(session, ["TX"], name="Maria Gonzalez")
    agent.phone = AGENT_PHONE
    payload = lead_payload()
    payload["contact"]["phone"] = "(512) 555-0142 ext. 204"
    if not email:
        payload["contact"].pop("email")
    lead = await processed(settings, session, resources, payload)
    assert (lead.phone, lead.phone_extension) == ("+15125550142", "204")
    return lead


async def test_a_person_at_an_extension_is_thanked_by_e_mail_not_texted_at_the_switchboard(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The acknowledgement was texted to the main number: the company's switchboard read it."""
    lead = await at_an_extension(notify_env, session, resources, email=True)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.notify_round(first_round(lead)) == 2  # the offer's e-mail and text
    assert [r["To"] for r in sms.received] == [AGENT_PHONE]
    assert await to_the_person(session) == [
        ("email", "scheduled", service.BY_EMAIL_AT_EXTENSION),
        ("sms", "blocked", service.EXTENSION_NOT_TEXTABLE),
    ]
    assert sweep_at(INSIDE_WINDOW + timedelta(minutes=1), monkeypatch) == 1
    assert await to_the_person(session) == [("email", "sent", None), ("sms", "blocked", service.EXTENSION_NOT_TEXTABLE)]
    [thanks] = e_mails_to(lead, mailbox)
    assert "Maria Gonzalez, a licensed agent, will contact you shortly" in thanks
    assert [r["To"] for r in sms.received] == [AGENT_PHONE]  # the sweep does not text them either


async def test_a_person_at_an_extension_who_gave_no_address_is_not_texted(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lead = await at_an_extension(notify_env, session, resources, email=False)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(lead))
    assert sweep_at(INSIDE_WINDOW + timedelta(minutes=1), monkeypatch) == 0
    assert [r["To"] for r in sms.received] == [AGENT_PHONE]
    assert await to_the_person(session) == [("sms", "blocked", service.EXTENSION_NOT_TEXTABLE)]


async def test_a_held_acknowledgement_to_an_extension_goes_by_e_mail_when_the_window_opens(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held overnight as a text (the channel it was composed for), it is not texted in the morning."""
    lead = await at_an_extension(notify_env, session, resources, email=True)
    hold_the_acknowledgement(lead, monkeypatch)
    assert await to_the_person(session) == [("sms", "scheduled", "outside contact window")]
    assert sweep_at(INSIDE_WINDOW, monkeypatch) == 0
    assert await to_the_person(session) == [
        ("email", "scheduled", service.BY_EMAIL_AT_EXTENSION),
        ("sms", "blocked", service.EXTENSION_NOT_TEXTABLE),
    ]
    assert sweep_at(INSIDE_WINDOW + timedelta(minutes=1), monkeypatch) == 1
    assert len(e_mails_to(lead, mailbox)) == 1
    assert [r["To"] for r in sms.received] == [AGENT_PHONE]

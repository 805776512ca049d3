"""The person's acknowledgement is the first message of our programme they get, so it names who sends
it and says how to stop the texts and get help (CTIA's Messaging Principles and Best Practices: the
first message identifies the programme or sender, and gives STOP and HELP). The name is the display
name of our From address (LEADGEN_SMTP_SENDER), so that a text and an e-mail name one sender; a
text stays in GSM-7 and in one segment, whoever the agent is."""

from __future__ import annotations

from email.utils import parseaddr

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime
from leadgen.core.settings import Settings, get_settings
from leadgen.leads.lifecycle import Line
from leadgen.notifications import tasks
from leadgen.notifications.templates import acknowledgement_text
from tests import helpers
from tests.conftest import lead_payload
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, SmsStandIn, processed
from tests.notifications.test_email_instead import e_mails_to
from tests.notifications.test_notifications import first_round
from tests.notifications.test_texts import GSM7, segments

AGENCY = "Lone Star Insurance"
LONG_NAME = "Maria Guadalupe Fernandez de la Cruz Villanueva-Hernandez"
# The longest line's details (its name is the longest a text carries).
COMMERCIAL = {
    "legal_name": "Example Business LLC",
    "entity_type": "llc",
    "years_in_business": 4,
    "employees": 12,
    "coverages": ["general liability"],
}


def agency_sender(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LEADGEN_SMTP_SENDER", f"{AGENCY} <leads@lonestar.example>")
    get_settings.cache_clear()
    close_task_runtime()
    return get_settings()


async def texted_acknowledgement(
    settings: Settings,
    session: AsyncSession,
    resources: Resources,
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
    agent: str,
    line: Line = Line.AUTO,
) -> str:
    await helpers.agent(session, ["TX"], [line], name=agent)
    payload = lead_payload(line=line.value)
    if line == Line.COMMERCIAL:
        payload.update(details=COMMERCIAL, currently_insured=None)
    lead = await processed(settings, session, resources, payload)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(lead))
    [text] = [r["Body"] for r in sms.received if r["To"] == lead.phone]
    return str(text)


async def test_the_texted_acknowledgement_names_the_agency_and_gives_help_and_stop(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It said "Hello, thanks for your auto insurance request": from a number the person does not
    know, with no name of who sends it and no word of HELP."""
    settings = agency_sender(monkeypatch)
    text = await texted_acknowledgement(settings, session, resources, sms, monkeypatch, "Maria Gonzalez")
    assert text.startswith(f"{AGENCY}: thanks for your auto insurance request.")
    assert "Maria Gonzalez, a licensed agent, will contact you soon." in text
    assert text.endswith("Reply STOP to opt out, HELP for help.")
    assert set(text) <= GSM7 and segments(text) == 1


async def test_a_long_agent_name_gives_way_so_that_the_text_keeps_to_one_segment(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The agency, HELP and STOP are never cut: the agent is named by their first name instead."""
    settings = agency_sender(monkeypatch)
    text = await texted_acknowledgement(settings, session, resources, sms, monkeypatch, LONG_NAME, Line.COMMERCIAL)
    assert segments(text) == 1
    assert text.startswith(f"{AGENCY}: thanks for your commercial insurance request.")
    assert "Maria, a licensed agent, will contact you soon." in text and "Villanueva" not in text
    assert text.endswith("Reply STOP to opt out, HELP for help.")


async def test_without_a_display_name_the_text_names_the_sender_s_domain(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LEADGEN_SMTP_SENDER as it comes, a bare address: its domain is the one name we have."""
    text = await texted_acknowledgement(notify_env, session, resources, sms, monkeypatch, "Maria Gonzalez")
    assert text.startswith("leadgen.local: thanks for your auto insurance request.")


async def test_the_e_mailed_acknowledgement_names_the_same_sender(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADGEN_SMS_ACCOUNT_SID", "")  # no SMS: the person is thanked by e-mail
    settings = agency_sender(monkeypatch)
    await helpers.agent(session, ["TX"], name="Maria Gonzalez")
    lead = await processed(settings, session, resources, lead_payload())
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(lead))
    [mail] = [m for m in mailbox[0].messages if m["To"] == lead.email]
    assert parseaddr(mail["From"]) == (AGENCY, "leads@lonestar.example")
    [body] = e_mails_to(lead, mailbox)
    assert f"Thanks for your auto insurance quote request to {AGENCY}." in body
    assert body.rstrip().endswith(AGENCY)


@pytest.mark.parametrize(
    ("agent", "named"),
    [
        ("Maria Gonzalez", "Maria Gonzalez, a licensed agent,"),
        (LONG_NAME, "Maria, a licensed agent,"),
        ("王芳", "A licensed agent"),  # no GSM-7 form: as UCS-2 the text would take three segments
    ],
)
def test_the_text_names_the_agent_as_far_as_one_segment_allows(agent: str, named: str) -> None:
    text = acknowledgement_text(sender=AGENCY, line=Line.AUTO, agent=agent)
    assert named in text and segments(text) == 1
    assert text.startswith(AGENCY) and text.endswith("Reply STOP to opt out, HELP for help.")

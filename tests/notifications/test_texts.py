"""What agents and people read: times in the agent's own time zone, and texts kept to the SMS
alphabet (GSM-7), so that a staff name does not make each text cost two or three."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.models import Agent, Lead
from leadgen.notifications import tasks
from leadgen.notifications.templates import agent_time, to_gsm7
from tests import helpers
from tests.conftest import lead_payload
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, SmsStandIn, processed
from tests.notifications.test_notifications import accepted_by_its_agent, asked_again, first_round, rows

AGENT_PHONE = "+15125550111"
NAME = "Siobh\u00e1n O\u2019Brien-Nguy\u1ec5n"  # á, a curly apostrophe, ễ
# GSM 03.38: the default alphabet, and the extension table, whose characters take two septets.
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿")
GSM7 |= set("abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = set("^{}\\[~]|€")


def segments(text: str) -> int:
    """The segments a text is sent and paid for in: 160 septets alone, 153 each when split; in UCS-2,
    70 characters alone, 67 each when split."""
    if set(text) <= GSM7 | GSM7_EXTENSION:
        septets = len(text) + sum(char in GSM7_EXTENSION for char in text)
        return 1 if septets <= 160 else -(-septets // 153)
    return 1 if len(text) <= 70 else -(-len(text) // 67)


def body(mailbox: tuple[Mailbox, int], to: str) -> str:
    [mail] = [m for m in mailbox[0].messages if m["To"] == to]
    raw = mail.get_payload(decode=True)
    assert isinstance(raw, bytes)
    return raw.decode()


async def test_an_offer_s_deadline_is_in_the_agent_s_time_zone(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was in UTC: an agent in Texas read 15:15 for a quarter past ten."""
    [agent] = await rows(session, Agent)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)  # offered at 10:00 in Chicago, for 15 minutes
    tasks.notify_round(first_round(routed))
    assert "Accept it before 10:15 am CDT or it moves to the next agent." in body(mailbox, agent.email)
    [text] = [r["Body"] for r in sms.received if r["To"] == AGENT_PHONE]
    assert text.endswith("accept by 10:15 am CDT")


async def test_an_agent_without_a_known_time_zone_reads_utc(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    [agent] = await rows(session, Agent)
    agent.timezone = ""
    await session.commit()
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(routed))
    assert "Accept it before 3:15 pm UTC or" in body(mailbox, agent.email)


async def test_when_a_person_asked_again_is_in_the_agent_s_time_zone(
    routed: Lead,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = await accepted_by_its_agent(session, resources, routed)
    again = await asked_again(get_settings(), session, resources, routed)
    monkeypatch.setattr(tasks, "utcnow", lambda: again.received_at)  # told at once: the day goes without saying
    tasks.tell_owners(str(again.id))
    asked = again.received_at.astimezone(ZoneInfo(owner.timezone))
    at = f"{asked.hour % 12 or 12}:{asked:%M} {asked:%p}".lower() + f" {asked:%Z}"
    assert f"asked for a quote again at {at} through test-vendor" in body(mailbox, owner.email)


@pytest.mark.parametrize(
    ("when", "zone", "read"),
    [
        (datetime(2026, 6, 1, 15, 15, tzinfo=UTC), "America/Chicago", "10:15 am CDT"),
        (datetime(2026, 12, 1, 15, 15, tzinfo=UTC), "America/Chicago", "9:15 am CST on Tue Dec 1"),
        (datetime(2026, 6, 2, 4, 30, tzinfo=UTC), "America/Los_Angeles", "9:30 pm PDT"),
        (datetime(2026, 6, 2, 5, 0, tzinfo=UTC), "America/New_York", "1:00 am EDT on Tue Jun 2"),
        (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), None, "12:00 pm UTC"),
        (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), "Nowhere/Atlantis", "12:00 pm UTC"),
    ],
)
def test_agent_time_names_the_zone_and_the_day_when_it_is_not_today_there(
    when: datetime, zone: str | None, read: str
) -> None:
    assert agent_time(when, zone, now=datetime(2026, 6, 1, 15, 0, tzinfo=UTC)) == read


@pytest.mark.parametrize(
    ("name", "texted"),
    [
        (NAME, "Siobhan O'Brien-Nguyen"),
        ("José \u201cPepe\u201d Muñoz \u2013 Ærø", 'José "Pepe" Muñoz - Ærø'),  # é, ñ, Æ and ø are GSM-7's
        ("Łukasz Żółć", "Lukasz Zolc"),
        ("王芳", "王芳"),  # no GSM-7 form: kept, and sent as UCS-2 as it must be
    ],
)
def test_a_name_is_texted_in_gsm_7_as_far_as_it_goes(name: str, texted: str) -> None:
    assert to_gsm7(name) == texted


async def test_an_agent_s_name_outside_gsm_7_does_not_make_the_person_s_text_cost_more(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One curly apostrophe sent the whole acknowledgement as UCS-2: two segments instead of one."""
    agent = await helpers.agent(session, ["TX"], name=NAME)
    lead = await processed(notify_env, session, resources, lead_payload())
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(lead))
    [text] = [r["Body"] for r in sms.received if r["To"] == lead.phone]
    assert segments(text) == 1
    assert "Siobhan O'Brien-Nguyen, a licensed agent" in text
    assert f"Hello {NAME}," in body(mailbox, agent.email)  # an e-mail carries it as it is

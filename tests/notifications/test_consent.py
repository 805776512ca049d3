"""No automated message reaches a person whose lead carries no consent record.

A vendor's phone or referral lead may arrive without one (``compliance.rules.consent_problem``):
agents are still offered it, to call by hand, but the platform's own text or e-mail to the person
needs their prior express consent (TCPA), so it is recorded blocked with the reason, never sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance.rules import NO_CONSENT_ON_RECORD, automated_message_problem
from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime
from leadgen.core.settings import Settings, get_settings
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import ConsentRecord, Lead, Notification
from leadgen.notifications import service, tasks
from tests import helpers
from tests.conftest import lead_payload
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, SmsStandIn, processed
from tests.notifications.test_notifications import OUTSIDE_WINDOW, first_round, rows, sent_count

AGENT_PHONE = "+15125550111"


def without_consent(origin: str) -> dict[str, Any]:
    """A vendor's lead of ``origin`` sent with no consent record, as intake takes it."""
    payload = lead_payload(origin=origin)
    payload.pop("consent")
    return payload


async def submitted(settings: Settings, session: AsyncSession, resources: Resources, payload: dict[str, Any]) -> Lead:
    """The lead run through the pipeline, offered to an agent with a phone."""
    agent = await helpers.agent(session, ["TX"], name="Maria Gonzalez")
    agent.phone = AGENT_PHONE
    lead = await processed(settings, session, resources, payload)
    assert lead.status == LeadStatus.ROUTED  # offered to the agent all the same
    return lead


def to_the_person(session_rows: list[Notification]) -> list[tuple[str, str | None, str]]:
    return [(n.status, n.detail, n.channel) for n in session_rows if n.recipient_kind == "lead"]


def test_an_automated_message_needs_a_consent_record() -> None:
    assert automated_message_problem(has_consent=True) is None
    assert automated_message_problem(has_consent=False) == NO_CONSENT_ON_RECORD


@pytest.mark.parametrize("origin", ["phone", "referral"])
async def test_a_person_without_consent_gets_no_text_while_the_agent_is_offered_the_lead(
    origin: str,
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lead = await submitted(notify_env, session, resources, without_consent(origin))
    assert await session.scalar(select(ConsentRecord).where(ConsentRecord.lead_id == lead.id)) is None
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    blocked = sent_count("sms", "acknowledgement", "blocked")
    assert tasks.notify_round(first_round(lead)) == 2  # the agent's e-mail and text
    assert [r["To"] for r in sms.received] == [AGENT_PHONE]
    assert to_the_person(await rows(session, Notification)) == [("blocked", NO_CONSENT_ON_RECORD, "sms")]
    assert sent_count("sms", "acknowledgement", "blocked") == blocked + 1


async def test_a_person_without_consent_gets_no_email_either(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADGEN_SMS_ACCOUNT_SID", "")  # no SMS: the person would be thanked by e-mail
    get_settings.cache_clear()
    close_task_runtime()
    lead = await submitted(get_settings(), session, resources, without_consent("phone"))
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.notify_round(first_round(lead)) == 1  # the agent's e-mail
    assert [m["To"] for m in mailbox[0].messages if m["To"] == lead.email] == []
    assert to_the_person(await rows(session, Notification)) == [("blocked", NO_CONSENT_ON_RECORD, "email")]


async def test_without_consent_the_message_is_blocked_at_night_too_not_held_for_the_morning(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No window opening brings consent: the message is blocked for good, not held."""
    lead = await submitted(notify_env, session, resources, without_consent("phone"))
    monkeypatch.setattr(tasks, "utcnow", lambda: OUTSIDE_WINDOW)
    assert tasks.notify_round(first_round(lead)) == 2
    [held] = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert (held.status, held.detail, held.not_before) == ("blocked", NO_CONSENT_ON_RECORD, None)


async def test_a_message_held_before_the_rule_is_blocked_when_its_window_opens(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release before this rule held the night's acknowledgement of a lead without consent for
    the morning: the sweep that finds it blocks it instead of sending it."""
    lead = await submitted(notify_env, session, resources, without_consent("referral"))
    held = service.Outbound("sms", lead.phone or "", "", "acknowledgement", "lead", lead_id=lead.id)
    service.record(session, held, "scheduled", "outside contact window", not_before=INSIDE_WINDOW)
    await session.commit()
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.send_due() == 0
    assert [r for r in sms.received if r["To"] == lead.phone] == []
    assert to_the_person(await rows(session, Notification)) == [("blocked", NO_CONSENT_ON_RECORD, "sms")]


async def test_a_person_whose_lead_carries_consent_is_still_thanked(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A phone lead sent with the consent record its caller gave is acknowledged as a web one is."""
    lead = await submitted(notify_env, session, resources, lead_payload(origin="phone"))
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.notify_round(first_round(lead)) == 3
    assert [r["To"] for r in sms.received if r["To"] == lead.phone] == [lead.phone]
    assert to_the_person(await rows(session, Notification)) == [("sent", None, "sms")]

"""Notifications end to end: a real SMTP server (aiosmtpd) and a stand-in of Twilio's Messages API.

The SMS provider is the one thing that cannot exist here, so a local HTTP server speaking the
same API (form-encoded POST to /2010-04-01/Accounts/<sid>/Messages.json, basic auth) stands in.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from unittest.mock import patch

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth.roles import Principal, Role
from leadgen.compliance import repository as dnc
from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime, task_runtime
from leadgen.core.security import keyed_hash
from leadgen.core.settings import Settings, get_settings
from leadgen.leads import outcomes
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, Lead, Notification, OutboxEvent
from leadgen.notifications import service, tasks
from leadgen.notifications.email import send_email
from leadgen.notifications.sms import RecipientOptedOut, SmsError, send_sms
from leadgen.outbox import repository as outbox
from leadgen.pipeline.service import pipeline_for, reroute
from leadgen.routing import service as routing
from leadgen.routing import tasks as routing_tasks
from leadgen.targets.api import create_app
from tests import helpers
from tests.conftest import lead_payload, started, sync_graph
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, SmsStandIn, processed

OUTSIDE_WINDOW = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)  # midnight in Texas


def sent_count(channel: str, template: str, status: str = "sent") -> float:
    labels = {"channel": channel, "template": template, "status": status}
    return REGISTRY.get_sample_value("leadgen_notifications_total", labels) or 0.0


async def rows(session: AsyncSession, model: Any) -> list[Any]:
    return list(await session.scalars(select(model).execution_options(populate_existing=True)))


def hold_the_acknowledgement(routed: Lead, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first round goes out at midnight in Texas: the offer leaves, the person's message waits."""
    monkeypatch.setattr(tasks, "utcnow", lambda: OUTSIDE_WINDOW)
    tasks.notify_round(first_round(routed))


def overnight(monkeypatch: pytest.MonkeyPatch) -> None:
    """Agents answer their offers a minute after the night's round."""
    for module in (routing, outcomes):
        monkeypatch.setattr(module, "utcnow", lambda: OUTSIDE_WINDOW + timedelta(minutes=2))


def first_round(lead: Lead) -> str:
    return f"{lead.id}:1"


async def test_offer_reaches_the_agent_by_email_and_sms_without_lead_contact_data(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    offers_sent = sent_count("email", "offer")
    assert tasks.notify_round(first_round(routed)) == 3  # the offer by e-mail and SMS, and the person's SMS
    assert sent_count("email", "offer") == offers_sent + 1
    mail = mailbox[0].messages
    assert len(mail) == 1 and mail[0]["Subject"].startswith("New auto lead in TX")
    body = mail[0].get_payload()
    assert isinstance(body, str) and "Maria Gonzalez" in body
    assert "Open your inbox: http://127.0.0.1:8080/inbox" in body  # the dashboard, not the api
    assert routed.phone and routed.phone not in body and (routed.email or "") not in body
    to_agent = [r for r in sms.received if r["To"] == "+15125550111"]
    assert len(to_agent) == 1 and to_agent[0]["auth"] == "AC123:token-456"
    assert routed.phone not in to_agent[0]["Body"]
    assert to_agent[0]["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    sent = await rows(session, Notification)
    assert sorted((n.template, n.channel, n.status) for n in sent) == [
        ("acknowledgement", "sms", "sent"),
        ("offer", "email", "sent"),
        ("offer", "sms", "sent"),
    ]
    outbox = {(e.topic, e.processed_at is not None) for e in await rows(session, OutboxEvent)}
    assert ("offers.made", True) in outbox


async def test_lead_is_thanked_inside_the_contact_window(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(routed))
    to_lead = [r for r in sms.received if r["To"] == routed.phone]
    assert len(to_lead) == 1 and "Reply STOP" in to_lead[0]["Body"] and "Maria" in to_lead[0]["Body"]


# What a stranger might type as a first name to have us carry it to someone else's phone or inbox.
PHISHING_NAME = "URGENT: your account is locked, verify at http://evil.example/x"


@pytest.mark.parametrize("channel", ["sms", "email"])
async def test_the_acknowledgement_carries_nothing_the_submitter_typed(
    channel: str,
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Anyone may give the quote form anyone's number or address, so the message that reaches it
    greets nobody by the name typed: it would be the stranger's text sent in our name."""
    if channel == "email":
        monkeypatch.setenv("LEADGEN_SMS_ACCOUNT_SID", "")  # no SMS: the person is thanked by e-mail
        get_settings.cache_clear()
        close_task_runtime()
    await helpers.agent(session, ["TX"], name="Maria Gonzalez")
    payload = lead_payload()
    payload["contact"]["first_name"] = PHISHING_NAME
    lead = await processed(get_settings(), session, resources, payload)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(lead))
    if channel == "sms":
        texts = [r["Body"] for r in sms.received if r["To"] == lead.phone]
    else:
        mail = [m for m in mailbox[0].messages if m["To"] == lead.email]
        texts = [f"{m['Subject']}\n{m.get_payload(decode=True)!r}" for m in mail]
    assert len(texts) == 1, texts
    assert "Maria Gonzalez" in texts[0] and "auto insurance" in texts[0]
    assert "evil.example" not in texts[0] and "URGENT" not in texts[0]


async def test_outside_the_window_the_message_waits_until_it_opens(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "utcnow", lambda: OUTSIDE_WINDOW)
    assert tasks.notify_round(first_round(routed)) == 2  # the agent's offer goes at any hour
    held = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert [(n.status, n.detail) for n in held] == [("scheduled", "outside contact window")]
    assert held[0].not_before == datetime(2026, 6, 1, 15, 0, tzinfo=UTC)  # 9:00 in El Paso, Texas
    assert tasks.send_due() == 0  # still night
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    thanked = sent_count("sms", "acknowledgement")
    assert tasks.send_due() == 1
    assert sent_count("sms", "acknowledgement") == thanked + 1
    assert [r["To"] for r in sms.received if r["To"] == routed.phone] == [routed.phone]
    assert [n.status for n in await rows(session, Notification) if n.recipient_kind == "lead"] == ["sent"]


async def test_a_held_message_goes_nowhere_once_the_number_was_returned_as_wrong(
    routed: Lead,
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Overnight the agent took the lead and gave it back: the number reaches someone who never
    asked. The morning's "an agent will contact you" would go to that stranger."""
    hold_the_acknowledgement(routed, monkeypatch)
    overnight(monkeypatch)
    [offer] = await rows(session, Assignment)
    agent = Principal(uuid.uuid4(), Role.AGENT, offer.agent_id)
    async with resources.unit_of_work() as s:
        await routing.accept(s, agent, offer.id)
    async with resources.unit_of_work() as s:
        await outcomes.return_lead(s, notify_env, agent, routed.id, "wrong_number", None)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.send_due() == 0
    assert [r for r in sms.received if r["To"] == routed.phone] == []
    held = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert [(n.status, n.detail) for n in held] == [("blocked", service.NO_AGENT_HOLDS)]


async def test_a_held_message_names_the_agent_who_holds_the_lead_when_it_goes(
    routed: Lead, session: AsyncSession, resources: Resources, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maria declined, and the window opened before the next round offered the lead to Sam: the
    message waits for that round, then names Sam."""
    hold_the_acknowledgement(routed, monkeypatch)
    overnight(monkeypatch)
    sam = await helpers.agent(session, ["TX"], name="Sam Lee")
    await session.commit()
    await sync_graph(resources)
    [maria_offer] = await rows(session, Assignment)
    async with resources.unit_of_work() as s:
        await routing.reject(s, Principal(uuid.uuid4(), Role.AGENT, maria_offer.agent_id), maria_offer.id, "busy")
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.send_due() == 0  # between the two rounds
    held = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert [(n.status, n.detail) for n in held] == [("scheduled", service.BETWEEN_ROUNDS)]
    assert held[0].not_before == INSIDE_WINDOW + service.ROUND_WAIT
    async with resources.unit_of_work() as s:
        await reroute(s, pipeline_for(resources), routed.id, OUTSIDE_WINDOW + timedelta(minutes=1))
    sams_offer = next(o for o in await rows(session, Assignment) if o.agent_id == sam.id)
    async with resources.unit_of_work() as s:
        await routing.accept(s, Principal(uuid.uuid4(), Role.AGENT, sam.id), sams_offer.id)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW + service.ROUND_WAIT)
    assert tasks.send_due() == 1
    [text] = [r["Body"] for r in sms.received if r["To"] == routed.phone]
    assert "Sam Lee" in text and "Maria" not in text


@pytest.mark.parametrize(
    ("why", "outcome", "barred"),
    [
        # A number that cannot get texts: recorded failed, not tried again.
        ("invalid", ("failed", "SMS provider refused the message (400)"), None),
        # The person replied STOP to our number and the provider keeps it: listed as if we heard it.
        ("unsubscribed", ("blocked", tasks.OPTED_OUT_AT_PROVIDER), "do-not-contact"),
    ],
)
async def test_a_held_message_the_provider_refuses_for_good_is_not_tried_again(
    why: str,
    outcome: tuple[str, str],
    barred: str | None,
    routed: Lead,
    session: AsyncSession,
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hold_the_acknowledgement(routed, monkeypatch)
    getattr(sms, why).add(routed.phone or "")
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.send_due() == 0
    [held] = [n for n in await rows(session, Notification) if n.recipient_kind == "lead" and n.channel == "sms"]
    assert (held.status, held.detail) == outcome
    tasks.send_due()  # the next sweep does not text them again (it may e-mail them: test_email_instead)
    assert sms.refused == [routed.phone]
    lead = await session.get(Lead, routed.id, populate_existing=True)
    assert lead is not None and await dnc.contact_barred(session, lead) == barred


async def test_a_person_who_replied_stop_unheard_is_listed_when_the_provider_refuses_our_text(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider keeps its own list of numbers that replied STOP to ours, and refuses our texts
    to them: a reply our webhook never took (it was down when the provider called) is learnt then."""
    sms.unsubscribed.add(routed.phone or "")
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    blocked = sent_count("sms", "acknowledgement", "blocked")
    assert tasks.notify_round(first_round(routed)) == 2  # the agent's offer, by e-mail and SMS
    assert sent_count("sms", "acknowledgement", "blocked") == blocked + 1
    [to_lead] = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert (to_lead.status, to_lead.detail) == ("blocked", tasks.OPTED_OUT_AT_PROVIDER)
    lead = await session.get(Lead, routed.id, populate_existing=True)
    assert lead is not None and await dnc.contact_barred(session, lead) == "do-not-contact"
    # As a STOP that reached the webhook does: the lead's offer is withdrawn, and the lead ends there.
    assert lead.status == LeadStatus.UNASSIGNED
    assert [a.status for a in await rows(session, Assignment)] == [AssignmentStatus.WITHDRAWN]
    assert [e.data for e in await audit.lead_events(session, lead.id) if e.name == "lead.opted_out"] == [
        {"via": "sms-reply"}
    ]


async def test_an_agent_who_replied_stop_still_gets_offers_by_email_and_lists_nobody(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = await helpers.agent(session, ["TX"], name="Maria Gonzalez")
    agent.phone = "+15125550111"
    lead = await processed(notify_env, session, resources, lead_payload())
    sms.unsubscribed.add("+15125550111")
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    with patch.object(tasks.log, "warning") as warning:
        assert tasks.notify_round(first_round(lead)) == 2  # the offer by e-mail, the person's text
    assert any("agent" in str(call.args[0]) for call in warning.call_args_list)
    outcomes = {(n.template, n.channel): (n.status, n.detail) for n in await rows(session, Notification)}
    assert outcomes[("offer", "sms")] == ("blocked", tasks.OPTED_OUT_AT_PROVIDER)
    assert outcomes[("offer", "email")] == ("sent", None)
    reread = await session.get(Lead, lead.id, populate_existing=True)
    assert reread is not None and reread.status == LeadStatus.ROUTED
    assert await dnc.contact_barred(session, reread) is None


def test_the_providers_refusal_for_a_stop_is_told_from_other_refusals(sms: SmsStandIn, notify_env: Settings) -> None:
    sms.unsubscribed.add("+15125550199")
    sms.invalid.add("+15125550198")
    with pytest.raises(SmsError) as stopped:
        send_sms(notify_env.sms, "+15125550199", "hello")
    with pytest.raises(SmsError) as invalid:
        send_sms(notify_env.sms, "+15125550198", "hello")
    assert isinstance(stopped.value, RecipientOptedOut) and not stopped.value.retryable
    assert not isinstance(invalid.value, RecipientOptedOut) and not invalid.value.retryable


def sweep_at(moment: datetime, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(tasks, "utcnow", lambda: moment)
    return tasks.send_due()


async def held_message(session: AsyncSession) -> Notification:
    """The person's message of the first round, as it is now."""
    held = await session.scalar(
        select(Notification).where(Notification.recipient_kind == "lead").execution_options(populate_existing=True)
    )
    assert held is not None
    return held


async def test_a_held_message_the_provider_cannot_take_now_waits_longer_each_time_then_fails(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_the_acknowledgement(routed, monkeypatch)
    sms.unavailable_for.add(routed.phone or "")
    failed_before = sent_count("sms", "acknowledgement", "failed")
    now, waits = INSIDE_WINDOW, []
    for tries in range(1, tasks.HELD_MAX_FAILED_SENDS):
        assert sweep_at(now, monkeypatch) == 0
        held = await held_message(session)
        assert (held.status, held.failed_sends, held.detail) == ("scheduled", tries, "not sent yet: SmsError")
        assert held.not_before is not None
        waits.append(held.not_before - now)
        assert sweep_at(held.not_before - timedelta(seconds=1), monkeypatch) == 0
        assert len(sms.refused) == tries  # not tried before its time
        now = held.not_before
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60)]
    assert sweep_at(now, monkeypatch) == 0
    held = await held_message(session)
    assert (held.status, held.detail) == ("failed", "not sent in 8 tries, the last: SmsError")
    assert sent_count("sms", "acknowledgement", "failed") == failed_before + 1  # counted once, at the end
    assert tasks.send_due() == 0 and len(sms.refused) == tasks.HELD_MAX_FAILED_SENDS


async def test_a_held_message_goes_at_the_first_sweep_after_the_provider_is_back(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_the_acknowledgement(routed, monkeypatch)
    phone = routed.phone or ""
    sms.unavailable_for.add(phone)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.send_due() == 0
    sms.unavailable_for.clear()
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW + tasks.HELD_RETRY_FIRST)
    assert tasks.send_due() == 1
    held = await held_message(session)
    assert (held.status, held.failed_sends, held.detail) == ("sent", 1, None)
    assert [r["To"] for r in sms.received].count(phone) == 1


async def test_a_retry_that_falls_after_the_window_closed_waits_for_it_to_open(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_the_acknowledgement(routed, monkeypatch)
    sms.unavailable_for.add(routed.phone or "")
    closing = datetime(2026, 6, 2, 1, 59, 30, tzinfo=UTC)  # 20:59:30 in Houston, 19:59:30 in El Paso
    assert sweep_at(closing, monkeypatch) == 0
    retry_at = (await held_message(session)).not_before
    assert retry_at == closing + tasks.HELD_RETRY_FIRST
    sms.unavailable_for.clear()
    assert sweep_at(retry_at, monkeypatch) == 0  # 21:00:30 in Houston: too late
    held = await held_message(session)
    assert (held.status, held.detail, held.failed_sends) == ("scheduled", "outside contact window", 1)
    assert held.not_before == datetime(2026, 6, 2, 15, 0, tzinfo=UTC)  # 9:00 in El Paso the next morning
    assert sweep_at(datetime(2026, 6, 2, 15, 0, tzinfo=UTC), monkeypatch) == 1


async def test_a_held_message_a_dead_sweep_was_sending_goes_once_its_hold_runs_out(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_the_acknowledgement(routed, monkeypatch)
    # A sweep took it at 10:00 in Texas, then its worker died before sending.
    held_until = INSIDE_WINDOW + tasks.SWEEP_HOLD
    to_the_person = update(Notification).where(Notification.recipient_kind == "lead")
    await session.execute(to_the_person.values(status="sending", not_before=held_until))
    await session.commit()
    monkeypatch.setattr(tasks, "utcnow", lambda: held_until - timedelta(seconds=1))
    assert tasks.send_due() == 0 and sms.received[1:] == []  # only the agent's offer so far
    monkeypatch.setattr(tasks, "utcnow", lambda: held_until)
    assert tasks.send_due() == 1
    assert [r["To"] for r in sms.received].count(routed.phone or "") == 1
    assert [n.status for n in await rows(session, Notification) if n.recipient_kind == "lead"] == ["sent"]


async def test_a_held_message_with_an_unreadable_answer_is_failed_and_a_slow_sweep_overwrites_no_later_one(
    routed: Lead, session: AsyncSession, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_the_acknowledgement(routed, monkeypatch)

    def garbled(cfg: Any, to: str, body: str) -> str:
        raise json.JSONDecodeError("Expecting value", "<html>", 0)  # accepted, with a page that is not JSON

    monkeypatch.setattr("leadgen.notifications.tasks.send_sms", garbled)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.send_due() == 0
    [held] = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert (held.status, held.detail) == ("failed", "JSONDecodeError")
    assert tasks.send_due() == 0  # not sent again at every sweep
    # A sweep that gets to a message after its hold ran out neither sends it nor records anything
    # over the sweep that took it over.
    later_hold = INSIDE_WINDOW + 2 * tasks.SWEEP_HOLD
    await session.execute(
        update(Notification).where(Notification.id == held.id).values(status="sending", not_before=later_hold)
    )
    await session.commit()
    slow_hold = INSIDE_WINDOW + tasks.SWEEP_HOLD
    async with resources.unit_of_work() as s:
        assert not await tasks._hold_again(s, held_id=held.id, hold=slow_hold, until=later_hold)
        await tasks._finish_held(
            s, settings=get_settings(), held_id=held.id, hold=slow_hold, message=None, status="retry", detail="x"
        )
    assert [(n.status, n.not_before) for n in await rows(session, Notification) if n.id == held.id] == [
        ("sending", later_hold)
    ]
    async with resources.unit_of_work() as s:  # the sweep that holds it renews its hold
        assert await tasks._hold_again(s, held_id=held.id, hold=later_hold, until=later_hold + tasks.SWEEP_HOLD)


async def test_nothing_goes_to_a_do_not_contact_number(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, notify_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = notify_env.security.pii_hash_key.get_secret_value()
    await dnc.add_many(session, [("phone", keyed_hash(key, "phone", routed.phone or ""))], "asked to stop")
    await session.commit()
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.notify_round(first_round(routed)) == 2
    assert [r["To"] for r in sms.received] == ["+15125550111"]
    held = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert [(n.status, n.detail) for n in held] == [("blocked", "do-not-contact")]


async def test_a_person_who_opts_out_while_the_agents_offers_go_is_not_thanked(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round sends its agents' offers first, and each may take a while: the person's message is
    checked against the do-not-contact list again just before it goes."""
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    send = tasks.deliver

    def offer_then_stop(settings: Settings, message: service.Outbound, key: uuid.UUID) -> None:
        send(settings, message, key)
        if message.recipient_kind == "agent":  # the person's STOP commits while the offer goes
            stop = partial(dnc.add_many, entries=[("phone", routed.phone_hash or "")], reason="sms-reply")
            task_runtime().in_transaction(stop)

    monkeypatch.setattr(tasks, "deliver", offer_then_stop)
    assert tasks.notify_round(first_round(routed)) == 2  # the agent's e-mail and text
    assert [r for r in sms.received if r["To"] == routed.phone] == []
    held = [n for n in await rows(session, Notification) if n.recipient_kind == "lead"]
    assert [(n.status, n.detail) for n in held] == [("blocked", "do-not-contact")]


async def another_offer(session: AsyncSession, lead: Lead, attempt: int, slot: int) -> Agent:
    """A second agent (no phone) offered the lead in round ``attempt``, as routing would, with the
    round's outbox event when the round is a new one."""
    agent = await helpers.agent(session, ["TX"], name=f"Second Agent {attempt}")
    expires_at = INSIDE_WINDOW + timedelta(minutes=15)
    session.add(
        Assignment(
            lead_id=lead.id,
            agent_id=agent.id,
            attempt=attempt,
            slot=slot,
            strategy="round_robin",
            expires_at=expires_at,
        )
    )
    if slot == 0:
        session.add(OutboxEvent(topic="offers.made", key=f"{lead.id}:{attempt}"))
    await session.commit()
    return agent


async def relayed_at(resources: Resources, when: datetime) -> list[tuple[str, str]]:
    """The events the relay would hand on at ``when`` (30 s leases); nothing is changed."""
    async with resources.require_sessions()() as session, session.begin():
        with patch.object(outbox, "utcnow", lambda: when):
            due = [(e.topic, e.key) for e in await outbox.due_for_dispatch(session, timedelta(seconds=30), 100)]
        await session.rollback()
    return due


async def test_a_failed_message_holds_back_none_of_the_others_and_a_retry_sends_only_it(
    routed: Lead,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    second = await another_offer(session, routed, attempt=1, slot=1)  # a shared lead: two offers
    await session.execute(update(OutboxEvent).values(dispatched_at=INSIDE_WINDOW))  # dispatched as it began
    await session.commit()
    sms.unavailable_for.add("+15125550111")  # the first agent's text fails; it comes first
    with pytest.raises(SmsError):
        tasks.notify_round(first_round(routed))
    offered = {m["To"] for m in mailbox[0].messages}
    assert len(offered) == 2 and second.email in offered  # both agents' e-mails went out
    assert [r["To"] for r in sms.received] == [routed.phone]  # the person was thanked all the same
    # The task retries it itself: the relay leaves the event alone until that retry has had its chance.
    lease = timedelta(seconds=30)
    held_until = INSIDE_WINDOW + tasks.RETRY_BACKOFF_MAX + lease
    assert await relayed_at(resources, held_until - timedelta(seconds=1)) == []
    assert await relayed_at(resources, held_until + timedelta(seconds=1)) == [("offers.made", first_round(routed))]
    sms.unavailable_for.clear()
    assert tasks.notify_round(first_round(routed)) == 1
    assert sorted(r["To"] for r in sms.received) == sorted(["+15125550111", routed.phone or ""])
    assert len(mailbox[0].messages) == 2
    sent = await rows(session, Notification)
    assert sorted((n.template, n.channel, n.status) for n in sent) == [
        ("acknowledgement", "sms", "sent"),
        ("offer", "email", "sent"),
        ("offer", "email", "sent"),
        ("offer", "sms", "sent"),
    ]
    assert tasks.notify_round(first_round(routed)) == 0  # delivered again by the queue: nothing twice
    outbox = {(e.topic, e.processed_at is not None) for e in await rows(session, OutboxEvent)}
    assert ("offers.made", True) in outbox


async def test_a_delivery_sends_nothing_while_another_holds_the_event_and_takes_over_if_that_one_died(
    routed: Lead,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A delivery claimed the round, then its worker died before sending anything.
    claimed_until = INSIDE_WINDOW + tasks.DELIVERY_CLAIM
    async with resources.unit_of_work() as s:
        assert await outbox.claim(s, "offers.made", first_round(routed), INSIDE_WINDOW, claimed_until)
    for moment in (INSIDE_WINDOW + timedelta(seconds=1), claimed_until - timedelta(seconds=1)):
        monkeypatch.setattr(tasks, "utcnow", lambda when=moment: when)
        assert tasks.notify_round(first_round(routed)) == 0  # the queue's second delivery: not while held
        assert await relayed_at(resources, moment + timedelta(seconds=30)) == []  # nor the relay's
    assert mailbox[0].messages == [] and sms.received == []
    assert [e.processed_at for e in await rows(session, OutboxEvent) if e.topic == "offers.made"] == [None]
    taken_over = claimed_until + timedelta(seconds=31)
    assert await relayed_at(resources, taken_over) == [("offers.made", first_round(routed))]
    monkeypatch.setattr(tasks, "utcnow", lambda: taken_over)
    assert tasks.notify_round(first_round(routed)) == 3
    assert len(mailbox[0].messages) == 1 and len(sms.received) == 2


async def test_a_delivery_that_outlived_its_claim_leaves_the_event_to_the_one_that_took_it_over(
    routed: Lead, session: AsyncSession, resources: Resources
) -> None:
    key, runs_out = first_round(routed), INSIDE_WINDOW + tasks.DELIVERY_CLAIM
    async with resources.unit_of_work() as s:
        slow = await outbox.claim(s, "offers.made", key, INSIDE_WINDOW, runs_out)
    async with resources.unit_of_work() as s:
        assert await outbox.claim(s, "offers.made", key, runs_out - timedelta(seconds=1), runs_out) is None
        successor = await outbox.claim(s, "offers.made", key, runs_out, runs_out + tasks.DELIVERY_CLAIM)
    assert slow is not None and successor is not None
    async with resources.unit_of_work() as s:  # the slow one comes back: it neither finishes nor releases
        await outbox.finish_claimed(s, slow, runs_out)
        await outbox.hold_off_relay(s, slow, runs_out)
    [event] = [e for e in await rows(session, OutboxEvent) if e.topic == "offers.made"]
    assert (event.processed_at, event.claimed_until) == (None, successor.until)
    async with resources.unit_of_work() as s:
        await outbox.finish_claimed(s, successor, runs_out)
    assert [e.processed_at for e in await rows(session, OutboxEvent) if e.topic == "offers.made"] == [runs_out]


class WorkerDied(BaseException):
    """A worker killed where this is raised: nothing after it runs, and what it committed (its claim
    on the event) stays. A BaseException, so no ``except Exception`` of the task records anything."""


def died_mid_send(lead: Lead, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first round's delivery at INSIDE_WINDOW claims its event, and its worker dies sending the
    first message (the offer's e-mail); the next worker's sends go through."""

    def killed(*args: Any, **kwargs: Any) -> None:
        raise WorkerDied

    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    monkeypatch.setattr(tasks, "send_email", killed)
    with pytest.raises(WorkerDied):
        tasks.notify_round(first_round(lead))
    monkeypatch.setattr(tasks, "send_email", send_email)


async def round_event(session: AsyncSession) -> OutboxEvent:
    [event] = [e for e in await rows(session, OutboxEvent) if e.topic == "offers.made"]
    assert isinstance(event, OutboxEvent)
    return event


async def test_a_round_whose_worker_died_mid_send_is_taken_over_once_that_send_could_have_ended(
    routed: Lead,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    died_mid_send(routed, monkeypatch)
    event = await round_event(session)
    assert event.processed_at is None and event.claimed_until is not None
    # Held for the send it died in, not for the round's: each send is held for in its turn.
    assert event.claimed_until - INSIDE_WINDOW == tasks.DELIVERY_CLAIM + tasks.SEND_TIME_LIMIT["email"]
    lease, still_held = timedelta(seconds=30), event.claimed_until - timedelta(seconds=1)
    monkeypatch.setattr(tasks, "utcnow", lambda: still_held)
    assert tasks.notify_round(first_round(routed)) == 0  # the queue's redelivery, while held: nothing
    assert await relayed_at(resources, still_held + lease) == []
    taken_over = event.claimed_until + lease + timedelta(seconds=1)
    assert await relayed_at(resources, taken_over) == [("offers.made", first_round(routed))]
    monkeypatch.setattr(tasks, "utcnow", lambda: taken_over)
    assert tasks.notify_round(first_round(routed)) == 3
    assert len(mailbox[0].messages) == 1 and len(sms.received) == 2
    assert (await round_event(session)).processed_at == taken_over


@pytest.mark.parametrize(
    ("sla_sweep", "sent", "to_the_person"),
    [
        # The offer is open in the books: the person is thanked, naming its agent.
        ("not run yet", 1, ("sent", None)),
        # The only agent timed out and the lead was left unassigned: nobody will call the person.
        ("timed the offer out", 0, ("blocked", service.NO_AGENT_HOLDS)),
    ],
)
async def test_an_offer_past_its_deadline_is_not_sent_when_its_round_is_taken_over(
    sla_sweep: str,
    sent: int,
    to_the_person: tuple[str, str | None],
    routed: Lead,
    session: AsyncSession,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing took the round over before the offer's deadline (the workers were all down): the
    agent is not offered a lead they can no longer take, whether or not the sweep timed it out. The
    try that died is counted, so the offer is recorded failed: staff see that Maria never got it."""
    died_mid_send(routed, monkeypatch)
    [offer] = await rows(session, Assignment)
    late = offer.expires_at + timedelta(seconds=1)
    if sla_sweep == "timed the offer out":
        monkeypatch.setattr(routing_tasks, "utcnow", lambda: late)
        assert routing_tasks.expire_offers() == 1
        assert [o.status for o in await rows(session, Assignment)] == [AssignmentStatus.TIMED_OUT]
        lead = await session.get(Lead, routed.id, populate_existing=True)
        assert lead is not None and lead.status == LeadStatus.UNASSIGNED
    monkeypatch.setattr(tasks, "utcnow", lambda: late)
    assert tasks.notify_round(first_round(routed)) == sent  # inside the person's window
    assert mailbox[0].messages == [] and [r["To"] for r in sms.received] == [routed.phone] * sent
    recorded = sorted((n.template, n.channel, n.status, n.detail) for n in await rows(session, Notification))
    lapsed = "deadline passed before it could be sent: 1 tries, worker lost"
    person = ("acknowledgement", "sms", *to_the_person)
    assert recorded == sorted([person, ("offer", "email", "failed", lapsed), ("offer", "sms", "failed", lapsed)])
    assert (await round_event(session)).processed_at == late


async def declined_by_maria(session: AsyncSession, resources: Resources, lead: Lead, then: str) -> None:
    """Maria, offered the lead in its first round, declines it; ``then`` the next round offers it to
    Sam, who accepts it ("passed to Sam"), is still to come ("between two rounds"), or finds nobody
    ("left unassigned")."""
    sam = await helpers.agent(session, ["TX"], name="Sam Lee") if then == "passed to Sam" else None
    await session.commit()
    await sync_graph(resources)
    [maria_offer] = await rows(session, Assignment)
    async with resources.unit_of_work() as s:
        await routing.reject(s, Principal(uuid.uuid4(), Role.AGENT, maria_offer.agent_id), maria_offer.id, "busy")
    if then == "between two rounds":
        return
    async with resources.unit_of_work() as s:
        await reroute(s, pipeline_for(resources), lead.id, INSIDE_WINDOW + timedelta(minutes=2))
    if sam is not None:
        sams_offer = next(o for o in await rows(session, Assignment) if o.agent_id == sam.id)
        async with resources.unit_of_work() as s:
            await routing.accept(s, Principal(uuid.uuid4(), Role.AGENT, sam.id), sams_offer.id)
    reread = await session.get(Lead, lead.id, populate_existing=True)
    assert reread is not None
    assert reread.status == (LeadStatus.ACCEPTED if sam is not None else LeadStatus.UNASSIGNED)


@pytest.mark.parametrize(
    ("then", "sent", "to_the_person"),
    [
        ("passed to Sam", 1, ("sent", None)),
        ("between two rounds", 0, ("scheduled", service.BETWEEN_ROUNDS)),
        ("left unassigned", 0, ("blocked", service.NO_AGENT_HOLDS)),
    ],
)
async def test_a_first_round_taken_over_late_thanks_the_person_only_for_an_agent_who_holds_the_lead(
    then: str,
    sent: int,
    to_the_person: tuple[str, str | None],
    routed: Lead,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its worker died, and before the round was taken over Maria declined the lead: the person is
    not told that Maria will call. As for a held acknowledgement, they are told of the agent who
    holds the lead when it goes, wait for the next round, or are told nothing when nobody will call."""
    died_mid_send(routed, monkeypatch)
    taken_over = INSIDE_WINDOW + timedelta(minutes=7)
    claimed_until = (await round_event(session)).claimed_until
    assert claimed_until is not None and claimed_until < taken_over  # the dead worker's claim runs out
    monkeypatch.setattr(routing, "utcnow", lambda: INSIDE_WINDOW + timedelta(minutes=1))
    await declined_by_maria(session, resources, routed, then)
    monkeypatch.setattr(tasks, "utcnow", lambda: taken_over)
    assert tasks.notify_round(first_round(routed)) == sent
    # Maria is not offered the lead she declined; the person hears of Sam or of nobody.
    assert mailbox[0].messages == [] and [r["To"] for r in sms.received] == [routed.phone] * sent
    assert all("Sam Lee" in r["Body"] and "Maria" not in r["Body"] for r in sms.received)
    held = await held_message(session)
    assert (held.status, held.detail) == to_the_person
    if then == "between two rounds":
        assert held.not_before == taken_over + service.ROUND_WAIT


@pytest.mark.parametrize(
    ("then", "sent", "to_the_person"),
    [("passed to Sam", 1, ("sent", None)), ("left unassigned", 0, ("blocked", service.NO_AGENT_HOLDS))],
)
async def test_a_text_to_the_person_the_provider_cannot_take_goes_later_only_for_an_agent_who_holds_the_lead(
    then: str,
    sent: int,
    to_the_person: tuple[str, str | None],
    routed: Lead,
    session: AsyncSession,
    resources: Resources,
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The round's offers go; the person's text is left to the sweep, which by then finds that Maria
    declined the lead while the provider was down: it names Sam, who took it, or nobody."""
    sms.unavailable_for.add(routed.phone or "")
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    assert tasks.notify_round(first_round(routed)) == 2  # no retry of the round: the offers went
    held = await held_message(session)
    assert (held.status, held.failed_sends, held.detail) == ("scheduled", 1, "not sent yet: SmsError")
    assert held.not_before == INSIDE_WINDOW + tasks.HELD_RETRY_FIRST
    assert (await round_event(session)).processed_at == INSIDE_WINDOW
    monkeypatch.setattr(routing, "utcnow", lambda: INSIDE_WINDOW + timedelta(minutes=1))
    await declined_by_maria(session, resources, routed, then)
    sms.unavailable_for.clear()
    assert sweep_at(INSIDE_WINDOW + timedelta(minutes=3), monkeypatch) == sent
    texts = [r["Body"] for r in sms.received if r["To"] == routed.phone]
    assert len(texts) == sent and all("Sam Lee" in text and "Maria" not in text for text in texts)
    held = await held_message(session)
    assert (held.status, held.detail) == to_the_person


@pytest.mark.parametrize("recording", ["the offer's e-mail", "the person's text"])
async def test_a_worker_that_dies_recording_a_send_leaves_only_that_message_to_go_again(
    recording: str,
    routed: Lead,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each send is recorded before the next message goes. The one whose record was lost goes again when
    the round is taken over, except the person's: it was recorded as being sent before it went, so
    only the sweep sends it again, once its hold has run out (nothing tells whether it went)."""

    def killed(*args: Any, **kwargs: Any) -> None:
        raise WorkerDied

    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    dies_in = (service, "record") if recording == "the offer's e-mail" else (tasks, "_finish_held")
    with monkeypatch.context() as dying:
        dying.setattr(*dies_in, killed)
        with pytest.raises(WorkerDied):
            tasks.notify_round(first_round(routed))
    claimed_until = (await round_event(session)).claimed_until
    assert claimed_until is not None
    taken_over = claimed_until + timedelta(seconds=31)
    assert await relayed_at(resources, taken_over) == [("offers.made", first_round(routed))]
    monkeypatch.setattr(tasks, "utcnow", lambda: taken_over)
    if recording == "the offer's e-mail":  # the first send: the rest had not gone
        assert tasks.notify_round(first_round(routed)) == 3
        assert len(mailbox[0].messages) == 2
    else:
        assert tasks.notify_round(first_round(routed)) == 0
        assert len(mailbox[0].messages) == 1
    assert sorted(r["To"] for r in sms.received) == sorted([routed.phone or "", "+15125550111"])
    assert (await round_event(session)).processed_at == taken_over
    if recording == "the person's text":
        held = await held_message(session)
        assert (held.status, held.not_before) == ("sending", INSIDE_WINDOW + tasks.SWEEP_HOLD)
        assert sweep_at(INSIDE_WINDOW + tasks.SWEEP_HOLD - timedelta(seconds=1), monkeypatch) == 0
        assert sweep_at(INSIDE_WINDOW + tasks.SWEEP_HOLD, monkeypatch) == 1
        assert [r["To"] for r in sms.received].count(routed.phone or "") == 2
    assert (await held_message(session)).status == "sent"


def task_count(task: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("leadgen_tasks_total", {"task": task, "outcome": outcome}) or 0.0


async def test_a_round_that_cannot_be_composed_is_tried_again_then_given_up_with_an_error(
    routed: Lead,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fault of ours or a bad row (not worth Celery's retry) used to bring the round back at every
    lease for ever, its failed tries never counted, and nobody told."""
    monkeypatch.setattr(tasks, "MAX_FAILED_TRIES", 3)

    def unwritable(settings: Settings, offer: Any, now: datetime) -> list[Any]:
        raise ValueError("an offer that cannot be written")

    monkeypatch.setattr(service, "_offer", unwritable)
    key, lease = first_round(routed), timedelta(seconds=30)
    errors = task_count("notifications.notify_round", "error")
    now = INSIDE_WINDOW
    for tries in (1, 2):
        monkeypatch.setattr(tasks, "utcnow", lambda when=now: when)
        with pytest.raises(ValueError):
            tasks.notify_round(key)
        event = await round_event(session)
        assert (event.failed_tries, event.processed_at, event.claimed_until) == (tries, None, None)
        # No retry of Celery's to wait for; the relay hands it on as after a failed send.
        next_try = now + tasks.RETRY_BACKOFF_MAX + lease + timedelta(seconds=1)
        assert await relayed_at(resources, next_try - timedelta(seconds=2)) == []
        assert await relayed_at(resources, next_try) == [("offers.made", key)]
        now = next_try
    monkeypatch.setattr(tasks, "utcnow", lambda: now)
    with caplog.at_level(logging.ERROR, logger=tasks.__name__), pytest.raises(tasks.GaveUp):
        tasks.notify_round(key)
    event = await round_event(session)
    assert (event.failed_tries, event.processed_at) == (2, now)
    assert await relayed_at(resources, now + timedelta(hours=1)) == []  # given up: not handed on again
    assert [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR] == [
        (tasks.__name__, f"outbox event offers.made {key} given up unsent after 3 tries: ValueError")
    ]
    assert task_count("notifications.notify_round", "error") == errors + 3
    assert mailbox[0].messages == [] and sms.received == []


async def test_an_unreadable_answer_fails_that_message_only_and_a_round_holds_its_event_for_each_send(
    routed: Lead,
    session: AsyncSession,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)

    def garbled_for_the_agent(cfg: Any, to: str, body: str) -> str:
        if to == "+15125550111":
            raise json.JSONDecodeError("Expecting value", "<html>", 0)  # a 2xx page that is not JSON
        return send_sms(cfg, to, body)

    monkeypatch.setattr("leadgen.notifications.tasks.send_sms", garbled_for_the_agent)
    assert tasks.notify_round(first_round(routed)) == 2  # no exception, so no retry of the whole round
    outcomes = {(n.template, n.channel): (n.status, n.detail) for n in await rows(session, Notification)}
    assert outcomes[("offer", "sms")] == ("failed", "JSONDecodeError")
    assert outcomes[("offer", "email")][0] == outcomes[("acknowledgement", "sms")][0] == "sent"
    [event] = [e for e in await rows(session, OutboxEvent) if e.topic == "offers.made"]
    # The last send held for was the person's, which may go on either channel (written as it goes).
    last_send = max(tasks.SEND_TIME_LIMIT.values())
    assert event.processed_at is not None and event.claimed_until == INSIDE_WINDOW + tasks.DELIVERY_CLAIM + last_send


async def test_a_later_round_offers_without_thanking_the_person_again(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    second = await another_offer(session, routed, attempt=2, slot=0)
    assert tasks.notify_round(f"{routed.id}:2") == 1
    assert [m["To"] for m in mailbox[0].messages] == [second.email]
    assert sms.received == []


async def test_events_of_the_previous_release_each_send_their_own_part(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During a rolling upgrade, orchestrators not yet replaced write one event per offer and one
    per acknowledgement; each sends its own messages of the round, once."""
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    offer = (await rows(session, Assignment))[0]
    session.add_all(
        [
            OutboxEvent(topic="assignment.offered", key=str(offer.id)),
            OutboxEvent(topic="lead.acknowledge", key=str(routed.id)),
        ]
    )
    await session.commit()
    assert tasks.acknowledge_lead(str(routed.id)) == 1
    assert [r["To"] for r in sms.received] == [routed.phone] and mailbox[0].messages == []
    assert tasks.offer_to_agent(str(offer.id)) == 2
    assert tasks.notify_round(first_round(routed)) == 0
    assert len(mailbox[0].messages) == 1 and len(sms.received) == 2


async def test_a_mailbox_that_does_not_exist_is_recorded_as_failed_not_retried(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    agent = (await rows(session, Agent))[0]
    mailbox[0].no_such_mailbox.add(agent.email)
    assert tasks.notify_round(first_round(routed)) == 2  # the agent's SMS and the person's, no exception
    outcomes = {(n.template, n.channel): (n.status, n.detail or "") for n in await rows(session, Notification)}
    status, detail = outcomes[("offer", "email")]
    assert status == "failed" and "550" in detail and agent.email not in detail  # the address is not kept
    assert outcomes[("offer", "sms")] == ("sent", "")
    outbox = {(e.topic, e.processed_at is not None) for e in await rows(session, OutboxEvent)}
    assert ("offers.made", True) in outbox


async def test_admins_are_alerted_each_time_a_lead_is_left_unassigned_and_a_retry_skips_those_reached(
    notify_env: Settings, session: AsyncSession, resources: Resources, mailbox: tuple[Mailbox, int]
) -> None:
    admins = sorted([await helpers.user(session, Role.ADMIN), await helpers.user(session, Role.ADMIN)])
    await helpers.user(session, Role.MANAGER)  # managers are not alerted
    payload = lead_payload()
    payload["contact"]["address"] = {"zip": "99501", "city": "Anchorage"}
    lead = await processed(notify_env, session, resources, payload)
    assert lead.status == LeadStatus.UNASSIGNED
    key = str(lead.id)

    mailbox[0].busy.add(admins[1])
    with pytest.raises(tasks.MailboxBusy, match=r"^the mail server cannot take the message now \(451\)$"):
        tasks.alert_unassigned(key)
    [mail] = mailbox[0].messages
    assert mail["To"] == admins[0] and mail["Subject"] == "Lead left unassigned: auto in AK"
    body = str(mail.get_payload())
    assert f"lead {lead.id}" in body and "no agent licensed for auto in AK" in body
    assert f"http://127.0.0.1:8080/leads/{lead.id}" in body  # where to offer it again
    mailbox[0].busy.clear()
    # Before that retry, staff reopened the lead and it was left again: an alert of its own, to
    # both admins, whatever the first alert's retry records meanwhile.
    again = f"{lead.id}:1"
    session.add(OutboxEvent(topic="lead.unassigned", key=again, payload={"reason": "no eligible agent"}))
    await session.commit()
    assert tasks.alert_unassigned(key) == 1  # the retry reaches only the admin not reached yet
    assert [m["To"] for m in mailbox[0].messages] == admins
    assert tasks.alert_unassigned(key) == 0  # delivered again once done: nobody twice
    assert tasks.alert_unassigned(again) == 2
    assert "no eligible agent" in str(mailbox[0].messages[-1].get_payload())
    events = await rows(session, OutboxEvent)
    alerts = {e.key: e.processed_at is not None for e in events if e.topic == "lead.unassigned"}
    assert alerts == {key: True, again: True}
    recorded = [(n.user_id, n.status) for n in await rows(session, Notification) if n.template == "unassigned"]
    assert len(recorded) == 4 and {status for _, status in recorded} == {"sent"}


async def test_an_emailed_acknowledgement_carries_an_unsubscribe_link_that_works(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADGEN_SMS_ACCOUNT_SID", "")  # no SMS: the person is thanked by e-mail
    get_settings.cache_clear()
    close_task_runtime()
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(routed))
    to_person = [m for m in mailbox[0].messages if m["To"] == routed.email]
    assert len(to_person) == 1
    raw = to_person[0].get_payload(decode=True)
    assert isinstance(raw, bytes)
    body = raw.decode()
    found = re.search(r"http://127\.0\.0\.1:8080/unsubscribe/(\S+)", body)
    assert found is not None, body
    assert to_person[0]["List-Unsubscribe"] == f"<{found.group(0)}>"
    assert to_person[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    async for client in started(create_app(get_settings())):  # the mail client's one-click post
        clicked = await client.post(f"/api/v1/opt-outs/email/{found.group(1)}", data={"List-Unsubscribe": "One-Click"})
        assert clicked.status_code == 200, clicked.text
    assert await dnc.contact_barred(session, routed) == "do-not-contact"


async def accepted_by_its_agent(session: AsyncSession, resources: Resources, lead: Lead) -> Agent:
    offer = (await rows(session, Assignment))[0]
    offer.expires_at = datetime.now(UTC) + timedelta(minutes=5)  # offered at INSIDE_WINDOW, long past
    await session.commit()
    async with resources.unit_of_work() as s:
        await routing.accept(s, Principal(uuid.uuid4(), Role.AGENT, offer.agent_id), offer.id)
    agent = await session.get(Agent, offer.agent_id)
    assert agent is not None
    return agent


async def asked_again(settings: Settings, session: AsyncSession, resources: Resources, original: Lead) -> Lead:
    """The same person (same phone, another e-mail) asks again through the API."""
    payload = lead_payload(campaign="autumn-auto")
    payload["contact"]["phone"] = original.phone
    again = await processed(settings, session, resources, payload)
    assert again.status == LeadStatus.DUPLICATE and again.duplicate_of_id == original.id
    return again


async def event_names(session: AsyncSession, lead_id: uuid.UUID) -> list[str]:
    return [e.name for e in await audit.lead_events(session, lead_id)]


async def test_a_duplicate_goes_to_the_agent_who_holds_the_person(
    routed: Lead, session: AsyncSession, resources: Resources, mailbox: tuple[Mailbox, int], sms: SmsStandIn
) -> None:
    owner = await accepted_by_its_agent(session, resources, routed)
    again = await asked_again(get_settings(), session, resources, routed)
    assert "lead.passed_to_owner" in await event_names(session, again.id)
    [requested] = [e for e in await audit.lead_events(session, routed.id) if e.name == "lead.requested_again"]
    assert requested.data == {"lead": str(again.id), "source": "test-vendor", "campaign": "autumn-auto"}
    assert [a.lead_id for a in await rows(session, Assignment)] == [routed.id]  # the new lead is offered to nobody

    assert tasks.tell_owners(str(again.id)) == 2  # e-mail and SMS to the owner
    [mail] = [m for m in mailbox[0].messages if m["To"] == owner.email]
    assert mail["Subject"] == "Asked again: your auto lead in TX"
    body = str(mail.get_payload())
    assert f"http://127.0.0.1:8080/leads/{routed.id}" in body and "through test-vendor, autumn-auto" in body
    assert (routed.phone or "") not in body and (again.email or "") not in body and "Pat" not in body
    [text] = [r for r in sms.received if r["To"] == owner.phone]
    assert (routed.phone or "") not in text["Body"]
    assert tasks.tell_owners(str(again.id)) == 0  # delivered again: nobody twice
    told = [(n.agent_id, n.channel, n.lead_id) for n in await rows(session, Notification) if n.template != "offer"]
    assert sorted(told, key=str) == sorted([(owner.id, "email", routed.id), (owner.id, "sms", routed.id)], key=str)
    [event] = [e for e in await rows(session, OutboxEvent) if e.topic == outbox.REQUESTED_AGAIN_TOPIC]
    assert event.key == str(again.id) and event.processed_at is not None


@pytest.mark.parametrize("why", ["offered, not accepted", "opted out", "turned off"])
async def test_a_duplicate_goes_to_nobody(
    why: str,
    routed: Lead,
    session: AsyncSession,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if why != "offered, not accepted":
        await accepted_by_its_agent(session, resources, routed)
    if why == "opted out":
        await dnc.add_many(session, [("email", routed.email_hash or "")], "staff")
        await session.commit()
    if why == "turned off":
        monkeypatch.setattr(resources.settings.routing, "duplicates_to_owner", False)
    again = await asked_again(get_settings(), session, resources, routed)
    assert "lead.passed_to_owner" not in await event_names(session, again.id)
    assert "lead.requested_again" not in await event_names(session, routed.id)
    assert outbox.REQUESTED_AGAIN_TOPIC not in {e.topic for e in await rows(session, OutboxEvent)}


async def test_an_owner_is_not_told_once_the_person_opted_out_in_between(
    routed: Lead, session: AsyncSession, resources: Resources, mailbox: tuple[Mailbox, int]
) -> None:
    await accepted_by_its_agent(session, resources, routed)
    again = await asked_again(get_settings(), session, resources, routed)
    await dnc.add_many(session, [("phone", again.phone_hash or "")], "sms-reply")
    await session.commit()
    assert tasks.tell_owners(str(again.id)) == 0
    assert mailbox[0].messages == []
    [event] = [e for e in await rows(session, OutboxEvent) if e.topic == outbox.REQUESTED_AGAIN_TOPIC]
    assert event.processed_at is not None


async def test_the_sweep_checks_the_rules_again_just_before_each_send(
    routed: Lead, session: AsyncSession, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep takes its due messages at once and sends them one after another: a person who opts
    out while the messages before theirs go gets nothing."""
    hold_the_acknowledgement(routed, monkeypatch)
    held = await held_message(session)
    hold = INSIDE_WINDOW + tasks.SWEEP_HOLD
    held.status, held.not_before = "sending", hold  # as the sweep leaves it when it takes it
    await session.commit()
    await dnc.add_many(session, [("phone", routed.phone_hash or "")], "sms-reply")
    await session.commit()
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    renew = partial(tasks._hold_again, held_id=held.id, hold=hold, until=hold + timedelta(minutes=1))
    assert task_runtime().in_transaction(renew) is False
    held = await held_message(session)
    assert (held.status, held.detail) == ("blocked", "do-not-contact")
    assert [r for r in sms.received if r["To"] == routed.phone] == []


async def test_an_offer_that_keeps_failing_is_recorded_failed_after_its_last_try(
    routed: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An offer is useless past its deadline: it is tried MAX_FAILED_TRIES times, however soon."""
    agent = (await rows(session, Agent))[0]
    mailbox[0].busy.add(agent.email)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    for _ in range(tasks.MAX_FAILED_TRIES - 1):  # each try, as Celery's retries and the relay run them
        with pytest.raises(tasks.MailboxBusy):
            tasks.notify_round(first_round(routed))
    assert tasks.notify_round(first_round(routed)) == 0  # the last try fails too: recorded failed, not retried
    [offer] = [n for n in await rows(session, Notification) if (n.template, n.channel) == ("offer", "email")]
    assert (offer.status, offer.detail) == ("failed", f"not sent in {tasks.MAX_FAILED_TRIES} tries: MailboxBusy")
    assert (await round_event(session)).processed_at == INSIDE_WINDOW
    assert mailbox[0].messages == []


async def test_an_alert_that_keeps_failing_is_tried_for_hours_then_recorded_failed(
    notify_env: Settings,
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[Mailbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An alert has no deadline: through an outage longer than an offer's tries, admins are still
    told of the lead left unassigned once the mail server is back, up to two hours in."""
    admin = await helpers.user(session, Role.ADMIN)
    payload = lead_payload()
    payload["contact"]["address"] = {"zip": "99501", "city": "Anchorage"}
    lead = await processed(notify_env, session, resources, payload)
    mailbox[0].busy.add(admin)
    key = str(lead.id)
    relayed = update(OutboxEvent).where(OutboxEvent.topic == "lead.unassigned", OutboxEvent.key == key)
    # Left unassigned at INSIDE_WINDOW, and handed on often (a backlog): not what counts.
    await session.execute(relayed.values(created_at=INSIDE_WINDOW, dispatch_count=10))
    await session.commit()
    last_chance = INSIDE_WINDOW + tasks.NO_DEADLINE_RETRY_FOR - timedelta(seconds=1)
    tries = [INSIDE_WINDOW + timedelta(minutes=tries) for tries in range(tasks.MAX_FAILED_TRIES)] + [last_chance]
    for moment in tries:  # past an offer's last try, and up to its own
        monkeypatch.setattr(tasks, "utcnow", lambda when=moment: when)
        with pytest.raises(tasks.MailboxBusy):
            tasks.alert_unassigned(key)
    assert [n for n in await rows(session, Notification) if n.template == "unassigned"] == []
    monkeypatch.setattr(tasks, "utcnow", lambda: last_chance + timedelta(seconds=1))
    assert tasks.alert_unassigned(key) == 0  # the first try after its time fails too: recorded failed
    [alert] = [n for n in await rows(session, Notification) if n.template == "unassigned"]
    attempts = len(tries) + 1
    assert (alert.status, alert.detail) == ("failed", f"not sent in {attempts} tries: MailboxBusy")
    [event] = [e for e in await rows(session, OutboxEvent) if e.topic == "lead.unassigned"]
    assert event.processed_at is not None and event.failed_tries == attempts - 1
    assert mailbox[0].messages == []


async def test_an_owner_s_retry_sends_only_what_did_not_go(
    routed: Lead, session: AsyncSession, resources: Resources, mailbox: tuple[Mailbox, int], sms: SmsStandIn
) -> None:
    owner = await accepted_by_its_agent(session, resources, routed)
    again = await asked_again(get_settings(), session, resources, routed)
    mailbox[0].busy.add(owner.email)
    with pytest.raises(tasks.MailboxBusy):  # the text went; the e-mail waits for the retry
        tasks.tell_owners(str(again.id))
    mailbox[0].busy.clear()
    assert tasks.tell_owners(str(again.id)) == 1
    assert [m["To"] for m in mailbox[0].messages] == [owner.email]
    assert [r["To"] for r in sms.received if r["To"] == owner.phone] == [owner.phone]


async def test_a_text_to_a_number_oklahoma_claims_waits_for_oklahoma_s_hours(
    notify_env: Settings, session: AsyncSession, resources: Resources, sms: SmsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Texas address with an Oklahoma number at 20:30: Texas allows it, Oklahoma (8 pm) does not."""
    await helpers.agent(session, ["TX"])
    payload = lead_payload()
    payload["contact"]["phone"] = "405-555-0143"
    lead = await processed(notify_env, session, resources, payload)
    monkeypatch.setattr(tasks, "utcnow", lambda: datetime(2026, 6, 2, 1, 30, tzinfo=UTC))
    tasks.notify_round(first_round(lead))
    held = await held_message(session)
    assert (held.status, held.detail) == ("scheduled", "outside contact window")
    assert held.not_before == datetime(2026, 6, 2, 15, 0, tzinfo=UTC)  # 9 am in El Paso, Texas's last zone
    assert [r for r in sms.received if r["To"] == lead.phone] == []

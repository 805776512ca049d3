"""A delivery whose claim on its event ran out (a slow mail server, a paused worker) and was taken by
another delivery stops before its next send: the two do not both send the round, and the one that
lost its claim records nothing over what the other recorded. Both claims are real, on the real
database of each backend."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.models import Lead, Notification, OutboxEvent
from leadgen.notifications import tasks
from leadgen.notifications.email import send_email
from leadgen.outbox import repository as outbox
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, SmsStandIn
from tests.notifications.test_notifications import first_round, round_event, rows

AGENT_PHONE = "+15125550111"


async def test_a_delivery_that_lost_its_claim_mid_round_sends_and_records_nothing_more(
    routed: Lead,
    session: AsyncSession,
    mailbox: tuple[Mailbox, int],
    sms: SmsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first delivery's offer e-mail meets a server that answers only after its claim ran out;
    meanwhile the relay's delivery takes the round over and sends all of it. The first one went on
    to text the agent and the person again, and recorded its e-mail a second time."""
    key = first_round(routed)
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    successor: list[int] = []

    def slow_server(*args: Any, **kwargs: Any) -> None:
        # The claim ran out while this server took its time: the next delivery takes the round over.
        later = INSIDE_WINDOW + tasks.DELIVERY_CLAIM + tasks.SEND_TIME_LIMIT["email"] + timedelta(seconds=31)
        monkeypatch.setattr(tasks, "utcnow", lambda: later)
        monkeypatch.setattr(tasks, "send_email", send_email)
        successor.append(tasks.notify_round(key))
        send_email(*args, **kwargs)  # then the server answers the first delivery's e-mail

    monkeypatch.setattr(tasks, "send_email", slow_server)
    assert tasks.notify_round(key) == 1  # its e-mail, and nothing after it
    assert successor == [3]
    assert sorted(r["To"] for r in sms.received) == sorted([AGENT_PHONE, routed.phone or ""])  # each texted once
    # The e-mail went twice, as it was sent but not yet recorded when the round was taken over: one
    # Message-ID, by which the agent's mail client shows it once.
    assert len({m["Message-ID"] for m in mailbox[0].messages}) == 1
    recorded = sorted((n.template, n.channel, n.status) for n in await rows(session, Notification))
    assert recorded == [("acknowledgement", "sms", "sent"), ("offer", "email", "sent"), ("offer", "sms", "sent")]
    event = await round_event(session)
    assert event.processed_at is not None and event.failed_tries == 0


async def test_a_renewal_waits_for_a_takeover_in_flight_then_reports_the_claim_lost(
    routed: Lead, session: AsyncSession, resources: Resources
) -> None:
    """The two race: the successor's claim is written but not committed when the slow delivery
    renews its own. The renewal waits for it (PostgreSQL's row lock, SQLite's write lock) and
    finds the claim no longer its own; the successor's stands."""
    key, runs_out = first_round(routed), INSIDE_WINDOW + tasks.DELIVERY_CLAIM
    async with resources.unit_of_work() as s:
        slow = await outbox.claim(s, "offers.made", key, INSIDE_WINDOW, runs_out)
    assert slow is not None
    claimed = asyncio.Event()

    async def take_over() -> outbox.Claim | None:
        async with resources.unit_of_work() as s:
            taken = await outbox.claim(s, "offers.made", key, runs_out, runs_out + tasks.DELIVERY_CLAIM)
            claimed.set()
            await asyncio.sleep(0.5)  # the renewal is sent meanwhile, and waits for this commit
        return taken

    async def renew() -> outbox.Claim | None:
        await claimed.wait()
        async with resources.unit_of_work() as s:
            return await outbox.extend_claim(s, slow, runs_out + 2 * tasks.DELIVERY_CLAIM)

    taken, renewed = await asyncio.gather(take_over(), renew())
    assert taken is not None and renewed is None
    [event] = [e for e in await rows(session, OutboxEvent) if e.topic == "offers.made"]
    assert event.claimed_until == taken.until


async def test_a_claim_renewed_before_anyone_took_it_over_stays_this_delivery_s(
    routed: Lead, session: AsyncSession, resources: Resources
) -> None:
    """Run out but not taken: renewing it holds it again, and a delivery coming after finds it held."""
    key, runs_out = first_round(routed), INSIDE_WINDOW + tasks.DELIVERY_CLAIM
    async with resources.unit_of_work() as s:
        slow = await outbox.claim(s, "offers.made", key, INSIDE_WINDOW, runs_out)
    assert slow is not None
    async with resources.unit_of_work() as s:
        renewed = await outbox.extend_claim(s, slow, runs_out + 2 * tasks.DELIVERY_CLAIM)
    assert renewed is not None and renewed.until == runs_out + 2 * tasks.DELIVERY_CLAIM
    async with resources.unit_of_work() as s:
        later = runs_out + timedelta(seconds=1)
        assert await outbox.claim(s, "offers.made", key, later, later + tasks.DELIVERY_CLAIM) is None
    assert (await round_event(session)).claimed_until == renewed.until

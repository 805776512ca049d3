"""An offer whose sends keep failing until its deadline (the mail server down for the SLA's 15
minutes, before the twentieth try that records a failed offer) is recorded failed once the
deadline passed, with how many tries were made and the last one's error: staff see the offer an
outage cost its agent, and so does ``leadgen_notifications_total{status="failed"}``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime
from leadgen.core.settings import Settings, get_settings
from leadgen.models import Agent, Assignment, Lead, Notification
from leadgen.notifications import tasks
from tests import helpers
from tests.conftest import lead_payload
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, processed
from tests.notifications.test_notifications import first_round, round_event, rows, sent_count


@pytest.fixture
def mail_only(
    settings_env: dict[str, str], mailbox: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("LEADGEN_SMTP_PORT", str(mailbox[1]))
    get_settings.cache_clear()
    yield get_settings()
    close_task_runtime()


@pytest.fixture
async def offered(mail_only: Settings, session: AsyncSession, resources: Resources) -> AsyncIterator[Lead]:
    """A lead offered to Maria at INSIDE_WINDOW, its round not sent yet."""
    await helpers.agent(session, ["TX"], name="Maria Gonzalez")
    yield await processed(mail_only, session, resources, lead_payload())


def tried_at(moment: datetime, lead: Lead, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(tasks, "utcnow", lambda: moment)
    return tasks.notify_round(first_round(lead))


async def offers(session: AsyncSession) -> list[tuple[str, str, str | None]]:
    return [(n.channel, n.status, n.detail) for n in await rows(session, Notification) if n.template == "offer"]


async def test_an_offer_whose_sends_fail_until_its_deadline_is_recorded_failed_then(
    offered: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    [agent] = await rows(session, Agent)
    [offer] = await rows(session, Assignment)
    assert offer.expires_at == INSIDE_WINDOW + timedelta(minutes=15)
    mailbox[0].busy.add(agent.email)  # 451 for Maria's mailbox: worth a retry, each time
    failed_before = sent_count("email", "offer", "failed")

    # About a try a minute, as Celery's retries and the relay bring them: fifteen before the deadline.
    tries = [INSIDE_WINDOW + timedelta(minutes=n, seconds=30) for n in range(15)]
    for moment in tries:
        with pytest.raises(tasks.MailboxBusy):
            tried_at(moment, offered, monkeypatch)
    assert await offers(session) == []  # still to try: nothing recorded

    # The next try finds the deadline passed: the offer is not sent, and is recorded failed.
    late = offer.expires_at + timedelta(seconds=30)
    assert tried_at(late, offered, monkeypatch) == 0
    assert await offers(session) == [
        ("email", "failed", "deadline passed before it could be sent: 15 tries, MailboxBusy")
    ]
    assert sent_count("email", "offer", "failed") == failed_before + 1
    assert (await round_event(session)).processed_at == late
    assert [m for m in mailbox[0].messages if m["To"] == agent.email] == []


async def test_an_offer_no_try_reached_before_its_deadline_is_not_recorded(
    offered: Lead, session: AsyncSession, mailbox: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker was down until after the deadline: no try failed, so none is recorded failed
    (the agent could not take the lead by then anyway; the workers' outage has alerts of its own)."""
    [offer] = await rows(session, Assignment)
    failed_before = sent_count("email", "offer", "failed")
    assert tried_at(offer.expires_at + timedelta(minutes=1), offered, monkeypatch) >= 0
    assert await offers(session) == []
    assert sent_count("email", "offer", "failed") == failed_before
    assert (await round_event(session)).processed_at is not None

"""Staff see why a message did not go (``GET /api/v1/notifications``, its ``detail``), never an
e-mail address or a phone number: a mail server's refusal quotes the address it refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.compliance import repository as dnc
from leadgen.core.security import keyed_hash
from leadgen.core.settings import Settings
from leadgen.models import Agent, Lead, Notification
from leadgen.notifications import tasks
from leadgen.targets import api, backend
from tests import helpers
from tests.conftest import started
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox
from tests.notifications.test_notifications import OUTSIDE_WINDOW, first_round, rows


@pytest.fixture
async def staff_view(notify_env: Settings, session: AsyncSession) -> AsyncIterator[AsyncClient]:
    """The backend's client, with a manager's Authorization header (signed in through the api)."""
    manager = await helpers.user(session, Role.MANAGER)
    await session.commit()
    async for signing_in in started(api.create_app(notify_env)):
        headers = await helpers.bearer(signing_in, manager)
    async for client in started(backend.create_app(notify_env)):
        client.headers.update(headers)
        yield client


async def listed(client: AsyncClient) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/notifications")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def by_message(listing: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(n["template"], n["channel"]): (n["status"], n["detail"]) for n in listing}


async def test_why_a_message_was_blocked_or_failed_is_shown_without_the_address(
    routed: Lead,
    staff_view: AsyncClient,
    session: AsyncSession,
    notify_env: Settings,
    mailbox: tuple[Mailbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = notify_env.security.pii_hash_key.get_secret_value()
    await dnc.add_many(session, [("phone", keyed_hash(key, "phone", routed.phone or ""))], "asked to stop")
    agent = (await rows(session, Agent))[0]
    mailbox[0].no_such_mailbox.add(agent.email)  # the server answers 550 quoting it
    await session.commit()
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)
    tasks.notify_round(first_round(routed))
    answer = await staff_view.get("/api/v1/notifications")
    assert by_message(answer.json()) == {
        ("offer", "email"): ("failed", "the mail server refused the mailbox (550)"),
        ("offer", "sms"): ("sent", None),
        ("acknowledgement", "sms"): ("blocked", "do-not-contact"),
    }
    assert agent.email not in answer.text and (agent.phone or "") not in answer.text


async def test_a_message_held_for_the_contact_window_says_so(
    routed: Lead, staff_view: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "utcnow", lambda: OUTSIDE_WINDOW)
    tasks.notify_round(first_round(routed))
    shown = by_message(await listed(staff_view))
    assert shown[("acknowledgement", "sms")] == ("scheduled", "outside contact window")


async def test_an_address_or_number_a_detail_of_an_earlier_release_quotes_is_masked(
    routed: Lead, staff_view: AsyncClient, session: AsyncSession
) -> None:
    """Before the refusal kept only its codes, the server's words were stored, and they quote the
    address; an SMS provider's may quote the number."""
    quoted = {
        "email": "{'pat.doe@example.com': (550, b'5.1.1 <pat.doe@example.com>: Recipient address rejected')}",
        "sms": "The 'To' number +1 (512) 555-0142 is not a valid phone number.",
    }
    for channel, detail in quoted.items():
        session.add(
            Notification(
                channel=channel,
                recipient_kind="lead",
                lead_id=routed.id,
                template="acknowledgement",
                status="failed",
                detail=detail,
            )
        )
    await session.commit()
    shown = by_message(await listed(staff_view))
    assert shown[("acknowledgement", "email")] == (
        "failed",
        "{'[email]': (550, b'5.1.1 <[email]>: Recipient address rejected')}",
    )
    assert shown[("acknowledgement", "sms")] == ("failed", "The 'To' number [phone] is not a valid phone number.")

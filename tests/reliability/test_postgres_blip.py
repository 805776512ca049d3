"""A PostgreSQL blip (a restart, a failover) right after a message went out: it is recorded once
PostgreSQL is back, and never sent again.

The notification worker's task runtime reaches the test's PostgreSQL database through a
:class:`~tests.targets.processes.TcpProxy`. The real local SMTP server of the notification tests
cuts the proxy for a few seconds just as it accepts the person's acknowledgement: the transaction
that records the message as sent then meets a dropped connection, and new ones refused. Were it not
run again, the row would stay ``sending`` under its hold, and the sweep (``send_due``) would take
it once the hold ran out, as a message whose worker died, and send it a second time.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.db import DatabaseUnreachable
from leadgen.core.resources import Resources
from leadgen.core.runtime import run_in_transaction
from leadgen.core.settings import get_settings
from leadgen.models import Lead, Notification
from leadgen.notifications import tasks
from tests import helpers
from tests.conftest import lead_payload
from tests.notifications.conftest import INSIDE_WINDOW, Mailbox, processed
from tests.notifications.test_notifications import first_round
from tests.targets.processes import TcpProxy

BLIP_SECONDS = 3.0


class CuttingMailbox(Mailbox):
    """Cuts PostgreSQL off for BLIP_SECONDS as it accepts the first message to ``cut_for``."""

    def __init__(self, proxy: TcpProxy) -> None:
        super().__init__()
        self.proxy = proxy
        self.cut_for = ""
        self.restored: threading.Timer | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.cut_for in envelope.rcpt_tos and self.restored is None:
            self.proxy.cut()
            self.restored = threading.Timer(BLIP_SECONDS, self.proxy.restore)
            self.restored.start()
        return answer


@pytest.fixture
def mailbox(database_proxy: TcpProxy) -> Iterator[tuple[CuttingMailbox, int]]:
    from aiosmtpd.controller import Controller

    from tests.notifications.conftest import free_port

    box = CuttingMailbox(database_proxy)
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()
        if box.restored is not None:
            box.restored.join()


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
async def test_the_acknowledgement_sent_just_before_a_blip_is_recorded_and_never_sent_again(
    settings_env: dict[str, str],
    session: AsyncSession,
    resources: Resources,
    mailbox: tuple[CuttingMailbox, int],
    database_proxy: TcpProxy,
    monkeypatch: pytest.MonkeyPatch,
    worker: None,
    backend: str,
) -> None:
    box, smtp_port = mailbox
    monkeypatch.setenv("LEADGEN_SMTP_PORT", str(smtp_port))  # no SMS: the person is thanked by e-mail
    get_settings.cache_clear()
    agent_email = (await helpers.agent(session, ["TX"])).email
    lead = await processed(get_settings(), session, resources, lead_payload())
    assert lead.email
    box.cut_for = lead.email
    # The worker's runtime, built by its first task, on PostgreSQL through the proxy.
    proxied = make_url(settings_env["LEADGEN_DB_URL"]).set(host="127.0.0.1", port=database_proxy.port)
    monkeypatch.setenv("LEADGEN_DB_URL", proxied.render_as_string(hide_password=False))
    get_settings.cache_clear()
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW)

    assert await asyncio.to_thread(tasks.notify_round, first_round(lead)) == 2  # the offer, then the person's
    assert box.restored is not None, "the acknowledgement never reached the mail server"

    # Past the hold of a message being sent: a sweep would take one left `sending` now.
    monkeypatch.setattr(tasks, "utcnow", lambda: INSIDE_WINDOW + tasks.SWEEP_HOLD + timedelta(minutes=1))
    assert await asyncio.to_thread(tasks.send_due) == 0
    assert sorted(m["To"] for m in box.messages) == sorted([agent_email, lead.email])  # one offer, one thanks
    recorded = await session.execute(
        select(Notification.template, Notification.status)
        .where(Notification.lead_id == lead.id)
        .execution_options(populate_existing=True)
    )
    assert sorted(recorded.all()) == [("acknowledgement", "sent"), ("offer", "sent")]


class TestWhatIsRunAgain:
    """The rule, on the laptop's database too: a transaction the connection failed under is run again
    from the start, unless it failed as it committed (it may have committed: run again, its messages
    would be recorded twice)."""

    async def test_a_transaction_the_connection_failed_under_is_run_again(
        self, resources: Resources, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("leadgen.core.runtime.RECONNECT_FIRST_WAIT_SECONDS", 0.01)
        runs: list[int] = []

        async def work(session: AsyncSession) -> int:
            runs.append(len(runs))
            if len(runs) < 3:
                raise DatabaseUnreachable("refused") from ConnectionRefusedError()
            return len(runs)

        assert await run_in_transaction(resources, work) == 3

    async def test_one_whose_commit_failed_is_not(self, resources: Resources) -> None:
        runs: list[Lead | None] = []

        async def work(session: AsyncSession) -> None:
            runs.append(await session.get(Lead, uuid.uuid4()))
            event.listen(session.sync_session, "before_commit", lost_answer)

        def lost_answer(session: Any) -> None:
            raise DatabaseUnreachable("the connection dropped as the transaction committed")

        with pytest.raises(DatabaseUnreachable):
            await run_in_transaction(resources, work)
        assert runs == [None]

    async def test_it_gives_up_once_the_database_stays_away(
        self, resources: Resources, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("leadgen.core.runtime.RECONNECT_FIRST_WAIT_SECONDS", 0.01)
        monkeypatch.setattr("leadgen.core.runtime.RECONNECT_FOR_SECONDS", 0.2)

        async def work(session: AsyncSession) -> None:
            raise DatabaseUnreachable("refused") from ConnectionRefusedError()

        with pytest.raises(DatabaseUnreachable):
            await run_in_transaction(resources, work)

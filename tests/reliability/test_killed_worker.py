"""A worker killed in the middle of a task (the kernel's OOM killer, a segfault in a C extension, a
node lost) raises nothing Python could count: each delivery is counted as it claims its outbox
event, so that the next one knows the last died in it. A lead whose pipeline keeps killing its
worker ends UNASSIGNED with the admins alerted, as one whose pipeline keeps raising does, and is
not run again to kill another; an alert whose sending keeps killing its worker is given up.

Each delivery runs in a process of its own, as in a worker pod, and the ones that die really end
their process (``os._exit``) in the middle of the work, their transaction open.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime
from leadgen.core.settings import Settings, get_settings
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import Lead, Notification, OutboxEvent
from leadgen.notifications import tasks as notification_tasks
from leadgen.outbox import repository as outbox
from leadgen.pipeline import tasks as pipeline_tasks
from leadgen.targets import api
from leadgen.targets.registry import DB
from tests import helpers
from tests.conftest import lead_payload, started
from tests.notifications.conftest import Mailbox, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KILLED = 137  # how a process the kernel's OOM killer ended exits, as seen by its parent
TRIES = 3


def deliver(task: str, key: str, at: str, dies_in: str) -> None:
    """In a process of its own: one delivery of ``task`` for ``key`` at the moment ``at``. When the
    work reaches ``dies_in`` ("vector" for the pipeline's vector write, "mail" for a send), the
    process ends there and then, as the OOM killer ends it; "" lets the work run."""
    from leadgen.notifications import tasks as notifications
    from leadgen.pipeline import tasks as pipeline
    from leadgen.stores.vectors.qdrant_store import QdrantVectorStore

    moment = datetime.fromisoformat(at)
    patch = pytest.MonkeyPatch()  # the process ends with the delivery: nothing to undo
    for module in (pipeline, notifications):
        patch.setattr(module, "utcnow", lambda: moment)
    # Fewer tries than in production, each a process of its own: a lead's 5 tries and 30 minutes,
    # a message's 20 tries.
    patch.setattr(pipeline, "GIVE_UP_AFTER_TRIES", TRIES)
    patch.setattr(pipeline, "GIVE_UP_AFTER", timedelta(minutes=10))
    patch.setattr(notifications, "MAX_FAILED_TRIES", TRIES)

    def killed(*args: Any, **kwargs: Any) -> None:
        os._exit(KILLED)

    if dies_in == "vector":
        patch.setattr(QdrantVectorStore, "upsert", killed)
    elif dies_in == "mail":
        patch.setattr(notifications, "send_email", killed)
    run = pipeline.process_lead if task == "pipeline.process_lead" else notifications.alert_unassigned
    try:
        run(key)
    except notifications.GaveUp:
        os._exit(3)


def in_a_worker_process(task: str, key: str, at: datetime, dies_in: str = "") -> int:
    """Run ``deliver`` in a new process with the test's settings; returns its exit code."""
    call = "import sys; from tests.reliability.test_killed_worker import deliver; deliver(*sys.argv[1:])"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    done = subprocess.run(
        [sys.executable, "-c", call, task, key, at.isoformat(), dies_in],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 3, KILLED), done.stderr[-3000:]
    return done.returncode


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Resources]:
    """The database alone: the worker processes open the vector store's local files, which one
    process at a time may hold."""
    resources = Resources.build(settings, frozenset({DB}), "test")
    await resources.start()
    yield resources
    await resources.close()


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("LEADGEN_SMTP_PORT", str(port))
    get_settings.cache_clear()
    yield box
    close_task_runtime()
    controller.stop()


async def submitted(settings: Settings, database: Resources) -> tuple[uuid.UUID, str]:
    """A lead posted to the api, with an admin to alert; its id and the admin's address."""
    async with database.unit_of_work() as session:
        key = await helpers.api_key(session)
        admin = await helpers.user(session, Role.ADMIN)
    async for client in started(api.create_app(settings)):
        answer = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
    assert answer.status_code == 202, answer.text
    return uuid.UUID(answer.json()["id"]), admin


async def event(database: Resources, topic: str, key: str) -> OutboxEvent:
    async with database.require_sessions()() as session:
        found = await session.scalar(select(OutboxEvent).where(OutboxEvent.topic == topic, OutboxEvent.key == key))
    assert found is not None, (topic, key)
    return found


async def lead(database: Resources, lead_id: uuid.UUID) -> Lead:
    async with database.require_sessions()() as session:
        found = await session.get(Lead, lead_id)
    assert found is not None
    return found


async def messages(database: Resources) -> list[Notification]:
    async with database.require_sessions()() as session:
        return list(await session.scalars(select(Notification)))


async def test_a_lead_whose_pipeline_keeps_killing_its_worker_ends_unassigned_with_the_admins_alerted(
    settings: Settings, database: Resources, smtp: Mailbox
) -> None:
    lead_id, admin = await submitted(settings, database)
    key = str(lead_id)
    written = (await event(database, "lead.received", key)).created_at

    # Each delivery dies writing the lead's vector, in the middle of the pipeline's transaction; the
    # next comes once the dead one's two-minute claim ran out, as the relay hands the event on.
    for n in range(TRIES):
        at = written + timedelta(minutes=4 * n)
        assert in_a_worker_process("pipeline.process_lead", key, at, dies_in="vector") == KILLED
        received = await event(database, "lead.received", key)
        assert (received.claims, received.failed_tries, received.processed_at) == (n + 1, 0, None)
        assert (await lead(database, lead_id)).status == LeadStatus.RECEIVED  # its transaction died with it

    # Once the tries are made and the wait is over, the next delivery ends the lead without running
    # what killed the workers before it: the same work would kill this one too.
    given_up_at = written + timedelta(minutes=12)
    assert in_a_worker_process("pipeline.process_lead", key, given_up_at, dies_in="vector") == 0
    ended = await lead(database, lead_id)
    assert (ended.status, ended.status_reason) == (LeadStatus.UNASSIGNED, "pipeline failed: worker lost")
    received = await event(database, "lead.received", key)
    assert (received.processed_at, received.failed_tries, received.claims) == (given_up_at, 0, TRIES + 1)
    assert received.last_error == outbox.WORKER_LOST
    assert pipeline_tasks.process_lead(key) is None  # a late delivery finds nothing to do

    # The admins are alerted, as for any lead left unassigned.
    alert = await event(database, "lead.unassigned", key)
    assert alert.payload == {"reason": "pipeline failed: worker lost"}
    assert notification_tasks.alert_unassigned(key) == 1
    [mail] = smtp.messages
    assert mail["To"] == admin and "pipeline failed: worker lost" in str(mail.get_payload())


async def test_an_alert_whose_sending_keeps_killing_its_worker_is_given_up_unsent(
    settings: Settings, database: Resources, smtp: Mailbox
) -> None:
    """Its worker dies sending the e-mail, so nothing is recorded: without the count the alert would
    come back every few minutes for ever, killing a worker each time."""
    lead_id, _ = await submitted(settings, database)
    key = str(lead_id)
    async with database.unit_of_work() as session:
        await left_unassigned(session, lead_id)
    written = (await event(database, "lead.unassigned", key)).created_at
    for n in range(TRIES):
        at = written + timedelta(minutes=7 * n)
        assert in_a_worker_process("notifications.alert_unassigned", key, at, dies_in="mail") == KILLED
    alert = await event(database, "lead.unassigned", key)
    assert (alert.claims, alert.failed_tries, alert.processed_at) == (TRIES, 0, None)

    # The next delivery gives the event up (GaveUp, an error in the log), sending nothing.
    given_up_at = written + timedelta(minutes=21)
    assert in_a_worker_process("notifications.alert_unassigned", key, given_up_at, dies_in="mail") == 3
    alert = await event(database, "lead.unassigned", key)
    assert (alert.processed_at, alert.claims, alert.last_error) == (given_up_at, TRIES + 1, outbox.WORKER_LOST)
    assert await messages(database) == [] and smtp.messages == []


async def left_unassigned(session: AsyncSession, lead_id: uuid.UUID) -> None:
    from leadgen.routing import service as routing

    found = await session.get(Lead, lead_id, with_for_update=True)
    assert found is not None
    routing.unassign(session, found, "no agent licensed for auto in TX")

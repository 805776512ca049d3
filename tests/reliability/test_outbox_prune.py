"""Processed outbox events are deleted once LEADGEN_WORKER_OUTBOX_KEEP_PROCESSED_DAYS old, a batch
per transaction: the table holds days of events, not the two or three of every lead ever received.
Nothing reads an event once processed, so a lead whose events are gone is not worked again."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update

from leadgen.core.resources import Resources
from leadgen.core.runtime import close_task_runtime
from leadgen.core.settings import Settings, get_settings
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import Assignment, Notification, OutboxEvent
from leadgen.models.base import utcnow
from leadgen.notifications import tasks as notification_tasks
from leadgen.outbox import repository as outbox
from leadgen.outbox import tasks as outbox_tasks
from leadgen.pipeline import tasks as pipeline_tasks
from leadgen.stores.broker import create_celery
from tests import helpers
from tests.conftest import lead_payload, sync_graph


async def written(resources: Resources, processed_days_ago: list[float | None]) -> list[uuid.UUID]:
    """Events written 400 days ago and processed that many days ago (None: not processed yet)."""
    now, ids = utcnow(), []
    async with resources.unit_of_work() as session:
        for days in processed_days_ago:
            event = outbox.add(session, "lead.received", str(uuid.uuid4()))
            event.created_at = now - timedelta(days=400)
            event.processed_at = None if days is None else now - timedelta(days=days)
            ids.append(event.id)
        session.info.pop(outbox.AFTER_COMMIT, None)
    return ids


async def kept(resources: Resources) -> set[uuid.UUID]:
    async with resources.require_sessions()() as session:
        return set(await session.scalars(select(OutboxEvent.id)))


@pytest.mark.usefixtures("worker")
async def test_events_processed_longer_ago_than_the_setting_are_deleted_a_batch_at_a_time(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_tasks, "PRUNE_BATCH", 2)
    monkeypatch.setattr(outbox_tasks, "PRUNE_BATCHES", 2)
    assert get_settings().worker.outbox_keep_processed_days == 7
    old = await written(resources, [8, 9, 10, 30, 365])
    # Never processed, however old (its work is still to do); processed within the week.
    young = await written(resources, [None, 6.9, 0])

    assert outbox_tasks.prune() == 4  # two batches of two: a run's most
    assert len(await kept(resources) & set(old)) == 1
    assert outbox_tasks.prune() == 1  # the next run goes on
    assert await kept(resources) == set(young)
    assert outbox_tasks.prune() == 0

    monkeypatch.setenv("LEADGEN_WORKER_OUTBOX_KEEP_PROCESSED_DAYS", "1")
    get_settings.cache_clear()
    close_task_runtime()  # the worker's next task reads the settings afresh
    assert outbox_tasks.prune() == 1
    assert await kept(resources) == {young[0], young[2]}


def test_the_scheduler_prunes_the_outbox_every_ten_minutes(settings: Settings) -> None:
    entry = create_celery(settings).conf.beat_schedule["prune-outbox"]
    assert (entry["task"], entry["schedule"]) == ("outbox.prune", 600.0)
    app = create_celery(settings)
    app.loader.import_default_modules()
    assert "outbox.prune" in app.tasks


@pytest.mark.usefixtures("worker")
async def test_a_lead_whose_processed_events_were_deleted_is_not_worked_again_when_delivered_late(
    client: AsyncClient, key: str, resources: Resources, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue's late redelivery of every task of a lead, once its events were deleted: no second
    routing, no second message, nothing for the relay."""
    async with resources.unit_of_work() as session:
        await helpers.agent(session, ["TX"], name="Maria Gonzalez")
    await sync_graph(resources)
    answer = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
    lead_id = answer.json()["id"]
    assert pipeline_tasks.process_lead(lead_id) == LeadStatus.ROUTED
    round_key = f"{lead_id}:1"
    monkeypatch.setattr(notification_tasks, "deliver", lambda *args: None)  # sent, as far as it knows
    assert notification_tasks.notify_round(round_key) >= 1  # the offer (the person's, in their hours)
    recorded = await notifications(resources)
    async with resources.unit_of_work() as session:
        week_ago = utcnow() - timedelta(days=8)
        await session.execute(update(OutboxEvent).values(processed_at=week_ago, created_at=week_ago))
    assert outbox_tasks.prune() >= 2

    async with resources.require_sessions()() as session:
        assert list(await session.scalars(select(OutboxEvent))) == []
    assert pipeline_tasks.process_lead(lead_id) is None
    assert notification_tasks.notify_round(round_key) == 0
    assert outbox_tasks.relay() == 0
    async with resources.require_sessions()() as session:
        assert len(list(await session.scalars(select(Assignment)))) == 1
    assert await notifications(resources) == recorded


async def notifications(resources: Resources) -> list[tuple[str, str, str]]:
    async with resources.require_sessions()() as session:
        rows = await session.execute(select(Notification.template, Notification.channel, Notification.status))
        return sorted((template, channel, status) for template, channel, status in rows)

"""Beat keeps sending periodic jobs while no worker consumes them. Each run expires once it waited
longer than its interval (a minute at least): workers back from an outage drop the runs that
piled up, acknowledging them, rather than work through a thousand an hour of them ahead of the
offers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from celery import Celery
from celery.beat import Scheduler
from celery.signals import task_prerun, task_revoked

from leadgen.core.server import _start_worker
from leadgen.core.settings import Settings
from leadgen.stores.broker import DEFAULT_QUEUE, SHORTEST_EXPIRY_SECONDS, create_celery


def test_every_periodic_job_expires_after_its_interval_and_a_minute_at_least() -> None:
    schedule = create_celery(Settings()).conf.beat_schedule
    assert {entry["task"] for entry in schedule.values()} >= {"outbox.relay", "routing.expire_offers", "outbox.prune"}
    for name, entry in schedule.items():
        assert entry["options"] == {"expires": max(entry["schedule"], SHORTEST_EXPIRY_SECONDS)}, name
    assert schedule["outbox-relay"]["options"]["expires"] == 60.0
    assert schedule["purge-inactive-people"]["options"]["expires"] == 3600.0


@pytest.fixture
def embedded_broker(settings: Settings) -> Celery:
    """The all-in-one's Celery (kombu's in-process transport), its ``default`` queue emptied of
    anything an earlier test of this process sent."""
    app = create_celery(settings)
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(DEFAULT_QUEUE)
    return app


def sent_by_beat(app: Celery, entry_name: str, at: datetime) -> None:
    """Beat sends the entry's run at the moment ``at``, as its own scheduler does."""
    scheduler = Scheduler(app, lazy=True)
    entry = scheduler.Entry(name=entry_name, app=app, **app.conf.beat_schedule[entry_name])
    with app.connection_for_write() as connection, patch.object(Celery, "now", lambda self: at):
        scheduler.apply_entry(entry, producer=app.amqp.Producer(connection))


def waiting(app: Celery) -> int:
    with app.connection_for_write() as connection:
        return int(connection.default_channel._size(DEFAULT_QUEUE))


@pytest.mark.usefixtures("worker")
def test_a_worker_back_from_an_outage_drops_the_runs_that_waited_past_their_expiry(embedded_broker: Celery) -> None:
    app, now = embedded_broker, datetime.now(UTC)
    # Sent by beat while no worker consumed: five relays from the last 65 s, and one just now.
    for seconds_ago in (65, 64, 63, 62, 61, 0):
        sent_by_beat(app, "outbox-relay", now - timedelta(seconds=seconds_ago))
    assert waiting(app) == 6
    seen: list[tuple[str, Any]] = []

    def ran(sender: Any = None, **kwargs: Any) -> None:
        seen.append(("ran", sender.name))

    def dropped(sender: Any = None, expired: bool = False, **kwargs: Any) -> None:
        seen.append(("dropped" if expired else "revoked", sender.name))

    task_prerun.connect(ran, weak=False)
    task_revoked.connect(dropped, weak=False)
    worker = _start_worker(app, [DEFAULT_QUEUE], 2)
    consuming = threading.Thread(target=worker.start, daemon=True)
    try:
        consuming.start()
        for _ in range(200):
            if len(seen) == 6:
                break
            threading.Event().wait(0.05)
    finally:
        worker.stop(in_sighandler=False)
        consuming.join(30)
        task_prerun.disconnect(ran)
        task_revoked.disconnect(dropped)
    assert sorted(seen) == [("dropped", "outbox.relay")] * 5 + [("ran", "outbox.relay")]
    # Acknowledged (the tasks are acknowledged late): none goes back to the queue as the worker stops.
    assert waiting(app) == 0

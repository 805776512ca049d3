"""The outbox relay hands an unprocessed event on again once its lease runs out, waiting twice as
long after each hand-on, up to five minutes: a deep queue is not multiplied by copies of itself,
and a lost message is still handed on within minutes."""

from __future__ import annotations

from datetime import datetime, timedelta
from unittest.mock import patch

import pytest

from leadgen.core.resources import Resources
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox

LEASE = timedelta(seconds=30)


async def relayed_at(resources: Resources, key: str, when: datetime) -> bool:
    """Run one relay pass at ``when`` (30 s leases) and say whether it handed on the event of ``key``."""
    async with resources.unit_of_work() as session:
        with patch.object(outbox, "utcnow", lambda: when):
            due = await outbox.due_for_dispatch(session, LEASE, 100)
        return key in {event.key for event in due}


async def test_each_hand_on_waits_twice_as_long_as_the_one_before_up_to_five_minutes(resources: Resources) -> None:
    written = utcnow()
    async with resources.unit_of_work() as session:
        event = outbox.add(session, "lead.received", "stuck-in-a-deep-queue")
        event.dispatched_at = written
        session.info.pop(outbox.AFTER_COMMIT, None)
    key = event.key

    # A lease after it was written, then 60, 120, 240 s after the hand-on before, then every 300 s;
    # none a second early.
    last = written
    for interval in [30, 60, 120, 240, 300, 300]:
        assert not await relayed_at(resources, key, last + timedelta(seconds=interval - 1))
        last += timedelta(seconds=interval + 0.5)
        assert await relayed_at(resources, key, last)


async def test_an_event_held_off_by_its_consumer_is_handed_on_a_lease_after_the_hold_ends(
    resources: Resources,
) -> None:
    """The backoff counts the relay's hand-ons only: a consumer's hold still sets the next one."""
    written = utcnow()
    async with resources.unit_of_work() as session:
        event = outbox.add(session, "lead.received", "held-off")
        event.dispatched_at = written
        session.info.pop(outbox.AFTER_COMMIT, None)
    assert await relayed_at(resources, "held-off", written + timedelta(seconds=31))
    hold_until = written + timedelta(seconds=200)
    async with resources.unit_of_work() as session:
        held = await outbox.claim(session, "lead.received", "held-off", written + timedelta(seconds=40), hold_until)
        assert held is not None
        await outbox.hold_off_relay(session, held, hold_until)
    assert not await relayed_at(resources, "held-off", hold_until + timedelta(seconds=29))
    assert await relayed_at(resources, "held-off", hold_until + timedelta(seconds=31))


@pytest.mark.parametrize(
    ("lease", "hand_ons", "interval"),
    [
        (timedelta(seconds=30), 1, timedelta(seconds=60)),
        (timedelta(seconds=30), 3, timedelta(seconds=240)),
        (timedelta(seconds=30), 4, timedelta(minutes=5)),
        (timedelta(seconds=30), 10_000, timedelta(minutes=5)),
        (timedelta(minutes=10), 3, timedelta(minutes=10)),  # a lease longer than the cap is kept
        (timedelta(0), 3, timedelta(0)),
    ],
)
def test_the_interval_to_the_next_hand_on(lease: timedelta, hand_ons: int, interval: timedelta) -> None:
    now = utcnow()
    assert outbox.next_lease_start(now, lease, hand_ons) + lease - now == interval

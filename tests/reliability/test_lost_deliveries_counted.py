"""A delivery whose worker died in it counts nothing itself: the next delivery of its outbox event,
which finds the dead one's claim still on it, counts it in ``leadgen_tasks_total`` as ``lost``, once
its own claim commits (the killed worker itself is ``tests/reliability/test_killed_worker.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from leadgen.core.resources import Resources
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox

CLAIM = timedelta(minutes=2)


def lost(task: str) -> float:
    return REGISTRY.get_sample_value("leadgen_tasks_total", {"task": task, "outcome": "lost"}) or 0.0


async def claimed(resources: Resources, topic: str, key: str, at: datetime) -> outbox.Claim | None:
    async with resources.unit_of_work() as session:
        return await outbox.claim(session, topic, key, at, at + CLAIM)


async def test_a_delivery_that_died_is_counted_lost_by_the_next_once_its_claim_commits(resources: Resources) -> None:
    written = utcnow()
    async with resources.unit_of_work() as session:
        outbox.add(session, "lead.unassigned", "alert-of-a-dying-worker")
        session.info.pop(outbox.AFTER_COMMIT, None)
    task = outbox.TASK_FOR_TOPIC["lead.unassigned"]
    before = lost(task)

    # The first delivery claims the event and dies: nothing counted yet.
    assert await claimed(resources, "lead.unassigned", "alert-of-a-dying-worker", written) is not None
    assert lost(task) == before

    # The next, once the claim ran out, finds it still on the event. Its own claim rolled back (its
    # transaction failed) counts nothing: the delivery after it finds the same death and counts it.
    later = written + CLAIM + timedelta(seconds=1)
    with pytest.raises(RuntimeError):
        async with resources.unit_of_work() as session:
            held = await outbox.claim(session, "lead.unassigned", "alert-of-a-dying-worker", later, later + CLAIM)
            assert held is not None and held.last_lost
            raise RuntimeError("composing failed")
    assert lost(task) == before
    held = await claimed(resources, "lead.unassigned", "alert-of-a-dying-worker", later)
    assert held is not None and held.last_lost and held.lost_tries == 1
    assert lost(task) == before + 1

    # One that finishes its work counts nothing more, nor does a delivery of the finished event.
    async with resources.unit_of_work() as session:
        await outbox.finish_claimed(session, held, later)
    assert await claimed(resources, "lead.unassigned", "alert-of-a-dying-worker", later + 2 * CLAIM) is None
    assert lost(task) == before + 1

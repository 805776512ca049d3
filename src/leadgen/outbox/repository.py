"""The transactional outbox: events written with the change, relayed to the queue after commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.db import after_commit
from leadgen.core.metrics import TASKS
from leadgen.models import OutboxEvent
from leadgen.models.base import utcnow

# A routing round's offers, keyed "<lead id>:<attempt>": its messages go out in one task.
ROUND_TOPIC = "offers.made"
# What the release before rounds wrote instead; consumed during a rolling upgrade to this one.
LEGACY_OFFER_TOPIC, LEGACY_ACKNOWLEDGE_TOPIC = "assignment.offered", "lead.acknowledge"
# Staff put an UNASSIGNED lead back into routing; a topic of its own, so that orchestrators of a
# release without reopening never consume it (their relay skips it, their workers refuse the task).
REOPENED_TOPIC = "lead.reopened"
# A duplicate lead passed to the agents who hold the person's earlier lead, keyed by its id.
REQUESTED_AGAIN_TOPIC = "lead.requested_again"
# An agent was deactivated or their licences changed, keyed "<agent id>:<when>" (one event per
# change): their offers not yet answered that they may no longer take are withdrawn by a worker,
# lead by lead, after the change committed.
AGENT_DEACTIVATED_TOPIC = "agent.deactivated"
# A screened lead gave a listed phone or e-mail with one the list did not know, keyed by its id:
# the person's other leads by the one listed then are barred by a worker, after the screening
# committed (payload "hashes": what was listed).
PERSON_LINKED_TOPIC = "person.linked"
# Topics and the task that consumes each.
TASK_FOR_TOPIC = {
    "lead.received": "pipeline.process_lead",
    ROUND_TOPIC: "notifications.notify_round",
    LEGACY_OFFER_TOPIC: "notifications.offer_to_agent",
    LEGACY_ACKNOWLEDGE_TOPIC: "notifications.acknowledge_lead",
    "lead.unassigned": "notifications.alert_unassigned",
    REQUESTED_AGAIN_TOPIC: "notifications.tell_owners",
    "lead.reroute": "pipeline.reroute",
    REOPENED_TOPIC: "pipeline.reopen",
    "lead.outcome": "pipeline.sync_outcome",
    "lead.erased": "pipeline.forget",
    AGENT_DEACTIVATED_TOPIC: "routing.withdraw_agent_offers",
    PERSON_LINKED_TOPIC: "compliance.bar_linked",
}


AFTER_COMMIT = "leadgen.dispatch_after_commit"


def add(session: AsyncSession, topic: str, key: str, payload: dict[str, Any] | None = None) -> OutboxEvent:
    """Record the event; the unit of work hands it to the queue right after its commit."""
    event = OutboxEvent(id=uuid.uuid4(), topic=topic, key=key, payload=payload or {}, dispatched_at=utcnow())
    session.add(event)
    session.info.setdefault(AFTER_COMMIT, []).append((TASK_FOR_TOPIC[topic], key))
    return event


def take_dispatches(session: AsyncSession) -> list[tuple[str, str]]:
    dispatches: list[tuple[str, str]] = session.info.pop(AFTER_COMMIT, [])
    return dispatches


# The longest wait between two hand-ons of one event, unless the lease itself is longer.
LONGEST_RELAY_INTERVAL = timedelta(minutes=5)


def next_lease_start(now: datetime, lease: timedelta, hand_ons: int) -> datetime:
    """When the lease of an event the relay has just handed on for the ``hand_ons``-th time
    starts: the relay hands it on again twice as long after this hand-on as this one came after
    the last (the first came a lease after the event was written), up to
    ``LONGEST_RELAY_INTERVAL``. An event still unprocessed a lease after it was handed on is far
    more often waiting behind others in a deep queue than lost, and every copy the relay adds
    makes that queue deeper; a lost one is still handed on again within minutes."""
    interval = min(lease * (1 << min(hand_ons, 16)), max(lease, LONGEST_RELAY_INTERVAL))
    return now + interval - lease


async def due_for_dispatch(session: AsyncSession, lease: timedelta, limit: int) -> list[OutboxEvent]:
    """Unprocessed events whose lease ran out, claimed so concurrent relays skip them; each one's
    next lease starts as ``next_lease_start`` says."""
    cutoff = utcnow() - lease
    query = (
        select(OutboxEvent)
        .where(
            OutboxEvent.processed_at.is_(None),
            or_(OutboxEvent.dispatched_at.is_(None), OutboxEvent.dispatched_at < cutoff),
        )
        .order_by(OutboxEvent.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    events = list(await session.scalars(query))
    now = utcnow()
    for event in events:
        event.dispatch_count += 1
        event.dispatched_at = next_lease_start(now, lease, event.dispatch_count)
    return events


# Consumers finish their events, claim them or set when the relay may hand them on again with
# statements built once, updating rows without ORM objects to synchronise. One that does not claim
# finishes every unfinished event of its topic and key.
_MARK_PROCESSED = (
    update(OutboxEvent)
    .where(
        OutboxEvent.topic == bindparam("event_topic"),
        OutboxEvent.key == bindparam("event_key"),
        OutboxEvent.processed_at.is_(None),
    )
    .values(processed_at=bindparam("when"))
    .execution_options(synchronize_session=False)
)
# A delivery claims the earliest unfinished event of its topic and key, by id: two may share them
# (a duplicate passed to its owners again while its first event is still retried), and events of
# one key are then worked through one at a time, each finished on its own.
_EARLIEST_UNFINISHED = (
    select(OutboxEvent.id)
    .where(
        OutboxEvent.topic == bindparam("event_topic"),
        OutboxEvent.key == bindparam("event_key"),
        OutboxEvent.processed_at.is_(None),
    )
    .order_by(OutboxEvent.created_at, OutboxEvent.id)
    .limit(1)
    .scalar_subquery()
)
# What a failed try records instead of its error's class when its delivery died in it.
WORKER_LOST = "worker lost"
# Each claim is counted. A claim still on the event when the next delivery claims it (once it ran
# out) was neither finished nor given up by a failed try, which clear it: its delivery died in it,
# and that is the last error. (An UPDATE's SET reads the row as it was.)
_CLAIM = (
    update(OutboxEvent)
    .where(
        OutboxEvent.id == _EARLIEST_UNFINISHED,
        OutboxEvent.processed_at.is_(None),
        or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until <= bindparam("now")),
    )
    .values(
        claimed_until=bindparam("until"),
        dispatched_at=bindparam("until"),
        claims=OutboxEvent.claims + 1,
        last_error=case((OutboxEvent.claimed_until.is_not(None), WORKER_LOST), else_=OutboxEvent.last_error),
    )
    .returning(
        OutboxEvent.id, OutboxEvent.created_at, OutboxEvent.failed_tries, OutboxEvent.claims, OutboxEvent.last_error
    )
    .execution_options(synchronize_session=False)
)
# The claimed row while this delivery's claim is still on it (not run out and taken by another).
_CLAIMED = (
    update(OutboxEvent)
    .where(
        OutboxEvent.id == bindparam("event_id"),
        OutboxEvent.processed_at.is_(None),
        OutboxEvent.claimed_until == bindparam("claimed"),
    )
    .execution_options(synchronize_session=False)
)
_FINISH_CLAIMED = _CLAIMED.values(processed_at=bindparam("when"))
_EXTEND_CLAIM = _CLAIMED.values(claimed_until=bindparam("until"), dispatched_at=bindparam("until")).returning(
    OutboxEvent.id
)
_HOLD_OFF = _CLAIMED.values(
    dispatched_at=bindparam("until"),
    claimed_until=None,
    failed_tries=OutboxEvent.failed_tries + 1,
    last_error=bindparam("error"),
)
_GIVE_UP = _CLAIMED.values(
    processed_at=bindparam("when"),
    claimed_until=None,
    failed_tries=OutboxEvent.failed_tries + bindparam("failed"),
    last_error=bindparam("error"),
).returning(OutboxEvent.id)


@dataclass(frozen=True)
class Claim:
    """One delivery's hold on an event. Its end time tells it from a later delivery's claim, so a
    delivery that outlived its claim cannot finish or release an event another one now holds."""

    event_id: uuid.UUID
    written_at: datetime  # when the event was written: how long its work has waited
    until: datetime
    failed_tries: int = 0  # deliveries before this one that failed in a way worth a retry
    # Deliveries before this one that died in it (claimed, and neither finished nor counted).
    lost_tries: int = 0
    last_error: str | None = None  # the last failed try's error class, or WORKER_LOST

    @property
    def tries(self) -> int:
        """The deliveries before this one, none of which finished the event."""
        return self.failed_tries + self.lost_tries

    @property
    def last_lost(self) -> bool:
        """Whether the delivery just before this one died in it."""
        return self.last_error == WORKER_LOST

    def params(self, **values: object) -> dict[str, object]:
        return {"event_id": self.event_id, "claimed": self.until, **values}


async def mark_processed(session: AsyncSession, topic: str, key: str, when: datetime | None = None) -> None:
    await session.execute(_MARK_PROCESSED, {"event_topic": topic, "event_key": key, "when": when or utcnow()})


async def claim(session: AsyncSession, topic: str, key: str, now: datetime, until: datetime) -> Claim | None:
    """Hold the earliest unfinished event of ``topic`` and ``key`` for one delivery until
    ``until``; the relay waits that out too. None when every such event is finished, or another
    delivery holds the earliest: that one finishes it, or, if it died, its claim runs out and the
    relay hands the event on."""
    result = await session.execute(_CLAIM, {"event_topic": topic, "event_key": key, "now": now, "until": until})
    row = result.first()
    if row is None:
        return None
    # Every claim before this one that did not finish the event failed, counted or not. Deliveries
    # of a release that did not count claims (during a rolling upgrade) may leave fewer: none lost.
    lost = max(0, row.claims - 1 - row.failed_tries)
    held = Claim(row.id, row.created_at, until, row.failed_tries, lost, row.last_error)
    if held.last_lost:
        # The dead worker counted nothing; counted once this claim commits, as a claim rolled back
        # leaves the next one to find the same death.
        after_commit(session, TASKS.labels(TASK_FOR_TOPIC[topic], "lost").inc)
    return held


async def extend_claim(session: AsyncSession, held: Claim, until: datetime) -> Claim | None:
    """Hold the event until ``until`` (a delivery with many messages, or a slow send ahead); None,
    and nothing changed, when the claim ran out and another delivery took the event over (or
    finished it): this one must then send nothing more. The one UPDATE compares on the claim's end
    time, which is this delivery's own (a later claim is taken only once it has passed, so it ends
    later); a takeover at the same moment is waited for (PostgreSQL's row lock, SQLite's write
    lock) and then found, or waits and finds the event held. A claim that ran out but that nobody
    took is still this delivery's, and extended."""
    extended = await session.execute(_EXTEND_CLAIM, held.params(until=until))
    return replace(held, until=until) if extended.first() is not None else None


async def finish_claimed(session: AsyncSession, held: Claim, when: datetime) -> None:
    """Mark the event processed, unless the claim ran out and another delivery took it over."""
    await session.execute(_FINISH_CLAIMED, held.params(when=when))


async def hold_off_relay(session: AsyncSession, held: Claim, until: datetime, error: str | None = None) -> None:
    """Give up the claim after a try that failed in a way worth a retry (counted, with the class
    of its ``error``), and keep the relay from handing the event on before ``until`` (its lease
    starts then): a task that will retry it itself would otherwise get a second delivery, with
    retries of its own, at every lease for as long as an outage lasts."""
    await session.execute(_HOLD_OFF, held.params(until=until, error=error))


async def give_up(session: AsyncSession, held: Claim, when: datetime, error: str, *, failed: bool = True) -> bool:
    """Mark the event processed after a failed try that was its last (counted, with the class of
    its ``error``), or, not ``failed``, instead of a try (its deliveries died in it: ``error`` is
    WORKER_LOST): its work is not tried again. False, and nothing changed, when the claim ran out
    and another delivery took the event over."""
    result = await session.execute(_GIVE_UP, held.params(when=when, error=error, failed=int(failed)))
    return result.first() is not None


async def hold_unfinished(session: AsyncSession, topic: str, key: str) -> list[uuid.UUID]:
    """The unfinished events of ``topic`` and ``key``, locked until the transaction ends (on
    SQLite, by the database's write lock). A consumer that reads what they are about afterwards and
    finishes exactly these (``finish``) leaves an event committed meanwhile to a later delivery,
    and two deliveries of one key take turns."""
    query = (
        select(OutboxEvent.id)
        .where(OutboxEvent.topic == topic, OutboxEvent.key == key, OutboxEvent.processed_at.is_(None))
        .with_for_update()
    )
    return list(await session.scalars(query))


async def finish(session: AsyncSession, event_ids: list[uuid.UUID], when: datetime) -> None:
    """Mark these events processed (those ``hold_unfinished`` answered)."""
    if event_ids:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(event_ids))
            .values(processed_at=when)
            .execution_options(synchronize_session=False)
        )


async def unfinished(session: AsyncSession, topic: str, key: str) -> OutboxEvent | None:
    """The earliest event of ``topic`` and ``key`` not yet processed."""
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.topic == topic, OutboxEvent.key == key, OutboxEvent.processed_at.is_(None))
        .order_by(OutboxEvent.created_at)
        .limit(1)
    )
    return await session.scalar(query)


async def prune_processed(session: AsyncSession, processed_before: datetime, limit: int) -> int:
    """Delete up to ``limit`` events processed before ``processed_before``, oldest first, through
    the index that leads with ``processed_at``; returns how many. Nothing reads an event once it is
    processed: every consumer and the relay look for the unfinished ones only."""
    oldest = (
        select(OutboxEvent.id)
        .where(OutboxEvent.processed_at < processed_before)
        .order_by(OutboxEvent.processed_at)
        .limit(limit)
    )
    result = await session.execute(
        delete(OutboxEvent).where(OutboxEvent.id.in_(oldest)).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Backlog:
    """The unprocessed events of one topic: how many, and when the oldest was written."""

    events: int
    oldest: datetime


_BACKLOG = (
    select(OutboxEvent.topic, func.count(), func.min(OutboxEvent.created_at))
    .where(OutboxEvent.processed_at.is_(None))
    .group_by(OutboxEvent.topic)
)


async def backlog(session: AsyncSession) -> dict[str, Backlog]:
    """Unprocessed events by topic; a topic with none is absent."""
    return {topic: Backlog(events, oldest) for topic, events, oldest in await session.execute(_BACKLOG)}

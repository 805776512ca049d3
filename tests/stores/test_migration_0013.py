"""Migration 0013 (``assignments.outcome``) reads the agents' events a batch of leads at a time: the
same outcomes whatever the batches, again after a run stopped part-way, in memory that grows with
a batch and not with the leads; on both backends."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import text, update

from leadgen.core import migrate
from leadgen.core.migrate import downgrade, upgrade
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Assignment, Lead, LeadEvent, Source
from tests.stores.test_migrations import _agents, _insert_all, _lead_values, _offer_outcomes, _session
from tests.stores.test_migrations import empty_database as empty_database  # the fixture, for both backends

# What an agent recorded on a lead, in order: on to a conversion, back to CONTACTED after LOST
# (LOST stays, dated by its own event), one step, nothing, the same step twice.
HISTORIES = [
    ["lead.contacted", "lead.quoted", "lead.converted"],
    ["lead.contacted", "lead.lost", "lead.contacted"],
    ["lead.contacted"],
    [],
    ["lead.quoted", "lead.quoted"],
]
STATUSES = [LeadStatus.CONVERTED, LeadStatus.LOST, LeadStatus.QUOTED, LeadStatus.CONTACTED, LeadStatus.RETURNED]
OFFER_STATUSES = [AssignmentStatus.ACCEPTED] * 3 + [AssignmentStatus.RETURNED, AssignmentStatus.TIMED_OUT]
HISTORY_STARTS = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


class _Stopped(Exception):
    """The migration Job killed part-way."""


async def _vendor_and_agents(settings: Settings) -> tuple[uuid.UUID, list[uuid.UUID]]:
    async with _session(settings) as session:
        source = Source(name="vendor", kind="api")
        session.add(source)
        await session.flush()
        return source.id, await _agents(session, 3)


async def _worked_leads(settings: Settings, source: uuid.UUID, agents: list[uuid.UUID], leads: int) -> None:
    """Schema 0012: ``leads`` more leads, exclusive and shared, each offered to every agent
    (accepted, returned or timed out), who recorded outcomes on it in time order; the leads'
    events interleave, and some name no agent."""
    draw = random.Random(leads)
    lead_rows, offer_rows, event_rows = [], [], []
    for n in range(leads):
        lead = _lead_values(source, STATUSES[n % len(STATUSES)]) | {"exclusive": n % 3 == 0}
        lead_rows.append(lead)
        for slot, agent in enumerate(agents):
            offer_rows.append(_offer_values(lead["id"], agent, draw.choice(OFFER_STATUSES), slot))
            minutes = sorted(draw.sample(range(10_000), 3))
            for name, minute in zip(draw.choice(HISTORIES), minutes, strict=False):
                data = {"agent_id": str(agent)} if draw.random() > 0.1 else {}
                at = HISTORY_STARTS + timedelta(minutes=minute)
                event = {"id": uuid.uuid4(), "lead_id": lead["id"], "name": name, "data": data, "created_at": at}
                event_rows.append(event)
    async with _session(settings) as session:
        await _insert_all(session, Lead, lead_rows)
        await _insert_all(session, Assignment, offer_rows)
        await _insert_all(session, LeadEvent, event_rows)


def _offer_values(lead: object, agent: uuid.UUID, status: AssignmentStatus, slot: int) -> dict[str, object]:
    """An offer with only the columns schema 0001 has (the model knows later ones)."""
    now = datetime.now(UTC)
    return {
        "id": uuid.uuid4(),
        "lead_id": lead,
        "agent_id": agent,
        "attempt": 1,
        "slot": slot,
        "status": status,
        "strategy": "round_robin",
        "explanation": {},
        "created_at": now,
        "expires_at": now + timedelta(minutes=15),
    }


async def _as_before_0013(settings: Settings) -> None:
    """Back at 0012 with the offers as they were: the downgrade keeps ``closed_at``, which 0013 set."""
    async with _session(settings) as session:
        await session.execute(update(Assignment).values(closed_at=None))


async def _version(settings: Settings) -> str:
    async with _session(settings) as session:
        return str((await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one())


def _batches_of(rows: int, stop_at: int | None = None) -> Callable[..., Iterator[sa.ColumnElement[bool]]]:
    """``id_batches`` ``rows`` rows at a time, stopping the migration as a killed Job would at its
    batch ``stop_at`` (from 0) of the first table it goes through, the leads."""
    cut = migrate.id_batches

    def batches(ids: sa.ColumnElement[uuid.UUID], size: int = rows) -> Iterator[sa.ColumnElement[bool]]:
        for n, batch in enumerate(cut(ids, rows)):
            if n == stop_at:
                raise _Stopped
            yield batch

    return batches


def test_the_outcomes_are_the_same_across_batches_of_leads_and_after_a_stopped_run(
    empty_database: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(empty_database, "0012")
    vendor, agents = asyncio.run(_vendor_and_agents(empty_database))
    asyncio.run(_worked_leads(empty_database, vendor, agents, leads=9))
    upgrade(empty_database, "0013")  # every lead in one batch: as when all the events were read at once
    in_one_batch = asyncio.run(_offer_outcomes(empty_database))
    assert sum(outcome is not None for outcome, _, _ in in_one_batch.values()) >= 10
    assert sum(at is not None for _, at, _ in in_one_batch.values()) >= 5

    downgrade(empty_database, "0012")
    asyncio.run(_as_before_0013(empty_database))
    with monkeypatch.context() as patched:
        patched.setattr(migrate, "id_batches", _batches_of(2))  # leads, then offers, two at a time
        upgrade(empty_database, "0013")
    assert asyncio.run(_offer_outcomes(empty_database)) == in_one_batch

    downgrade(empty_database, "0012")
    asyncio.run(_as_before_0013(empty_database))
    with monkeypatch.context() as patched:
        patched.setattr(migrate, "id_batches", _batches_of(2, stop_at=2))  # two batches committed
        with pytest.raises(_Stopped):
            upgrade(empty_database, "0013")
    assert asyncio.run(_version(empty_database)) == "0012"
    upgrade(empty_database, "0013")  # the Job run again
    assert asyncio.run(_offer_outcomes(empty_database)) == in_one_batch


def _peak_bytes(action: Callable[[], None]) -> int:
    """The peak of what ``action`` allocates, without the log records a test run keeps: once a test
    before it in the worker has left a driver's debug lines on, pytest holds a record per statement."""
    gc.collect()
    disabled_before = logging.root.manager.disable
    logging.disable(max(disabled_before, logging.INFO))
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        logging.disable(disabled_before)


def test_the_upgrades_memory_grows_with_a_batch_of_leads_not_with_all_of_them(
    empty_database: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four times the leads, in batches of 250, add under 1 MiB to the upgrade's peak. Read all at
    once, their events added 2.5 to 5 MiB per 1,000 leads: 512 MiB at some 150,000 in the Job."""
    upgrade(empty_database, "0012")
    vendor, agents = asyncio.run(_vendor_and_agents(empty_database))
    asyncio.run(_worked_leads(empty_database, vendor, agents, leads=500))
    monkeypatch.setattr(migrate, "id_batches", _batches_of(250))
    upgrade(empty_database, "0013")  # once untraced: what is imported on the first run only
    peaks = []
    for more_leads in (0, 1500):
        downgrade(empty_database, "0012")
        asyncio.run(_as_before_0013(empty_database))
        if more_leads:
            asyncio.run(_worked_leads(empty_database, vendor, agents, leads=more_leads))
        peaks.append(_peak_bytes(lambda: upgrade(empty_database, "0013")))
    assert peaks[1] - peaks[0] < 2**20, f"peaks of {peaks[0] / 2**20:.1f} and {peaks[1] / 2**20:.1f} MiB"

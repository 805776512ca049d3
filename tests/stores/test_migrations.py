"""Migrations on a database that already holds leads: the data moves with the schema, and back."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import column, event, insert, inspect, select, table, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from leadgen import migrations
from leadgen.cli.main import app
from leadgen.core import migrate
from leadgen.core.db import create_engine, create_sessionmaker, transaction
from leadgen.core.migrate import MigrationLockTimeout, downgrade, migration_engine, upgrade
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import (
    Agent,
    Assignment,
    ConsentRecord,
    Lead,
    LeadEvent,
    Notification,
    OutboxEvent,
    Source,
    SweepCursor,
    User,
)
from leadgen.models.base import Base
from tests.conftest import BACKENDS, PG_HOST, PG_PORT, environment, require_server, worker_id
from tests.targets.processes import drop_database, fresh_database


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        with environment(LEADGEN_DB_URL=f"sqlite+aiosqlite:///{tmp_path}/leadgen.db"):
            yield Settings()
        return
    with _empty_postgres_database() as settings:
        yield settings


@contextlib.contextmanager
def _empty_postgres_database() -> Iterator[Settings]:
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    name = f"leadgen_test_migrations_{worker_id()}"
    with environment(LEADGEN_DB_URL=asyncio.run(fresh_database(name))):
        yield Settings()
    asyncio.run(drop_database(name))


@contextlib.asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A transaction on an engine of its own: each step of a test runs at a different schema."""
    engine = create_engine(settings, "test")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()


async def _offer(
    session: AsyncSession,
    lead_id: uuid.UUID,
    agent_id: uuid.UUID,
    status: AssignmentStatus,
    slot: int = 0,
    attempt: int = 1,
) -> uuid.UUID:
    """An offer with only the columns schema 0001 has (the model knows later ones)."""
    offer, now = uuid.uuid4(), datetime.now(UTC)
    values = {"lead_id": lead_id, "agent_id": agent_id, "attempt": attempt, "slot": slot, "status": status}
    times = {"created_at": now, "expires_at": now + timedelta(minutes=15)}
    await _insert(session, Assignment, {"id": offer, "strategy": "round_robin", "explanation": {}} | values | times)
    return offer


async def _lead(
    session: AsyncSession, source_id: uuid.UUID, status: LeadStatus = LeadStatus.RECEIVED, exclusive: bool = True
) -> uuid.UUID:
    """A Texan auto lead with only the columns schema 0001 has (the model knows later ones)."""
    values = _lead_values(source_id, status) | {"exclusive": exclusive}
    await _insert(session, Lead, values)
    return values["id"]  # type: ignore[return-value]


def _lead_values(source_id: uuid.UUID, status: LeadStatus = LeadStatus.RECEIVED) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "id": uuid.uuid4(),
        "source_id": source_id,
        "line": "auto",
        "origin": "api",
        "exclusive": True,
        "is_test": False,
        "received_at": now,
        "created_at": now,
        "status": status,
        "state": "TX",
        "zip_code": "78701",
        "details": {},
        "route_attempts": 0,
    }


async def _event(session: AsyncSession, topic: str, key: str, processed_at: datetime | None = None) -> None:
    """An outbox event with only the columns schema 0001 has (the model knows later ones)."""
    values = {
        "id": uuid.uuid4(),
        "topic": topic,
        "key": key,
        "payload": {},
        "dispatch_count": 0,
        "processed_at": processed_at,
        "created_at": datetime.now(UTC),
    }
    await _insert(session, OutboxEvent, values)


async def _insert(session: AsyncSession, model: type[Base], values: dict[str, object]) -> None:
    """A row of only the columns given, so that it fits an older schema than the model's."""
    columns = model.__table__.c
    older = table(model.__tablename__, *(column(name, columns[name].type) for name in values))
    await session.execute(insert(older).values(values))


async def _insert_all(session: AsyncSession, model: type[Base], rows: list[dict[str, object]]) -> None:
    """Rows of only the columns the first one gives (as ``_insert``), sent in bulk."""
    columns = model.__table__.c
    older = table(model.__tablename__, *(column(name, columns[name].type) for name in rows[0]))
    await session.execute(insert(older), rows)


async def _agents(session: AsyncSession, count: int, timezone: str = "America/New_York") -> list[uuid.UUID]:
    """Agents with only the columns schema 0001 has (the model knows later ones)."""
    now, ids = datetime.now(UTC), [uuid.uuid4() for _ in range(count)]
    rows: list[dict[str, object]] = [
        {"id": agent_id, "name": f"Agent {n}", "email": f"agent{n}@example.com", "timezone": timezone}
        | {"active": True, "daily_cap": 25, "open_cap": 50, "weight": 1, "created_at": now}
        for n, agent_id in enumerate(ids)
    ]
    await _insert_all(session, Agent, rows)
    return ids


async def _work_history(settings: Settings) -> dict[str, uuid.UUID]:
    """One agent with a converted lead and a lead still being worked, both accepted (schema 0001)."""
    async with _session(settings) as session:
        source = Source(name="vendor", kind="api")
        session.add(source)
        await session.flush()
        [agent] = await _agents(session, 1, timezone="America/Chicago")
        offers = {}
        for status in (LeadStatus.CONVERTED, LeadStatus.CONTACTED):
            lead_id = await _lead(session, source.id, status)
            offers[status.value] = await _offer(session, lead_id, agent, AssignmentStatus.ACCEPTED)
        return offers


async def _closed(settings: Settings) -> dict[uuid.UUID, datetime | None]:
    async with _session(settings) as session:
        return {row.id: row.closed_at for row in await session.execute(select(Assignment.id, Assignment.closed_at))}


def test_accepted_offers_of_converted_leads_are_closed_by_the_migration(empty_database: Settings) -> None:
    upgrade(empty_database, "0001")
    offers = asyncio.run(_work_history(empty_database))
    upgrade(empty_database)
    closed = asyncio.run(_closed(empty_database))
    assert closed[offers[LeadStatus.CONVERTED]] is not None
    assert closed[offers[LeadStatus.CONTACTED]] is None
    # And back, and forward again, with the data in place.
    downgrade(empty_database, "0001")
    upgrade(empty_database)
    assert asyncio.run(_closed(empty_database))[offers[LeadStatus.CONVERTED]] is not None


async def _drift(settings: Settings) -> list[object]:
    engine = create_engine(settings, "test")
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    finally:
        await engine.dispose()


def test_the_migrations_build_exactly_the_models(empty_database: Settings) -> None:
    upgrade(empty_database)
    assert asyncio.run(_drift(empty_database)) == []


async def _queued_notifications(settings: Settings) -> tuple[uuid.UUID, list[uuid.UUID], uuid.UUID]:
    """Schema 0002: a lead offered to two agents in its first round, one offer event still
    unprocessed and one done, its acknowledgement event unprocessed, and a second round's offer
    to a third agent unprocessed. Returns the lead, the agents and the second round's offer."""
    now = datetime.now(UTC)
    async with _session(settings) as session:
        source = Source(name="vendor", kind="api")
        session.add(source)
        await session.flush()
        agents = await _agents(session, 3)
        lead_id = await _lead(session, source.id)
        for slot, agent in enumerate(agents[:2]):
            offer = await _offer(session, lead_id, agent, AssignmentStatus.PENDING, slot)
            await _event(session, "assignment.offered", str(offer), processed_at=now if slot else None)
        await _event(session, "lead.acknowledge", str(lead_id))
        later = await _offer(session, lead_id, agents[2], AssignmentStatus.PENDING, attempt=2)
        await _event(session, "assignment.offered", str(later))
        return lead_id, agents, later


async def _offers_sent(settings: Settings, lead_id: uuid.UUID, agent_ids: list[uuid.UUID]) -> None:
    async with _session(settings) as session:
        session.add_all(
            Notification(
                channel="email",
                recipient_kind="agent",
                agent_id=agent_id,
                lead_id=lead_id,
                template="offer",
                status="sent",
            )
            for agent_id in agent_ids
        )


async def _unprocessed_events(settings: Settings) -> list[tuple[str, str]]:
    async with _session(settings) as session:
        query = select(OutboxEvent.topic, OutboxEvent.key).where(OutboxEvent.processed_at.is_(None))
        return sorted((topic, key) for topic, key in await session.execute(query))


def test_queued_offers_and_acknowledgements_become_round_events_and_back(empty_database: Settings) -> None:
    upgrade(empty_database, "0002")
    lead_id, agents, later_offer = asyncio.run(_queued_notifications(empty_database))
    upgrade(empty_database)
    rounds = [("offers.made", f"{lead_id}:1"), ("offers.made", f"{lead_id}:2")]
    assert asyncio.run(_unprocessed_events(empty_database)) == rounds
    # Both first-round offers went out (one before the upgrade, one after); nothing else did.
    asyncio.run(_offers_sent(empty_database, lead_id, agents[:2]))
    downgrade(empty_database, "0002")
    restored = [("assignment.offered", str(later_offer)), ("lead.acknowledge", str(lead_id))]
    assert asyncio.run(_unprocessed_events(empty_database)) == restored


async def _reopened(settings: Settings) -> uuid.UUID:
    """At head: a lead reopened a second time, waiting for its round, with the alert of the time it
    was left after its first reopening still queued."""
    async with _session(settings) as session:
        source = Source(name="vendor", kind="api")
        session.add(source)
        await session.flush()
        lead = Lead(
            source_id=source.id,
            line="auto",
            origin="api",
            state="TX",
            zip_code="78701",
            status=LeadStatus.SCORED,
            route_attempts=3,
            reopenings=2,
            attempts_before_reopening=3,
        )
        session.add(lead)
        await session.flush()
        session.add_all(
            [
                OutboxEvent(topic="lead.reopened", key=str(lead.id)),
                OutboxEvent(topic="lead.unassigned", key=f"{lead.id}:1", payload={"reason": "no eligible agent"}),
            ]
        )
        return lead.id


async def _status(settings: Settings, lead_id: uuid.UUID) -> tuple[str, str | None]:
    async with _session(settings) as session:
        row = (await session.execute(select(Lead.status, Lead.status_reason).where(Lead.id == lead_id))).one()
        return row.status, row.status_reason


def test_a_downgrade_leaves_no_reopened_lead_waiting_and_keys_queued_alerts_by_lead(empty_database: Settings) -> None:
    upgrade(empty_database)
    lead_id = asyncio.run(_reopened(empty_database))
    downgrade(empty_database, "0003")
    assert asyncio.run(_unprocessed_events(empty_database)) == [("lead.unassigned", str(lead_id))]
    assert asyncio.run(_status(empty_database, lead_id)) == ("UNASSIGNED", "reopening undone by a downgrade")
    upgrade(empty_database)
    assert asyncio.run(_drift(empty_database)) == []


def _backfill_batch() -> int:
    """How many leads the upgrade to 0012 prices per batch, read from its file as Alembic loads it."""
    [path] = (Path(migrations.__file__).parent / "versions").glob("*_0012_*.py")
    spec = importlib.util.spec_from_file_location("leads_record_their_price", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.BATCH)


async def _bought_before_prices_were_recorded(settings: Settings, leads: int) -> None:
    """Schema 0011: ``leads`` leads from a vendor priced $25.00 but the first by id (where the
    batches start), from the quote form, which costs nothing."""
    async with _session(settings) as session:
        vendor, web_form = Source(name="vendor", cost_per_lead_cents=2500), Source(name="web-form", kind="web")
        session.add_all([vendor, web_form])
        await session.flush()
        rows = sorted((_lead_values(vendor.id) for _ in range(leads)), key=lambda row: str(row["id"]))
        rows[0]["source_id"] = web_form.id
        await _insert_all(session, Lead, rows)


async def _prices_by_source(settings: Settings) -> dict[str, tuple[int, set[int]]]:
    """Per source: how many leads, and the prices they were bought at."""
    async with _session(settings) as session:
        query = select(Source.name, Lead.price_cents).join(Lead, Lead.source_id == Source.id)
        prices: dict[str, list[int]] = {}
        for name, price in await session.execute(query):
            prices.setdefault(name, []).append(price)
        return {name: (len(paid), set(paid)) for name, paid in prices.items()}


async def _as_if_the_backfill_stopped(settings: Settings) -> None:
    """What an upgrade to 0012 leaves when its backfill stops before the first batch: the column,
    committed, with nothing priced, and the database still at 0011."""
    async with _session(settings) as session:
        await session.execute(update(Lead).values(price_cents=0))
        await session.execute(text("UPDATE alembic_version SET version_num = '0011'"))


def test_leads_bought_before_prices_were_recorded_are_priced_at_their_sources_price(
    empty_database: Settings,
) -> None:
    """Over one lead more than a batch takes (the last of the first batch and the lead after it
    both priced), and again after a backfill that stopped part-way."""
    upgrade(empty_database, "0011")
    leads = _backfill_batch() + 1
    asyncio.run(_bought_before_prices_were_recorded(empty_database, leads))
    upgrade(empty_database, "0012")  # the stopped backfill below leaves the schema of 0012
    priced = {"vendor": (leads - 1, {2500}), "web-form": (1, {0})}
    assert asyncio.run(_prices_by_source(empty_database)) == priced
    asyncio.run(_as_if_the_backfill_stopped(empty_database))
    upgrade(empty_database)
    assert asyncio.run(_prices_by_source(empty_database)) == priced
    downgrade(empty_database, "0011")
    upgrade(empty_database)
    assert asyncio.run(_prices_by_source(empty_database)) == priced
    assert asyncio.run(_drift(empty_database)) == []


async def _outcomes_as_one_status(settings: Settings) -> tuple[dict[str, uuid.UUID], datetime]:
    """Schema 0012, where a lead's status was its agents' one outcome: an exclusive converted lead,
    a shared lead one agent converted while the other had only accepted it, a shared lead one agent
    returned while the other kept it, an exclusive lost lead with no event, a lead still being
    worked, and a lead only accepted. Returns their offers by name, and when the conversions were
    recorded."""
    recorded_at = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    async with _session(settings) as session:
        source = Source(name="vendor", kind="api")
        session.add(source)
        await session.flush()
        agents = await _agents(session, 2)

        async def recorded(lead: uuid.UUID, agent: uuid.UUID, *names: str) -> None:
            for hours_before, name in enumerate(reversed(names)):
                at = recorded_at - timedelta(hours=hours_before)
                data = {"agent_id": str(agent), "note": False}
                event = {"id": uuid.uuid4(), "lead_id": lead, "name": name, "data": data, "created_at": at}
                await _insert(session, LeadEvent, event)

        offers: dict[str, uuid.UUID] = {}
        converted = await _lead(session, source.id, LeadStatus.CONVERTED)
        offers["converted"] = await _offer(session, converted, agents[0], AssignmentStatus.ACCEPTED)
        await recorded(converted, agents[0], "lead.contacted", "lead.quoted", "lead.converted")
        shared = await _lead(session, source.id, LeadStatus.CONVERTED, exclusive=False)
        offers["shared, converted"] = await _offer(session, shared, agents[0], AssignmentStatus.ACCEPTED)
        offers["shared, only accepted"] = await _offer(session, shared, agents[1], AssignmentStatus.ACCEPTED, 1)
        await recorded(shared, agents[0], "lead.contacted", "lead.quoted", "lead.converted")
        returned = await _lead(session, source.id, LeadStatus.RETURNED, exclusive=False)
        offers["returned"] = await _offer(session, returned, agents[0], AssignmentStatus.RETURNED)
        offers["kept, returned by the other"] = await _offer(session, returned, agents[1], AssignmentStatus.ACCEPTED, 1)
        lost = await _lead(session, source.id, LeadStatus.LOST)
        offers["lost"] = await _offer(session, lost, agents[0], AssignmentStatus.ACCEPTED)
        worked = await _lead(session, source.id, LeadStatus.QUOTED)
        offers["timed out"] = await _offer(session, worked, agents[1], AssignmentStatus.TIMED_OUT)
        offers["quoted"] = await _offer(session, worked, agents[0], AssignmentStatus.ACCEPTED, attempt=2)
        accepted = await _lead(session, source.id, LeadStatus.ACCEPTED)
        offers["accepted"] = await _offer(session, accepted, agents[0], AssignmentStatus.ACCEPTED)
        return offers, recorded_at


async def _offer_outcomes(settings: Settings) -> dict[uuid.UUID, tuple[str | None, datetime | None, bool]]:
    async with _session(settings) as session:
        rows = await session.execute(
            select(Assignment.id, Assignment.outcome, Assignment.outcome_at, Assignment.closed_at)
        )
        return {row.id: (row.outcome, row.outcome_at, row.closed_at is not None) for row in rows}


def test_each_accepted_offer_takes_its_own_agents_outcome_and_finished_ones_are_closed(
    empty_database: Settings,
) -> None:
    upgrade(empty_database, "0012")
    offers, recorded_at = asyncio.run(_outcomes_as_one_status(empty_database))
    upgrade(empty_database)
    expected = {
        "converted": ("CONVERTED", recorded_at, True),  # dated by the agent's event of it
        "shared, converted": ("CONVERTED", recorded_at, True),
        "shared, only accepted": (None, None, True),  # nothing of their own; the lead is finished
        "returned": (None, None, False),
        "kept, returned by the other": (None, None, True),  # the source credited the lead
        "lost": ("LOST", None, True),  # exclusive, no event: the lead's status, undated
        "timed out": (None, None, False),
        "quoted": ("QUOTED", None, False),
        "accepted": (None, None, False),
    }
    outcomes = asyncio.run(_offer_outcomes(empty_database))
    assert {name: outcomes[offer] for name, offer in offers.items()} == expected
    downgrade(empty_database, "0012")
    upgrade(empty_database)
    outcomes = asyncio.run(_offer_outcomes(empty_database))
    assert {name: outcomes[offer][:2] for name, offer in offers.items()} == {k: v[:2] for k, v in expected.items()}
    assert asyncio.run(_drift(empty_database)) == []


async def _offer_waiting(settings: Settings) -> uuid.UUID:
    """Schema 0013: a lead's offer not answered yet."""
    async with _session(settings) as session:
        source = Source(name="vendor", kind="api")
        session.add(source)
        await session.flush()
        [agent] = await _agents(session, 1)
        lead_id = await _lead(session, source.id, LeadStatus.ROUTED)
        return await _offer(session, lead_id, agent, AssignmentStatus.PENDING)


async def _expiry_tries(settings: Settings) -> dict[uuid.UUID, tuple[int, datetime | None]]:
    async with _session(settings) as session:
        rows = await session.execute(select(Assignment.id, Assignment.expiry_failures, Assignment.expiry_retry_at))
        return {row.id: (row.expiry_failures, row.expiry_retry_at) for row in rows}


async def _failed_to_time_out(settings: Settings, offer: uuid.UUID) -> None:
    retry_at = datetime.now(UTC) + timedelta(minutes=1)
    async with _session(settings) as session:
        await session.execute(
            update(Assignment).where(Assignment.id == offer).values(expiry_failures=1, expiry_retry_at=retry_at)
        )


async def _indexes_of_assignments(settings: Settings) -> set[str]:
    engine = create_engine(settings, "test")
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(lambda sync: inspect(sync).get_indexes("assignments"))
            return {str(index["name"]) for index in found}
    finally:
        await engine.dispose()


def test_offers_count_failed_tries_to_time_them_out_and_back(empty_database: Settings) -> None:
    upgrade(empty_database, "0013")
    offer = asyncio.run(_offer_waiting(empty_database))
    upgrade(empty_database)
    assert asyncio.run(_expiry_tries(empty_database)) == {offer: (0, None)}
    assert "ix_assignments_status_expiry_failures_expires_at" in asyncio.run(_indexes_of_assignments(empty_database))
    asyncio.run(_failed_to_time_out(empty_database, offer))
    downgrade(empty_database, "0013")
    indexes = asyncio.run(_indexes_of_assignments(empty_database))
    assert "ix_assignments_status_expires_at" in indexes
    assert "ix_assignments_status_expiry_failures_expires_at" not in indexes
    upgrade(empty_database)
    assert asyncio.run(_expiry_tries(empty_database)) == {offer: (0, None)}  # the offer kept, its tries not
    assert asyncio.run(_drift(empty_database)) == []


async def _user_signed_out_once(settings: Settings) -> uuid.UUID:
    """Schema 0014: a user at token version 1."""
    user_id = uuid.uuid4()
    values = {"id": user_id, "email": "pat@example.com", "password_hash": "$argon2id$", "role": "manager"}
    async with _session(settings) as session:
        await _insert(session, User, values | {"active": True, "token_version": 1, "created_at": datetime.now(UTC)})
    return user_id


async def _device_versions(settings: Settings) -> dict[uuid.UUID, int]:
    async with _session(settings) as session:
        return {row.id: row.device_version for row in await session.execute(select(User.id, User.device_version))}


async def _deactivated_and_reactivated(settings: Settings, user_id: uuid.UUID) -> None:
    async with _session(settings) as session:
        await session.execute(update(User).where(User.id == user_id).values(device_version=2))


def test_users_start_at_device_version_0_and_back(empty_database: Settings) -> None:
    upgrade(empty_database, "0014")
    user = asyncio.run(_user_signed_out_once(empty_database))
    upgrade(empty_database)
    assert asyncio.run(_device_versions(empty_database)) == {user: 0}
    asyncio.run(_deactivated_and_reactivated(empty_database, user))
    downgrade(empty_database, "0014")
    upgrade(empty_database)
    assert asyncio.run(_device_versions(empty_database)) == {user: 0}  # the user kept, their version not
    assert asyncio.run(_drift(empty_database)) == []


async def _purge_stopped(settings: Settings) -> None:
    """At head: the hourly retention purge stopped at a lead."""
    async with _session(settings) as session:
        session.add(SweepCursor(job="privacy.purge", received_at=datetime.now(UTC), lead_id=uuid.uuid4()))


async def _tables(settings: Settings) -> set[str]:
    engine = create_engine(settings, "test")
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def _cursors(settings: Settings) -> list[str]:
    async with _session(settings) as session:
        return list(await session.scalars(select(SweepCursor.job)))


def test_the_purges_place_is_kept_from_0017_and_a_downgrade_forgets_only_it(empty_database: Settings) -> None:
    upgrade(empty_database, "0016")
    upgrade(empty_database)
    asyncio.run(_purge_stopped(empty_database))
    assert asyncio.run(_cursors(empty_database)) == ["privacy.purge"]
    downgrade(empty_database, "0016")
    assert "sweep_cursors" not in asyncio.run(_tables(empty_database))
    upgrade(empty_database)
    assert asyncio.run(_cursors(empty_database)) == []  # the next run starts from the oldest
    assert asyncio.run(_drift(empty_database)) == []


async def _erased_before_0018(settings: Settings) -> dict[str, uuid.UUID]:
    """Schema 0017: leads erased as that release erased them (the IP address cleared, the page and
    certificates kept), their consent given a month ago and six years ago, and a lead not erased."""
    async with _session(settings) as session:
        source = Source(name="vendor", kind="api")
        session.add(source)
        await session.flush()
        now = datetime.now(UTC)
        leads: dict[str, uuid.UUID] = {}
        for name, consent_age, erased in (
            ("young, erased", timedelta(days=30), True),
            ("old, erased", timedelta(days=6 * 365), True),
            ("kept", timedelta(days=30), False),
        ):
            leads[name] = await _lead(session, source.id, LeadStatus.CONVERTED)
            if erased:
                await session.execute(update(Lead).where(Lead.id == leads[name]).values(anonymised_at=now))
            evidence = {
                "ip_address": None if erased else "203.0.113.7",
                "page_url": "https://quotes.example.com/auto",
                "trustedform_cert_url": "https://cert.trustedform.com/abc",
                "jornaya_leadid": "LEADID-1",
            }
            consent = {
                "id": uuid.uuid4(),
                "lead_id": leads[name],
                "text": "I agree to be contacted by agents.",
                "text_sha256": "0" * 64,
                "captured_at": now - consent_age,
                "created_at": now,
            }
            await _insert(session, ConsentRecord, consent | evidence)
        return leads


async def _consent_evidence(settings: Settings) -> dict[uuid.UUID, tuple[bool, bool]]:
    """Per lead: whether its consent record keeps a page, and has a date to lose it."""
    async with _session(settings) as session:
        rows = await session.execute(
            select(ConsentRecord.lead_id, ConsentRecord.page_url, ConsentRecord.evidence_kept_until)
        )
        return {lead_id: (page is not None, kept_until is not None) for lead_id, page, kept_until in rows}


async def _consent_dates(settings: Settings, lead_id: uuid.UUID) -> tuple[datetime, datetime | None]:
    """When the lead's consent was captured, and until when its evidence is kept."""
    async with _session(settings) as session:
        query = select(ConsentRecord.captured_at, ConsentRecord.evidence_kept_until)
        row = (await session.execute(query.where(ConsentRecord.lead_id == lead_id))).one()
        return row.captured_at, row.evidence_kept_until


def test_consent_records_erased_before_0018_get_their_date_or_lose_their_evidence(empty_database: Settings) -> None:
    upgrade(empty_database, "0017")
    leads = asyncio.run(_erased_before_0018(empty_database))
    upgrade(empty_database)
    evidence = asyncio.run(_consent_evidence(empty_database))
    assert {name: evidence[lead_id] for name, lead_id in leads.items()} == {
        "young, erased": (True, True),  # kept until it is five years old, then cleared by the hourly job
        "old, erased": (False, False),  # five years old: cleared at once
        "kept": (True, False),  # not erased: nothing to clear
    }
    # Dated in SQL, which each database writes its own way: to the microsecond on both.
    captured_at, kept_until = asyncio.run(_consent_dates(empty_database, leads["young, erased"]))
    assert kept_until == captured_at + timedelta(days=1827)
    downgrade(empty_database, "0017")
    upgrade(empty_database)


# The keyed hashes (and extension) of a lead given with a number at an extension and an address.
_IDENTITY = ("1" * 64, "2" * 64, "101")


async def _consented_before_0020(settings: Settings) -> dict[str, uuid.UUID]:
    """Schema 0019: a lead with its keyed hashes and extension, and a lead erased (they are cleared),
    each with a consent record."""
    async with _session(settings) as session:
        source = Source(name="vendor", kind="api")
        session.add(source)
        await session.flush()
        now = datetime.now(UTC)
        leads: dict[str, uuid.UUID] = {}
        for name, identity in (
            ("kept", dict(zip(("phone_hash", "email_hash", "phone_extension"), _IDENTITY, strict=True))),
            ("erased", {"anonymised_at": now}),
        ):
            lead = _lead_values(source.id, LeadStatus.CONVERTED) | identity
            await _insert(session, Lead, lead)
            leads[name] = lead["id"]  # type: ignore[assignment]
            consent = {
                "id": uuid.uuid4(),
                "lead_id": lead["id"],
                "text": "I agree to be contacted by agents.",
                "text_sha256": "0" * 64,
                "captured_at": now,
                "created_at": now,
            }
            await _insert(session, ConsentRecord, consent)
        return leads


async def _consent_identities(settings: Settings) -> dict[uuid.UUID, tuple[str | None, ...]]:
    async with _session(settings) as session:
        query = select(
            ConsentRecord.lead_id, ConsentRecord.phone_hash, ConsentRecord.email_hash, ConsentRecord.phone_extension
        )
        return {lead_id: tuple(identity) for lead_id, *identity in await session.execute(query)}


async def _columns(settings: Settings, table_name: str) -> set[str]:
    engine = create_engine(settings, "test")
    try:
        async with engine.connect() as conn:
            return {c["name"] for c in await conn.run_sync(lambda sync: inspect(sync).get_columns(table_name))}
    finally:
        await engine.dispose()


def test_consent_records_take_their_leads_hashes_from_0020_and_a_downgrade_drops_them(
    empty_database: Settings,
) -> None:
    upgrade(empty_database, "0019")
    leads = asyncio.run(_consented_before_0020(empty_database))
    upgrade(empty_database)
    expected = {leads["kept"]: _IDENTITY, leads["erased"]: (None, None, None)}  # an erased lead has none left
    assert asyncio.run(_consent_identities(empty_database)) == expected
    downgrade(empty_database, "0019")
    assert not {"phone_hash", "email_hash", "phone_extension"} & asyncio.run(
        _columns(empty_database, "consent_records")
    )
    upgrade(empty_database)
    assert asyncio.run(_consent_identities(empty_database)) == expected
    assert asyncio.run(_drift(empty_database)) == []


async def _agents_before_0021(settings: Settings) -> list[uuid.UUID]:
    async with _session(settings) as session:
        return await _agents(session, 2)


async def _revisions(settings: Settings) -> dict[uuid.UUID, int]:
    async with _session(settings) as session:
        return dict((await session.execute(select(Agent.id, Agent.revision))).tuples().all())


def test_agents_start_at_revision_1_from_0021_and_a_downgrade_drops_it(empty_database: Settings) -> None:
    upgrade(empty_database, "0020")
    agents = asyncio.run(_agents_before_0021(empty_database))
    upgrade(empty_database)
    assert asyncio.run(_revisions(empty_database)) == dict.fromkeys(agents, 1)
    downgrade(empty_database, "0020")
    assert "revision" not in asyncio.run(_columns(empty_database, "agents"))
    upgrade(empty_database)
    assert asyncio.run(_drift(empty_database)) == []


# What a migration does to the traffic and to the backups running beside it (PostgreSQL only:
# SQLite has neither concurrent index builds nor table locks).


@pytest.fixture
def postgres_database() -> Iterator[Settings]:
    with _empty_postgres_database() as settings:
        yield settings


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """The test's own event loop, for connections held open while an upgrade runs in a thread."""
    with asyncio.Runner() as runner:
        yield runner


async def _connect(settings: Settings, **server_settings: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user="postgres",
        database=make_url(settings.database_url).database,
        server_settings=server_settings,
    )


async def _snapshot_held(settings: Settings) -> asyncpg.Connection:
    """A transaction that has taken its snapshot, as pg_dump's does (or a long report's): an index
    built CONCURRENTLY waits for it to end. Closing the connection ends it."""
    conn = await _connect(settings)
    await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    await conn.fetchval("SELECT count(*) FROM alembic_version")
    return conn


async def _table_read_in_a_transaction(settings: Settings, table_name: str) -> asyncpg.Connection:
    """A transaction that has read ``table_name`` and goes on: it holds the table's ACCESS SHARE
    lock, which a DDL statement on the table waits for."""
    conn = await _connect(settings)
    await conn.execute("BEGIN")
    await conn.fetchval(f"SELECT count(*) FROM {table_name}")
    return conn


async def _waiting(settings: Settings, statement: str) -> int:
    """The process id of the session whose statement starts with ``statement``, once it waits for a
    lock (or, for an index built CONCURRENTLY, for older transactions to end)."""
    conn = await _connect(settings)
    try:
        for _ in range(200):
            pid = await conn.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE $1 "
                "AND wait_event_type = 'Lock'",
                f"{statement}%",
            )
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError(f"no session waited at {statement!r}")


async def _cancel(settings: Settings, pid: int) -> None:
    conn = await _connect(settings)
    try:
        assert await conn.fetchval("SELECT pg_cancel_backend($1)", pid)
    finally:
        await conn.close()


async def _version_and_invalid_indexes(settings: Settings) -> tuple[str, list[str]]:
    conn = await _connect(settings)
    try:
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
        invalid = await conn.fetch("SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid")
        return str(version), sorted(row["name"] for row in invalid)
    finally:
        await conn.close()


def _in_background(upgrade_to: str, settings: Settings) -> Future[None]:
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(upgrade, settings, upgrade_to)
    finally:
        pool.shutdown(wait=False)


def _revision_before(revision: str) -> str:
    return f"{int(revision) - 1:04d}"


# Every revision that builds an index CONCURRENTLY (0002, 0014, 0018 and 0020 add columns first).
@pytest.mark.parametrize(
    "revision", ["0002", "0003", "0009", "0011", "0014", "0016", "0018", "0020", "0022", "0023", "0027"]
)
def test_an_index_build_cut_short_is_completed_by_the_next_upgrade(
    postgres_database: Settings, runner: asyncio.Runner, revision: str
) -> None:
    """The build waits for a backup's snapshot and is cancelled meanwhile (as the app's statement
    timeout did, or a Job's deadline does): PostgreSQL keeps the index, INVALID, and the revision is
    not stamped. The next upgrade drops it, builds it again and goes on."""
    upgrade(postgres_database, _revision_before(revision))
    backup = runner.run(_snapshot_held(postgres_database))
    try:
        upgrading = _in_background(revision, postgres_database)
        runner.run(_cancel(postgres_database, runner.run(_waiting(postgres_database, "CREATE"))))
        with pytest.raises(DBAPIError, match="canceling statement"):
            upgrading.result(timeout=30)
    finally:
        runner.run(backup.close())
    version, invalid = runner.run(_version_and_invalid_indexes(postgres_database))
    assert version == _revision_before(revision) and invalid  # the state the next upgrade finds
    upgrade(postgres_database, revision)
    assert runner.run(_version_and_invalid_indexes(postgres_database)) == (revision, [])
    upgrade(postgres_database)
    assert asyncio.run(_drift(postgres_database)) == []


def test_an_index_build_waits_for_a_backup_past_the_apps_statement_timeout(
    runner: asyncio.Runner,
) -> None:
    """The app's connections stop a statement after LEADGEN_DB_STATEMENT_TIMEOUT_MS; a migration's
    build of an index waits for the backup's snapshot as long as it takes."""
    with environment(LEADGEN_DB_STATEMENT_TIMEOUT_MS="300"), _empty_postgres_database() as settings:
        upgrade(settings, "0015")
        backup = runner.run(_snapshot_held(settings))
        try:
            upgrading = _in_background("0016", settings)
            runner.run(_waiting(settings, "CREATE"))
            time.sleep(1.0)  # over three times the statement timeout
            assert not upgrading.done(), upgrading.exception()
        finally:
            runner.run(backup.close())
        upgrading.result(timeout=30)
        assert runner.run(_version_and_invalid_indexes(settings)) == ("0016", [])


def test_a_migration_connection_has_no_statement_timeout_and_the_ddl_lock_timeout(
    postgres_database: Settings, runner: asyncio.Runner
) -> None:
    async def limits() -> tuple[str, str]:
        engine = migration_engine(postgres_database, "migrate", lock_timeout_ms=migrate.DDL_LOCK_TIMEOUT_MS)
        try:
            async with engine.connect() as conn:
                statement_timeout = await conn.scalar(text("SHOW statement_timeout"))
                lock_timeout = await conn.scalar(text("SHOW lock_timeout"))
                return str(statement_timeout), str(lock_timeout)
        finally:
            await engine.dispose()

    assert runner.run(limits()) == ("0", "5s")


@pytest.fixture
def short_lock_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DDL statement gives up on a lock after 200 ms and is tried again 200 ms later, 20 times."""
    monkeypatch.setattr(migrate, "DDL_LOCK_TIMEOUT_MS", 200)
    monkeypatch.setattr(migrate, "LOCK_RETRY_PAUSE_SECONDS", 0.2)
    monkeypatch.setattr(migrate, "LOCK_ATTEMPTS", 20)


async def _read_within(settings: Settings, table_name: str, seconds: float) -> bool:
    """Whether a read of ``table_name`` ends within ``seconds`` (it is cancelled after)."""
    conn = await _connect(settings)
    try:
        await asyncio.wait_for(conn.fetchval(f"SELECT count(*) FROM {table_name}"), timeout=seconds)
        return True
    except TimeoutError:
        return False
    finally:
        await conn.close()


@pytest.mark.usefixtures("short_lock_waits")
def test_a_ddl_statement_behind_a_long_transaction_lets_the_traffic_pass_and_is_tried_again(
    postgres_database: Settings, runner: asyncio.Runner, caplog: pytest.LogCaptureFixture
) -> None:
    """0015 adds a column to ``users``, whose lock waits for a report reading the table: a request
    reading ``users`` meanwhile queues behind the DDL until it gives up (200 ms), not until the
    report ends; the upgrade is done once it has."""
    caplog.set_level(logging.WARNING, logger=migrate.__name__)
    upgrade(postgres_database, "0014")
    report = runner.run(_table_read_in_a_transaction(postgres_database, "users"))
    try:
        upgrading = _in_background("0015", postgres_database)
        runner.run(_waiting(postgres_database, "ALTER TABLE users"))
        assert runner.run(_read_within(postgres_database, "users", seconds=1.5))
    finally:
        runner.run(report.close())
    upgrading.result(timeout=30)
    assert runner.run(_version_and_invalid_indexes(postgres_database)) == ("0015", [])
    assert "a lock was still held after 200 ms (ALTER TABLE users ADD COLUMN" in caplog.text


@pytest.mark.usefixtures("short_lock_waits")
@pytest.mark.parametrize(
    ("target", "tries"),
    [("0015", "2 tries"), ("+1", "1 try")],  # a relative target would move on with each try
)
def test_a_ddl_statement_that_finds_its_table_locked_at_every_try_says_what_to_do(
    postgres_database: Settings, runner: asyncio.Runner, monkeypatch: pytest.MonkeyPatch, target: str, tries: str
) -> None:
    monkeypatch.setattr(migrate, "LOCK_ATTEMPTS", 2)
    upgrade(postgres_database, "0014")
    report = runner.run(_table_read_in_a_transaction(postgres_database, "users"))
    try:
        with pytest.raises(MigrationLockTimeout) as failure:
            upgrade(postgres_database, target)
    finally:
        runner.run(report.close())
    assert f"waited more than 200 ms for a lock ({tries}), at: ALTER TABLE users ADD COLUMN" in str(failure.value)
    assert "then run `leadgen db upgrade` again" in str(failure.value)
    assert runner.run(_version_and_invalid_indexes(postgres_database)) == ("0014", [])


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_the_commands_say_so_in_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    said = "the migration waited more than 5000 ms for a lock (6 tries), at: ALTER TABLE users ADD COLUMN x"

    def locked_every_time(*_: object, **__: object) -> None:
        raise MigrationLockTimeout(said)

    monkeypatch.setattr(migrate, command, locked_every_time)
    result = CliRunner().invoke(app, ["db", command, "0014"])
    assert result.exit_code == 1 and said in result.stderr and "Traceback" not in result.output


async def _a_lead_to_consent(settings: Settings) -> uuid.UUID:
    async with _session(settings) as session:
        source = Source(name="web-form", kind="web")
        session.add(source)
        await session.flush()
        return await _lead(session, source.id)


@contextlib.contextmanager
def _paused_at_first(statement: str) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Holds the first statement starting with ``statement``, of any engine, until ``resume`` is
    set; ``paused`` is set meanwhile."""
    paused, resume = threading.Event(), threading.Event()

    def hold(_connection: object, _cursor: object, sql: str, *_: object) -> None:
        if sql.startswith(statement) and not paused.is_set():
            paused.set()
            resume.wait(timeout=30)

    event.listen(Engine, "before_cursor_execute", hold)
    try:
        yield paused, resume
    finally:
        resume.set()
        event.remove(Engine, "before_cursor_execute", hold)


async def _read_and_write_consent(settings: Settings, lead_id: uuid.UUID) -> None:
    """What intake does with consent records: read one, and store one for a new lead."""
    conn = await _connect(settings, lock_timeout="1000")
    try:
        await conn.fetchval("SELECT count(*) FROM consent_records WHERE lead_id = $1", lead_id)
        await conn.execute(
            "INSERT INTO consent_records (id, lead_id, text, text_sha256, captured_at, created_at) "
            "VALUES ($1, $2, 'I agree', $3, now(), now())",
            uuid.uuid4(),
            lead_id,
            "0" * 64,
        )
    finally:
        await conn.close()


async def _read_and_write_offers(settings: Settings, offer_id: uuid.UUID) -> None:
    """What routing does with offers: read one, and change one."""
    conn = await _connect(settings, lock_timeout="1000")
    try:
        await conn.fetchval("SELECT status FROM assignments WHERE id = $1", offer_id)
        await conn.execute("UPDATE assignments SET reason = 'timed out' WHERE id = $1", offer_id)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("before", "revision", "consented_before"),
    [("0017", "0018", _erased_before_0018), ("0019", "0020", _consented_before_0020)],
    ids=["0018 dates them", "0020 gives them their leads' hashes"],
)
def test_consent_records_stay_readable_and_writable_while_a_backfill_fills_them(
    postgres_database: Settings,
    runner: asyncio.Runner,
    before: str,
    revision: str,
    consented_before: Callable[[Settings], Coroutine[Any, Any, object]],
) -> None:
    """Held at its first UPDATE of the backfill, the upgrade holds no lock on ``consent_records``
    that intake would wait for: the ADD COLUMNs committed before it."""
    upgrade(postgres_database, before)
    runner.run(consented_before(postgres_database))
    new_lead = runner.run(_a_lead_to_consent(postgres_database))
    with _paused_at_first("UPDATE consent_records") as (paused, resume):
        upgrading = _in_background(revision, postgres_database)
        assert paused.wait(timeout=30)
        try:
            runner.run(_read_and_write_consent(postgres_database, new_lead))
        except asyncpg.LockNotAvailableError:
            pytest.fail(f"the backfill of {revision} keeps consent_records locked")
        finally:
            resume.set()
        upgrading.result(timeout=30)


def test_offers_stay_readable_and_writable_while_0013_records_their_outcomes(
    postgres_database: Settings, runner: asyncio.Runner
) -> None:
    """Held at its first UPDATE of the backfill, the upgrade holds no lock on ``assignments`` that
    routing would wait for: the ADD COLUMNs committed before it."""
    upgrade(postgres_database, "0012")
    offers, _ = runner.run(_outcomes_as_one_status(postgres_database))
    with _paused_at_first("UPDATE assignments") as (paused, resume):
        upgrading = _in_background("0013", postgres_database)
        assert paused.wait(timeout=30)
        try:
            runner.run(_read_and_write_offers(postgres_database, offers["timed out"]))
        except asyncpg.LockNotAvailableError:
            pytest.fail("the backfill of 0013 keeps assignments locked")
        finally:
            resume.set()
        upgrading.result(timeout=30)

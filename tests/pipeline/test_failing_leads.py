"""A lead the pipeline keeps failing on ends UNASSIGNED with an alert, after enough tries and long
enough for an outage to pass; it then holds its person's later leads no more. Deliveries claim
their event, and the relay exports the outbox's backlog."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Principal, Role
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Agent, Assignment, Lead, OutboxEvent
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox
from leadgen.outbox import tasks as outbox_tasks
from leadgen.pipeline import service
from leadgen.pipeline import tasks as pipeline_tasks
from leadgen.routing import service as routing
from leadgen.scoring.model import ModelFileError
from leadgen.stores.embedding import LeadEmbedding
from leadgen.stores.vectors.qdrant_store import QdrantVectorStore
from tests import helpers
from tests.conftest import lead_payload, sync_graph

MANAGER = Principal(uuid.uuid4(), Role.MANAGER, None)


class Injected(RuntimeError):
    """The fault a test injects; its message stands for one that could quote the lead's data."""


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The pipeline tasks' time, moved on by the test."""
    now = [utcnow()]
    monkeypatch.setattr(pipeline_tasks, "utcnow", lambda: now[0])
    return now


@pytest.fixture
def quick_give_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline_tasks, "GIVE_UP_AFTER_TRIES", 3)
    monkeypatch.setattr(pipeline_tasks, "GIVE_UP_AFTER", timedelta(minutes=10))


def failing_for(monkeypatch: pytest.MonkeyPatch, lead_ids: set[uuid.UUID], times: int | None = None) -> list[int]:
    """Writing these leads' vectors fails (``times`` times, or always); returns the failures so far."""
    real = QdrantVectorStore.upsert
    failures = [0]

    async def upsert(self: QdrantVectorStore, lead_id: uuid.UUID, vector: LeadEmbedding, payload: Any) -> None:
        if lead_id in lead_ids and (times is None or failures[0] < times):
            failures[0] += 1
            raise Injected(f"could not write the vector of {lead_id} for pat@example.com")
        await real(self, lead_id, vector, payload)

    monkeypatch.setattr(QdrantVectorStore, "upsert", upsert)
    return failures


def tasks_run(task: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("leadgen_tasks_total", {"task": task, "outcome": outcome}) or 0.0


def failed_leads(task: str) -> float:
    return REGISTRY.get_sample_value("leadgen_pipeline_failed_leads_total", {"task": task}) or 0.0


async def submit(client: AsyncClient, key: str, email: str, phone: str) -> uuid.UUID:
    payload = lead_payload()
    payload["contact"].update(email=email, phone=phone)
    response = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


async def reread(resources: Resources, lead_id: uuid.UUID) -> Lead:
    async with resources.require_sessions()() as s:
        lead = await s.get(Lead, lead_id)
        assert lead is not None
        return lead


async def events(resources: Resources, topic: str, key: str) -> list[OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.topic == topic, OutboxEvent.key == key)
    async with resources.require_sessions()() as s:
        return list(await s.scalars(query.order_by(OutboxEvent.created_at)))


def fails(lead_id: uuid.UUID) -> None:
    with pytest.raises(Injected):
        pipeline_tasks.process_lead(str(lead_id))


@pytest.mark.usefixtures("worker", "quick_give_up", "texas_agent")
async def test_a_lead_the_pipeline_keeps_failing_on_ends_unassigned_with_an_alert_and_frees_its_person(
    client: AsyncClient, key: str, resources: Resources, monkeypatch: pytest.MonkeyPatch, clock: list[datetime]
) -> None:
    await sync_graph(resources)
    poison = await submit(client, key, "poison@example.com", "512-555-0101")
    failures = failing_for(monkeypatch, {poison})
    errors_before = tasks_run("pipeline.process_lead", "error")
    ended_before = failed_leads("pipeline.process_lead")

    # Tries enough, but the event is younger than the wait: an outage is waited out.
    for _ in range(3):
        fails(poison)
    assert (await reread(resources, poison)).status == LeadStatus.RECEIVED
    [received] = await events(resources, "lead.received", str(poison))
    assert (received.failed_tries, received.processed_at, received.claimed_until) == (3, None, None)
    assert await events(resources, "lead.unassigned", str(poison)) == []

    # Meanwhile the person asks again: held as the stuck lead's duplicate.
    again = await submit(client, key, "poison@example.com", "512-555-0101")
    assert pipeline_tasks.process_lead(str(again)) == LeadStatus.DUPLICATE
    assert (await reread(resources, again)).duplicate_of_id == poison

    clock[0] = received.created_at + timedelta(minutes=10)
    fails(poison)  # the try that ends it raises too: the task did fail
    ended = await reread(resources, poison)
    assert (ended.status, ended.status_reason) == (LeadStatus.UNASSIGNED, "pipeline failed: Injected")
    [received] = await events(resources, "lead.received", str(poison))
    assert received.failed_tries == 4 and received.processed_at is not None
    [alert] = await events(resources, "lead.unassigned", str(poison))  # the key notifications expect
    assert alert.payload == {"reason": "pipeline failed: Injected"}
    assert [e.processed_at for e in await events(resources, "lead.outcome", str(poison))] == [None]
    assert failures[0] == 4
    assert tasks_run("pipeline.process_lead", "error") - errors_before == 4
    assert failed_leads("pipeline.process_lead") - ended_before == 1
    assert pipeline_tasks.process_lead(str(poison)) is None  # finished: nothing to do, no try counted

    # No longer in flight: the duplicate it held is released and routed.
    assert pipeline_tasks.release_duplicates() == 1
    assert pipeline_tasks.process_lead(str(again)) == LeadStatus.ROUTED

    # Fixed, then reopened by staff: a lead never screened goes through the pipeline from the start,
    # de-duplicated as a new lead would be: the person's later lead, routed since, holds them now.
    monkeypatch.undo()
    async with resources.unit_of_work() as s:
        await routing.reopen(s, MANAGER, poison, "fault fixed")
    assert pipeline_tasks.reopen(str(poison)) == LeadStatus.RECEIVED
    assert pipeline_tasks.process_lead(str(poison)) == LeadStatus.DUPLICATE
    assert (await reread(resources, poison)).duplicate_of_id == again


@pytest.mark.usefixtures("quick_give_up", "texas_agent")
async def test_a_lead_whose_pipeline_cannot_be_built_fails_its_tries_until_it_ends_unassigned(
    client: AsyncClient, key: str, resources: Resources, clock: list[datetime], break_model: Callable[[], None]
) -> None:
    lead = await submit(client, key, "unscored@example.com", "512-555-0505")
    break_model()
    errors_before = tasks_run("pipeline.process_lead", "error")
    for tries in (1, 2, 3):
        with pytest.raises(ModelFileError):
            pipeline_tasks.process_lead(str(lead))
        [received] = await events(resources, "lead.received", str(lead))
        assert (received.failed_tries, received.processed_at) == (tries, None)
    assert tasks_run("pipeline.process_lead", "error") - errors_before == 3
    clock[0] = received.created_at + timedelta(minutes=10)
    with pytest.raises(ModelFileError):
        pipeline_tasks.process_lead(str(lead))
    ended = await reread(resources, lead)
    assert (ended.status, ended.status_reason) == (LeadStatus.UNASSIGNED, "pipeline failed: ModelFileError")
    assert len(await events(resources, "lead.unassigned", str(lead))) == 1  # the alert


@pytest.mark.usefixtures("worker", "quick_give_up", "texas_agent")
async def test_a_lead_that_fails_twice_then_goes_through_is_routed(
    client: AsyncClient, key: str, resources: Resources, monkeypatch: pytest.MonkeyPatch, clock: list[datetime]
) -> None:
    await sync_graph(resources)
    lead = await submit(client, key, "flaky@example.com", "512-555-0303")
    failing_for(monkeypatch, {lead}, times=2)
    clock[0] += timedelta(hours=1)  # long past the wait: only the count of tries holds it back
    errors_before, ok_before = tasks_run("pipeline.process_lead", "error"), tasks_run("pipeline.process_lead", "ok")
    fails(lead)
    fails(lead)
    assert pipeline_tasks.process_lead(str(lead)) == LeadStatus.ROUTED
    [received] = await events(resources, "lead.received", str(lead))
    assert received.failed_tries == 2 and received.processed_at is not None
    assert await events(resources, "lead.unassigned", str(lead)) == []
    assert tasks_run("pipeline.process_lead", "error") - errors_before == 2
    assert tasks_run("pipeline.process_lead", "ok") - ok_before == 1


@pytest.mark.usefixtures("worker", "texas_agent")
async def test_a_reroute_that_keeps_failing_ends_the_lead_and_its_search_copy_follows(
    client: AsyncClient, key: str, resources: Resources, monkeypatch: pytest.MonkeyPatch, clock: list[datetime]
) -> None:
    await sync_graph(resources)
    lead_id = await submit(client, key, "declined@example.com", "512-555-0404")
    assert pipeline_tasks.process_lead(str(lead_id)) == LeadStatus.ROUTED
    async with resources.require_sessions()() as s:
        offer = await s.scalar(select(Assignment).where(Assignment.lead_id == lead_id))
    assert offer is not None
    async with resources.unit_of_work() as s:
        await routing.reject(s, Principal(uuid.uuid4(), Role.AGENT, offer.agent_id), offer.id, "not my area")

    async def broken(*args: object, **kwargs: object) -> None:
        raise Injected("the graph is unreadable")

    monkeypatch.setattr(routing, "route", broken)
    monkeypatch.setattr(pipeline_tasks, "GIVE_UP_AFTER_TRIES", 2)
    [written] = await events(resources, "lead.reroute", str(lead_id))
    for moment in (written.created_at, written.created_at + pipeline_tasks.GIVE_UP_AFTER):
        clock[0] = moment
        with pytest.raises(Injected):
            pipeline_tasks.reroute(str(lead_id))
    ended = await reread(resources, lead_id)
    assert (ended.status, ended.status_reason) == (LeadStatus.UNASSIGNED, "pipeline failed: Injected")
    assert len(await events(resources, "lead.unassigned", str(lead_id))) == 1
    assert [e.processed_at is not None for e in await events(resources, "lead.reroute", str(lead_id))] == [True]
    pipeline_tasks.sync_outcome(str(lead_id))
    hit = await service.pipeline_for(resources).vectors.get(lead_id)
    assert hit is not None and hit.payload["outcome"] == LeadStatus.UNASSIGNED


@pytest.mark.usefixtures("worker", "texas_agent")
async def test_a_delivery_claims_its_event_so_no_other_runs_or_is_relayed_meanwhile(
    client: AsyncClient, key: str, resources: Resources, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    await sync_graph(resources)
    lease = timedelta(seconds=settings.worker.outbox_lease_seconds)
    lead_id = await submit(client, key, "claimed@example.com", "512-555-0505")

    # Another delivery holds the event: this one does nothing.
    now = utcnow()
    async with resources.unit_of_work() as s:
        held = await outbox.claim(s, "lead.received", str(lead_id), now, now + timedelta(minutes=1))
    assert held is not None
    assert pipeline_tasks.process_lead(str(lead_id)) is None
    assert (await reread(resources, lead_id)).status == LeadStatus.RECEIVED
    async with resources.unit_of_work() as s:  # that delivery died: its claim ran out
        await s.execute(update(OutboxEvent).where(OutboxEvent.id == held.event_id).values(claimed_until=now))

    # While this delivery works on the lead, its event is held and the relay does not hand it on.
    seen: list[tuple[bool, bool]] = []
    real = service.process_lead

    async def process_lead(session: AsyncSession, *args: Any) -> LeadStatus | None:
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == "lead.received", OutboxEvent.key == str(lead_id))
        )
        assert event is not None
        held_on = event.claimed_until is not None and event.claimed_until > utcnow() + lease
        # What a relay pass a lease from now would hand on: events whose lease began before now.
        relayed = event in await outbox.due_for_dispatch(session, timedelta(0), 10)
        seen.append((held_on, relayed))
        return await real(session, *args)

    monkeypatch.setattr(service, "process_lead", process_lead)
    assert pipeline_tasks.process_lead(str(lead_id)) == LeadStatus.ROUTED
    assert seen == [(True, False)]


@pytest.mark.usefixtures("worker")
async def test_events_sharing_a_topic_and_key_are_claimed_one_after_the_other(resources: Resources) -> None:
    key = str(uuid.uuid4())
    async with resources.unit_of_work() as s:
        first = outbox.add(s, outbox.REQUESTED_AGAIN_TOPIC, key)
        await s.flush()
        second = outbox.add(s, outbox.REQUESTED_AGAIN_TOPIC, key)
        s.info.pop(outbox.AFTER_COMMIT, None)
    now = utcnow()
    claimed = []
    for _ in range(2):
        async with resources.unit_of_work() as s:
            held = await outbox.claim(s, outbox.REQUESTED_AGAIN_TOPIC, key, now, now + timedelta(minutes=1))
            assert held is not None
            # The second is not handed to another delivery while the first is held.
            assert await outbox.claim(s, outbox.REQUESTED_AGAIN_TOPIC, key, now, now + timedelta(minutes=1)) is None
            await outbox.finish_claimed(s, held, now)
        claimed.append(held.event_id)
    assert claimed == [first.id, second.id]
    async with resources.unit_of_work() as s:
        assert await outbox.claim(s, outbox.REQUESTED_AGAIN_TOPIC, key, now, now + timedelta(minutes=1)) is None


async def test_an_outcome_recorded_while_it_is_carried_into_search_is_carried_too(
    client: AsyncClient, key: str, texas_agent: Agent, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sync_graph(resources)
    lead_id = await submit(client, key, "outcome@example.com", "512-555-0606")
    pipe = service.pipeline_for(resources)
    async with resources.unit_of_work() as s:
        await service.process_lead(s, pipe, lead_id, utcnow())

    async def record(status: LeadStatus) -> None:  # an agent's outcome, with its event
        async with resources.unit_of_work() as s:
            lead = await s.get(Lead, lead_id, with_for_update=True)
            assert lead is not None
            lead.status = status
            outbox.add(s, "lead.outcome", str(lead_id))
            s.info.pop(outbox.AFTER_COMMIT, None)

    await record(LeadStatus.CONTACTED)
    real = pipe.vectors.set_payload
    meanwhile: list[asyncio.Task[None]] = []

    async def set_payload(lead: uuid.UUID, fields: Any) -> None:
        await real(lead, fields)
        if not meanwhile:  # the agent records CONVERTED while the payload is written
            meanwhile.append(asyncio.create_task(record(LeadStatus.CONVERTED)))
            await asyncio.sleep(0.3)

    monkeypatch.setattr(pipe.vectors, "set_payload", set_payload)
    async with resources.unit_of_work() as s:
        await service.sync_outcome(s, pipe, lead_id)
    await meanwhile[0]
    # The payload shows the outcome the sync read; the later one's event is left to do.
    hit = await pipe.vectors.get(lead_id)
    assert hit is not None and hit.payload["outcome"] == LeadStatus.CONTACTED
    assert [e.processed_at is None for e in await events(resources, "lead.outcome", str(lead_id))] == [False, True]
    async with resources.unit_of_work() as s:
        await service.sync_outcome(s, pipe, lead_id)
    hit = await pipe.vectors.get(lead_id)
    assert hit is not None and hit.payload["outcome"] == LeadStatus.CONVERTED
    assert hit.payload["agent_id"] == str(texas_agent.id)


async def test_a_round_after_a_decline_goes_on_while_the_vector_store_is_down(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = [await helpers.agent(session, ["TX"]) for _ in range(2)]
    await session.commit()
    await sync_graph(resources)
    lead_id = await submit(client, key, "reroute@example.com", "512-555-0707")
    pipe = service.pipeline_for(resources)
    async with resources.unit_of_work() as s:
        assert await service.process_lead(s, pipe, lead_id, utcnow()) == LeadStatus.ROUTED
    async with resources.require_sessions()() as s:
        first = await s.scalar(select(Assignment).where(Assignment.lead_id == lead_id))
    assert first is not None
    async with resources.unit_of_work() as s:
        await routing.reject(s, Principal(uuid.uuid4(), Role.AGENT, first.agent_id), first.id, "not my area")

    async def down(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("qdrant:6333")

    for method in ("upsert", "set_payload", "agent_success", "similar", "get", "vector", "delete"):
        monkeypatch.setattr(pipe.vectors, method, down)
    async with resources.unit_of_work() as s:
        assert await service.reroute(s, pipe, lead_id, utcnow()) == LeadStatus.ROUTED
    monkeypatch.undo()
    async with resources.require_sessions()() as s:
        offers = list(await s.scalars(select(Assignment).where(Assignment.lead_id == lead_id)))
    second = next(o for o in offers if o.status == AssignmentStatus.PENDING)
    assert {o.agent_id for o in offers} == {a.id for a in agents}

    # The search's copy follows, once the vector store is back, from the event the round wrote.
    assert [e.processed_at for e in await events(resources, "lead.outcome", str(lead_id))] == [None]
    async with resources.unit_of_work() as s:
        await service.sync_outcome(s, pipe, lead_id)
    hit = await pipe.vectors.get(lead_id)
    assert hit is not None and (hit.payload["outcome"], hit.payload["agent_id"]) == (
        LeadStatus.ROUTED,
        str(second.agent_id),
    )


@pytest.mark.usefixtures("worker")
async def test_the_relay_exports_the_backlog_and_how_long_its_oldest_event_waited(
    client: AsyncClient, key: str, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADGEN_WORKER_OUTBOX_LEASE_SECONDS", "3600")
    get_settings.cache_clear()
    for n in range(2):
        await submit(client, key, f"waiting{n}@example.com", f"512-555-080{n}")
    async with resources.unit_of_work() as s:
        s.add(OutboxEvent(id=uuid.uuid4(), topic="lead.from-a-newer-release", key="x", payload={}))
    await asyncio.sleep(0.05)
    outbox_tasks.relay()

    def gauge(name: str, topic: str) -> float:
        value = REGISTRY.get_sample_value(name, {"topic": topic})
        assert value is not None, (name, topic)
        return value

    assert gauge("leadgen_outbox_unprocessed_events", "lead.received") == 2
    assert gauge("leadgen_outbox_oldest_unprocessed_seconds", "lead.received") >= 0.05
    assert gauge("leadgen_outbox_unprocessed_events", outbox_tasks.OTHER_TOPICS) == 1
    assert gauge("leadgen_outbox_unprocessed_events", "lead.reroute") == 0
    assert gauge("leadgen_outbox_oldest_unprocessed_seconds", "lead.reroute") == 0


def test_the_backlog_counts_other_releases_topics_together() -> None:
    now = utcnow()
    backlog = {
        "lead.received": outbox.Backlog(3, now - timedelta(seconds=90)),
        "newer.one": outbox.Backlog(2, now - timedelta(seconds=10)),
        "newer.two": outbox.Backlog(1, now - timedelta(seconds=40)),
        "lead.outcome": outbox.Backlog(1, now + timedelta(seconds=2)),  # another clock, a little ahead
    }
    values = outbox_tasks.backlog_by_label(backlog, now)
    assert values["lead.received"] == (3, 90.0)
    assert values[outbox_tasks.OTHER_TOPICS] == (3, 40.0)
    assert values["lead.outcome"] == (1, 0.0)
    assert values["lead.reroute"] == (0, 0.0)
    assert set(values) == {*outbox.TASK_FOR_TOPIC, outbox_tasks.OTHER_TOPICS}

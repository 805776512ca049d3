"""The SLA sweep when timing an offer out fails: the offer backs off, and holds back no other.

An offer whose lead's next round fails stays overdue; the sweep took the earliest overdue offers a
batch at a time, so a batch of such offers stopped every other offer from timing out. The batch is
made tiny here to show it with a few offers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from httpx import AsyncClient
from prometheus_client import REGISTRY
from sqlalchemy import event, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Assignment, Lead, OutboxEvent
from leadgen.models.base import utcnow
from leadgen.pipeline.service import Pipeline, expire_offer, pipeline_for, process_lead
from leadgen.pipeline.tasks import GIVE_UP_AFTER, GIVE_UP_AFTER_TRIES
from leadgen.routing import repository
from leadgen.routing import tasks as routing_tasks
from tests.conftest import lead_payload, sync_graph

WAITS = routing_tasks.EXPIRY_RETRY_WAITS
STUCK = routing_tasks.EXPIRY_FAILURES_STUCK


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> set[uuid.UUID]:
    """Offers whose timing out fails, after its work was done (so that it rolls back), as long as
    they are in this set."""
    offers: set[uuid.UUID] = set()

    async def expire_or_fail(session: AsyncSession, pipe: Pipeline, offer_id: uuid.UUID, now: datetime) -> bool:
        expired = await expire_offer(session, pipe, offer_id, now)
        if offer_id in offers:
            raise RuntimeError("injected: the lead's next round failed")
        return expired

    monkeypatch.setattr(routing_tasks, "expire_offer", expire_or_fail)
    return offers


async def overdue_offers(client: AsyncClient, key: str, resources: Resources, count: int) -> list[uuid.UUID]:
    """``count`` leads offered to the Texan agent, their offers overdue by 30, 29, … minutes;
    returns the offers, earliest deadline first."""
    await sync_graph(resources)
    offers = []
    for overdue_by in range(30, 30 - count, -1):
        response = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
        assert response.status_code == 202, response.text
        lead_id = uuid.UUID(response.json()["id"])
        async with resources.unit_of_work() as s:
            await process_lead(s, pipeline_for(resources), lead_id, utcnow())
            [offer] = await s.scalars(
                update(Assignment)
                .where(Assignment.lead_id == lead_id)
                .values(expires_at=utcnow() - timedelta(minutes=overdue_by))
                .returning(Assignment.id)
            )
        offers.append(offer)
    return offers


async def state(resources: Resources, offer_id: uuid.UUID) -> tuple[str, int, datetime | None]:
    """The offer's status, failed tries to time it out, and when the sweep tries it again."""
    async with resources.require_sessions()() as s:
        query = select(Assignment.status, Assignment.expiry_failures, Assignment.expiry_retry_at)
        status, failures, retry_at = (await s.execute(query.where(Assignment.id == offer_id))).one()
        return status, failures, retry_at


async def tried_before(resources: Resources, offer_id: uuid.UUID, failures: int) -> None:
    """The offer as after ``failures`` failed tries, its retry due now: what the clock brings."""
    async with resources.unit_of_work() as s:
        due = {"expiry_failures": failures, "expiry_retry_at": utcnow() - timedelta(seconds=1)}
        await s.execute(update(Assignment).where(Assignment.id == offer_id).values(**due))


async def overdue_by(resources: Resources, offer_id: uuid.UUID, overdue: timedelta) -> None:
    async with resources.unit_of_work() as s:
        await s.execute(update(Assignment).where(Assignment.id == offer_id).values(expires_at=utcnow() - overdue))


def assert_retried_after(retry_at: datetime | None, wait: timedelta, failed_from: datetime) -> None:
    assert retry_at is not None
    assert failed_from + wait <= retry_at <= utcnow() + wait


@pytest.mark.usefixtures("worker", "texas_agent")
class TestFailingOffers:
    async def test_offers_that_keep_failing_hold_back_no_other_offer(
        self,
        client: AsyncClient,
        key: str,
        resources: Resources,
        failing: set[uuid.UUID],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(routing_tasks, "BATCH", 2)
        *failing_offers, healthy = await overdue_offers(client, key, resources, 3)  # the failing ones fell due first
        failing.update(failing_offers)
        swept = utcnow()
        assert routing_tasks.expire_offers() == 0
        assert routing_tasks.expire_offers() == 1
        assert (await state(resources, healthy))[:2] == (AssignmentStatus.TIMED_OUT, 0)
        for offer in failing_offers:
            status, failures, retry_at = await state(resources, offer)
            assert (status, failures) == (AssignmentStatus.PENDING, 1)  # passed over by the second sweep
            assert_retried_after(retry_at, WAITS[0], swept)

    async def test_an_offer_whose_pipeline_cannot_be_built_counts_a_failed_try(
        self, client: AsyncClient, key: str, resources: Resources, break_model: Callable[[], None]
    ) -> None:
        [offer] = await overdue_offers(client, key, resources, 1)
        break_model()
        errors_before = (
            REGISTRY.get_sample_value("leadgen_tasks_total", {"task": "routing.expire_offers", "outcome": "error"})
            or 0.0
        )
        swept = utcnow()
        assert routing_tasks.expire_offers() == 0
        status, failures, retry_at = await state(resources, offer)
        assert (status, failures) == (AssignmentStatus.PENDING, 1)
        assert_retried_after(retry_at, WAITS[0], swept)
        errors = REGISTRY.get_sample_value("leadgen_tasks_total", {"task": "routing.expire_offers", "outcome": "error"})
        assert errors == errors_before + 1

    async def test_a_failing_offer_is_tried_again_after_its_wait_and_times_out_once_it_can(
        self, client: AsyncClient, key: str, resources: Resources, failing: set[uuid.UUID]
    ) -> None:
        [offer] = await overdue_offers(client, key, resources, 1)
        failing.add(offer)
        assert routing_tasks.expire_offers() == 0
        assert routing_tasks.expire_offers() == 0  # within its wait: not tried
        assert (await state(resources, offer))[:2] == (AssignmentStatus.PENDING, 1)
        await tried_before(resources, offer, 1)
        swept = utcnow()
        assert routing_tasks.expire_offers() == 0
        status, failures, retry_at = await state(resources, offer)
        assert (status, failures) == (AssignmentStatus.PENDING, 2)
        assert_retried_after(retry_at, WAITS[1], swept)
        failing.clear()  # the fault is gone
        await tried_before(resources, offer, 2)
        assert routing_tasks.expire_offers() == 1
        assert (await state(resources, offer))[:2] == (AssignmentStatus.TIMED_OUT, 2)

    async def test_overdue_offers_never_tried_come_before_retries_due(
        self,
        client: AsyncClient,
        key: str,
        resources: Resources,
        failing: set[uuid.UUID],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(routing_tasks, "BATCH", 1)
        retried, untried = await overdue_offers(client, key, resources, 2)
        failing.add(retried)
        await tried_before(resources, retried, 1)  # due again, and its deadline the earlier
        assert routing_tasks.expire_offers() == 1
        assert (await state(resources, untried))[0] == AssignmentStatus.TIMED_OUT
        assert (await state(resources, retried))[:2] == (AssignmentStatus.PENDING, 1)
        assert routing_tasks.expire_offers() == 0
        assert (await state(resources, retried))[:2] == (AssignmentStatus.PENDING, 2)

    async def test_an_offer_failing_again_and_again_is_logged_as_an_error_and_counted_once(
        self,
        client: AsyncClient,
        key: str,
        resources: Resources,
        failing: set[uuid.UUID],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        [offer] = await overdue_offers(client, key, resources, 1)
        await overdue_by(resources, offer, GIVE_UP_AFTER - timedelta(minutes=10))  # not given up yet
        failing.add(offer)
        caplog.set_level(logging.WARNING, routing_tasks.log.name)
        stuck_before = REGISTRY.get_sample_value("leadgen_sla_offers_stuck_total") or 0
        levels = []
        for failures in range(STUCK - 1, STUCK + 2):
            await tried_before(resources, offer, failures - 1)
            caplog.clear()
            swept = utcnow()
            assert routing_tasks.expire_offers() == 0
            [logged] = [r for r in caplog.records if str(offer) in r.getMessage()]
            assert logged.exc_info is not None and "injected" in str(logged.exc_info[1])
            levels.append(logged.levelno)
            status, recorded, retry_at = await state(resources, offer)
            assert (status, recorded) == (AssignmentStatus.PENDING, failures)
            assert_retried_after(retry_at, WAITS[min(failures, len(WAITS)) - 1], swept)
        assert levels == [logging.WARNING, logging.ERROR, logging.ERROR]
        assert REGISTRY.get_sample_value("leadgen_sla_offers_stuck_total") == stuck_before + 1

    async def test_a_lead_whose_offer_cannot_be_moved_on_for_half_an_hour_ends_unassigned_with_an_alert(
        self, client: AsyncClient, key: str, resources: Resources, failing: set[uuid.UUID]
    ) -> None:
        [offer] = await overdue_offers(client, key, resources, 1)
        await overdue_by(resources, offer, GIVE_UP_AFTER + timedelta(minutes=1))
        failing.add(offer)
        labels = {"task": "routing.expire_offers"}
        ended_before = REGISTRY.get_sample_value("leadgen_pipeline_failed_leads_total", labels) or 0
        await tried_before(resources, offer, GIVE_UP_AFTER_TRIES - 2)
        assert routing_tasks.expire_offers() == 0
        assert (await state(resources, offer))[:2] == (AssignmentStatus.PENDING, GIVE_UP_AFTER_TRIES - 1)
        await tried_before(resources, offer, GIVE_UP_AFTER_TRIES - 1)
        assert routing_tasks.expire_offers() == 0
        assert (await state(resources, offer))[0] == AssignmentStatus.TIMED_OUT
        async with resources.require_sessions()() as s:
            lead = await s.scalar(
                select(Lead).join(Assignment, Assignment.lead_id == Lead.id).where(Assignment.id == offer)
            )
            assert lead is not None
            assert (lead.status, lead.status_reason) == (LeadStatus.UNASSIGNED, "re-routing failed: RuntimeError")
            alerts = await s.scalars(select(OutboxEvent.key).where(OutboxEvent.topic == "lead.unassigned"))
            assert str(lead.id) in list(alerts)
        assert REGISTRY.get_sample_value("leadgen_pipeline_failed_leads_total", labels) == ended_before + 1
        assert routing_tasks.expire_offers() == 0  # nothing left to try

    async def test_a_failing_offer_of_a_recent_deadline_is_not_given_up_however_often_it_failed(
        self, client: AsyncClient, key: str, resources: Resources, failing: set[uuid.UUID]
    ) -> None:
        [offer] = await overdue_offers(client, key, resources, 1)
        await overdue_by(resources, offer, GIVE_UP_AFTER - timedelta(minutes=5))
        failing.add(offer)
        await tried_before(resources, offer, GIVE_UP_AFTER_TRIES * 2)
        assert routing_tasks.expire_offers() == 0
        assert (await state(resources, offer))[:2] == (AssignmentStatus.PENDING, GIVE_UP_AFTER_TRIES * 2 + 1)


@pytest.mark.parametrize("backend", ["postgres"])
async def test_the_sweep_reads_overdue_offers_from_an_index(session: AsyncSession, backend: str) -> None:
    """Both of the sweep's reads use the index on (status, expiry_failures, expires_at); the one of
    the offers never tried also reads them in its order, so it stops at its batch."""
    statements: list[tuple[str, tuple[object, ...]]] = []

    def keep(conn: object, cursor: object, statement: str, parameters: tuple[object, ...], *args: object) -> None:
        statements.append((statement, parameters))

    engine = session.bind.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", keep)
    try:
        assert await repository.overdue(session, utcnow(), 200) == []  # both reads run
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert len(statements) == 2
    plans = []
    async with session.bind.connect() as conn:  # type: ignore[union-attr]
        # An empty table is read whole by choice; the question is whether the index serves the reads.
        await conn.execute(text("SET enable_seqscan = off"))
        raw = await conn.get_raw_connection()
        for statement, parameters in statements:
            plan = await raw.driver_connection.fetch(f"EXPLAIN {statement}", *parameters)  # type: ignore[union-attr]
            plans.append("\n".join(row[0] for row in plan))
    untried, retries = plans
    assert "ix_assignments_status_expiry_failures_expires_at" in untried
    assert "Sort" not in untried
    assert "ix_assignments_status_expiry_failures_expires_at" in retries

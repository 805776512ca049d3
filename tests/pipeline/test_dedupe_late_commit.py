"""Two leads of one person sent at once (a vendor's retry with no external id): whatever the order
they commit and are screened in, one is the original and the other its duplicate.

A lead's ``received_at`` is stamped before its insert commits, so the retry of a slow request may be
stored and screened while the first request is still invisible, and the first is then received
"earlier" than a lead already routed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from pydantic import TypeAdapter
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.service import SourceRef
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads import service as leads_service
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.leads.schemas import LeadCreate
from leadgen.models import Agent, Lead, Source
from leadgen.models.base import utcnow
from leadgen.pipeline.service import pipeline_for, process_lead
from tests.conftest import lead_payload, sync_graph
from tests.pipeline.test_screening import offers_of, run, submit

# Only PostgreSQL lets a second transaction write while the first request's insert waits to commit.
ON_POSTGRES = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


async def assert_one_original(session: AsyncSession, first_id: uuid.UUID, retry_id: uuid.UUID) -> None:
    """One of the two is routed, the other a duplicate linked to it and offered to nobody."""
    first = await session.get(Lead, first_id, populate_existing=True)
    retry = await session.get(Lead, retry_id, populate_existing=True)
    assert first is not None and retry is not None
    original, duplicate = (first, retry) if retry.status == LeadStatus.DUPLICATE else (retry, first)
    assert (duplicate.status, duplicate.duplicate_of_id) == (LeadStatus.DUPLICATE, original.id)
    assert (original.status, original.duplicate_of_id) == (LeadStatus.ROUTED, None)
    assert await offers_of(session, duplicate.id) == []
    assert [o.status for o in await offers_of(session, original.id)] == [AssignmentStatus.PENDING]


async def store(uncommitted: AsyncSession, settings: Settings, payload: dict[str, Any]) -> uuid.UUID:
    """The lead stored as the api stores it, in the caller's transaction."""
    source = await uncommitted.scalar(select(Source).where(Source.name == "test-vendor"))
    assert source is not None
    data = TypeAdapter(LeadCreate).validate_python(payload)
    received = await leads_service.receive(uncommitted, settings, SourceRef(source.id, source.name), data)
    return received.lead.id


async def waiting_for_a_lock(resources: Resources) -> bool:
    """Whether a transaction of the test's database waits for another's lock (read in a
    transaction of its own: PostgreSQL shows one transaction the same activity throughout)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    async with resources.require_sessions()() as s:
        return bool(await s.scalar(text(query)))


class TestLateCommit:
    @pytest.mark.parametrize("screened_first", ["first", "retry"])
    async def test_of_two_leads_stored_before_either_is_screened_the_earlier_is_the_original(
        self,
        screened_first: str,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        texas_agent: Agent,
    ) -> None:
        payload = lead_payload()
        first_id = await submit(client, key, payload)
        retry_id = await submit(client, key, payload)
        for lead_id in (retry_id, first_id) if screened_first == "retry" else (first_id, retry_id):
            await run(resources, lead_id)
        await assert_one_original(session, first_id, retry_id)
        retry = await session.get(Lead, retry_id)
        assert retry is not None and retry.duplicate_of_id == first_id

    async def test_a_lead_stored_after_its_retry_was_screened_is_the_retrys_duplicate(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, texas_agent: Agent
    ) -> None:
        """What a slow commit leaves, on either backend: the retry was routed while the first request
        was invisible, and the first, stored since, was received before it."""
        payload = lead_payload()
        retry = await run(resources, await submit(client, key, payload))
        assert retry.status == LeadStatus.ROUTED
        first_id = await submit(client, key, payload)
        stamped_before_the_retry = retry.received_at - timedelta(seconds=1)
        await session.execute(update(Lead).where(Lead.id == first_id).values(received_at=stamped_before_the_retry))
        await session.commit()

        await run(resources, first_id)
        await assert_one_original(session, first_id, retry.id)

    @ON_POSTGRES
    async def test_a_retry_screened_while_the_first_requests_commit_is_held_up(
        self,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
        texas_agent: Agent,
        backend: str,
    ) -> None:
        payload = lead_payload()
        async with resources.unit_of_work() as slow:
            first_id = await store(slow, settings, payload)
            retry = await run(resources, await submit(client, key, payload))
        first = await run(resources, first_id)

        assert first.received_at < retry.received_at
        await assert_one_original(session, first_id, retry.id)

    @ON_POSTGRES
    async def test_two_workers_screening_one_person_at_once_see_each_other(
        self,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
        texas_agent: Agent,
        backend: str,
    ) -> None:
        """The retry is being screened, the first request invisible to it; the first commits and a
        second worker screens it before the retry's screening commits: the second waits for the
        first and finds the retry routed."""
        await sync_graph(resources)
        pipe = pipeline_for(resources)
        retry_screened, finish_retry = asyncio.Event(), asyncio.Event()

        async def screen_retry(retry_id: uuid.UUID) -> None:
            async with resources.unit_of_work() as s:
                await process_lead(s, pipe, retry_id, utcnow())
                retry_screened.set()
                await finish_retry.wait()

        async def screen(lead_id: uuid.UUID) -> None:
            async with resources.unit_of_work() as s:
                await process_lead(s, pipe, lead_id, utcnow())

        payload = lead_payload()
        async with resources.unit_of_work() as slow:
            first_id = await store(slow, settings, payload)
            retry_id = await submit(client, key, payload)
            retry_screening = asyncio.create_task(screen_retry(retry_id))
            await retry_screened.wait()
        first_screening = asyncio.create_task(screen(first_id))
        for _ in range(200):  # until the first's screening is done or waits (ten seconds at most)
            if first_screening.done() or await waiting_for_a_lock(resources):
                break
            await asyncio.sleep(0.05)
        finish_retry.set()
        await asyncio.gather(retry_screening, first_screening)

        await assert_one_original(session, first_id, retry_id)

"""Each line looks back for duplicates over its own window (``LEADGEN_INTAKE_DEDUPE_WINDOW_DAYS_BY_LINE``),
the single ``LEADGEN_INTAKE_DEDUPE_WINDOW_DAYS`` for the lines not listed: here life 90 days, auto 30."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.leads.lifecycle import LeadStatus, Line
from leadgen.models import Agent, Lead
from leadgen.models.base import utcnow
from leadgen.pipeline.service import duplicates_to_release, release_duplicate
from tests import helpers
from tests.conftest import lead_payload
from tests.pipeline.test_screening import accepted, run, same_person, submit

WINDOWS = "LEADGEN_INTAKE_DEDUPE_WINDOW_DAYS_BY_LINE"
LIFE_DETAILS = {"height_inches": 70, "weight_pounds": 180, "tobacco": False, "face_amount": 250_000}


@pytest.fixture
def settings_env(settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv(WINDOWS, "auto=30,life=90")
    get_settings.cache_clear()
    return settings_env | {WINDOWS: "auto=30,life=90"}


@pytest.fixture
async def agent(session: AsyncSession) -> Agent:
    """Licensed for auto and life in Texas."""
    licensed = await helpers.agent(session, ["TX"], [Line.AUTO, Line.LIFE])
    await session.commit()
    return licensed


def person_asking_for(line: Line) -> dict[str, Any]:
    if line == Line.AUTO:
        return lead_payload()
    return lead_payload(line="life", campaign="term-life", details=LIFE_DETAILS)


def asking_again(payload: dict[str, Any]) -> dict[str, Any]:
    """Another lead of the person in ``payload``, for the same line."""
    return same_person(payload, **{name: payload[name] for name in ("line", "campaign", "details")})


async def received_on(session: AsyncSession, lead_id: uuid.UUID, moment: datetime) -> None:
    """As if the lead had reached intake at ``moment``: before it is screened, so the graph has it so too."""
    await session.execute(update(Lead).where(Lead.id == lead_id).values(received_at=moment))
    await session.commit()


@pytest.mark.usefixtures("agent")
class TestWindowPerLine:
    @pytest.mark.parametrize(("line", "status"), [(Line.LIFE, LeadStatus.DUPLICATE), (Line.AUTO, LeadStatus.ROUTED)])
    async def test_a_lead_sixty_days_after_the_persons_lead_an_agent_took_is_a_duplicate_only_within_its_lines_window(
        self,
        line: Line,
        status: LeadStatus,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
    ) -> None:
        payload = person_asking_for(line)
        first_id = await submit(client, key, payload)
        await received_on(session, first_id, utcnow() - timedelta(days=60))
        first = await run(resources, first_id)
        await accepted(resources, session, first)

        again = await run(resources, await submit(client, key, asking_again(payload)))
        assert (again.line, again.status) == (line, status)
        assert again.duplicate_of_id == (first.id if status == LeadStatus.DUPLICATE else None)

    async def test_a_duplicate_is_released_within_its_lines_window_only(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        """Sixty days ago each person sent two leads, the second screened first (a duplicate of the
        first, still waiting); the first has just been screened out. Only the life duplicate is
        still within its window, and goes through the pipeline again."""
        sixty_days_ago = utcnow() - timedelta(days=60)
        duplicates = {}
        for line in (Line.LIFE, Line.AUTO):
            payload = person_asking_for(line)
            first_id = await submit(client, key, payload)
            second_id = await submit(client, key, asking_again(payload))
            await received_on(session, first_id, sixty_days_ago)
            await received_on(session, second_id, sixty_days_ago + timedelta(minutes=1))
            second = await run(resources, second_id)
            assert (second.status, second.duplicate_of_id) == (LeadStatus.DUPLICATE, first_id)
            await session.execute(update(Lead).where(Lead.id == first_id).values(state="OK"))
            await session.commit()
            assert (await run(resources, first_id)).status == LeadStatus.INVALID
            duplicates[line] = second_id

        async with resources.unit_of_work() as s:
            assert await duplicates_to_release(s, settings, utcnow(), 10) == [duplicates[Line.LIFE]]
        async with resources.unit_of_work() as s:
            assert await release_duplicate(s, settings, duplicates[Line.AUTO], utcnow()) is False
        async with resources.unit_of_work() as s:
            assert await release_duplicate(s, settings, duplicates[Line.LIFE], utcnow()) is True

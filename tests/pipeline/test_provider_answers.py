"""A provider's answer is stored with the lead whatever characters it holds (PostgreSQL's JSONB
refuses a NUL): the pipeline runs against the OpenAI stand-in of ``tests/insights/standins.py``."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import LLMSettings
from leadgen.insights.budget import InProcessBudget
from leadgen.insights.providers import create_intent_provider
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import Lead
from leadgen.models.base import utcnow
from leadgen.pipeline.service import Pipeline, notes_to_read, pipeline_for, process_lead, read_notes
from tests import helpers
from tests.conftest import lead_payload, sync_graph
from tests.insights.standins import StandIn, openai_standin

MODEL = "gpt-standin-mini"


@pytest.fixture
def standin() -> Iterator[StandIn]:
    pytest.importorskip("openai")
    server = openai_standin().start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def pipeline_asking(resources: Resources, standin: StandIn) -> AsyncIterator[Pipeline]:
    """The test's pipeline with the stand-in's OpenAI-compatible provider as its remote reader."""
    settings = LLMSettings(provider="openai", api_key="sk-standin", model=MODEL, base_url=standin.url + "/v1")
    provider = create_intent_provider(settings, budget=InProcessBudget())
    try:
        yield dataclasses.replace(pipeline_for(resources), insights=provider)
    finally:
        await provider.aclose()


async def processed_with_provider(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, standin: StandIn
) -> Lead:
    """A lead read by the stand-in's provider outside its transaction, then processed; the stored lead."""
    await helpers.agent(session, ["TX"])
    await session.commit()
    payload = lead_payload(notes="ready to buy today, need proof of insurance")
    response = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    lead_id = uuid.UUID(response.json()["id"])
    async with pipeline_asking(resources, standin) as pipe:
        async with resources.require_sessions()() as s:
            asked = await notes_to_read(s, lead_id)
        assert asked is not None
        insight = await read_notes(pipe, asked)
        await sync_graph(resources)
        async with resources.unit_of_work() as s:
            await process_lead(s, pipe, lead_id, utcnow(), insight)
    lead = await session.get(Lead, lead_id, populate_existing=True)
    assert lead is not None
    return lead


@pytest.mark.parametrize(
    "reason",
    ["ok\u0000then", "ring\u0007", "\u001b[31mred\u001b[0m", "two\nlines", "del\u007f", "c1\u0085"],
    ids=["nul", "bell", "escape", "newline", "delete", "c1"],
)
async def test_an_answer_with_control_characters_is_invalid_and_the_lead_is_processed(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, standin: StandIn, reason: str
) -> None:
    standin.answer = '{"intent": "just_browsing", "urgency": "low", "reason": ' + _json_string(reason) + "}"
    lead = await processed_with_provider(client, key, session, resources, standin)
    assert lead.status == LeadStatus.ROUTED
    assert lead.insights is not None
    assert (lead.insights["provider"], lead.insights["fallback_reason"]) == ("local", "invalid_answer")
    assert lead.insights["intent"] == "buy_now"  # the local rules' reading of the notes
    assert len(standin.received) == 1


@pytest.mark.parametrize(
    "reported",
    ["gpt\u0000evil", "gpt-\u001b[2J", "m" * 101, "", "gpt\u2028line", "gpt-\ud800"],
    ids=["nul", "escape", "long", "empty", "line-separator", "surrogate"],
)
async def test_a_model_name_that_is_not_printable_or_too_long_is_stored_as_the_configured_one(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, standin: StandIn, reported: str
) -> None:
    standin.model = reported
    lead = await processed_with_provider(client, key, session, resources, standin)
    assert lead.status == LeadStatus.ROUTED
    assert lead.insights is not None
    assert (lead.insights["provider"], lead.insights["model"]) == ("openai", MODEL)
    assert lead.insights["reason"] == "asks for a better rate than today"


async def test_a_printable_model_name_is_stored_as_reported(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, standin: StandIn
) -> None:
    standin.model = "gpt-standin-mini-2026-01-15"
    lead = await processed_with_provider(client, key, session, resources, standin)
    assert lead.insights is not None and lead.insights["model"] == "gpt-standin-mini-2026-01-15"


def _json_string(text: str) -> str:
    """``text`` as a JSON string with every control character escaped, as a provider's JSON carries it."""
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F else c for c in text) + '"'


async def test_a_vendors_test_lead_is_read_by_the_local_rules_not_sent_to_the_provider(
    client: AsyncClient, key: str, session: AsyncSession, resources: Resources, standin: StandIn
) -> None:
    """Its words need not leave the platform nor spend the budget; the vendor still sees the
    insight the live lead it stands for would get from the rules."""
    payload = lead_payload(notes="ready to buy today, need proof of insurance")
    payload["test"] = True
    response = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    lead_id = uuid.UUID(response.json()["id"])
    async with pipeline_asking(resources, standin) as pipe:
        async with resources.require_sessions()() as s:
            assert await notes_to_read(s, lead_id) is None
        await sync_graph(resources)
        async with resources.unit_of_work() as s:
            await process_lead(s, pipe, lead_id, utcnow())
    lead = await session.get(Lead, lead_id, populate_existing=True)
    assert lead is not None and lead.status == LeadStatus.TEST
    assert lead.insights is not None
    assert (lead.insights["provider"], lead.insights["intent"]) == ("local", "buy_now")
    assert standin.received == []

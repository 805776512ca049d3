"""A remote provider reads a lead's notes once: a pipeline try that fails after it (Qdrant or
Neo4j down) leaves the answer with the lead, and the next try uses it rather than send the notes
out again and spend another call of the day's budget."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from httpx import AsyncClient

from leadgen.core.resources import Resources
from leadgen.core.settings import get_settings
from leadgen.insights.budget import process_budget
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import Lead
from leadgen.pipeline import tasks as pipeline_tasks
from tests.conftest import lead_payload, sync_graph
from tests.insights.standins import StandIn, openai_standin
from tests.pipeline.test_failing_leads import Injected, failing_for


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = openai_standin().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings_env(settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, standin: StandIn) -> dict[str, str]:
    """The workers' settings with the OpenAI stand-in as the notes' reader, three calls a day."""
    llm = {
        "LEADGEN_LLM_PROVIDER": "openai",
        "LEADGEN_LLM_API_KEY": "sk-standin",
        "LEADGEN_LLM_MODEL": "gpt-standin",
        "LEADGEN_LLM_BASE_URL": standin.url + "/v1",
        "LEADGEN_LLM_DAILY_CALL_LIMIT": "3",
    }
    for name, value in llm.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return {**settings_env, **llm}


@pytest.mark.usefixtures("worker", "texas_agent")
async def test_the_notes_are_read_once_however_many_tries_fail_after(
    client: AsyncClient, key: str, resources: Resources, monkeypatch: pytest.MonkeyPatch, standin: StandIn
) -> None:
    await sync_graph(resources)
    spent = process_budget().used("openai")  # the process's budget, which the other tests share
    payload = lead_payload(notes="renewal went up, shopping for a better rate this week")
    answer = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
    lead_id = uuid.UUID(answer.json()["id"])
    failing_for(monkeypatch, {lead_id}, times=3)  # the lead's vector cannot be written three times
    for _ in range(3):
        with pytest.raises(Injected):
            pipeline_tasks.process_lead(str(lead_id))
    assert pipeline_tasks.process_lead(str(lead_id)) == LeadStatus.ROUTED
    assert len(standin.received) == 1
    assert process_budget().used("openai") == spent + 1
    async with resources.require_sessions()() as session:
        lead = await session.get(Lead, lead_id)
    assert lead is not None and lead.insights is not None
    assert (lead.insights["provider"], lead.insights["fallback_reason"]) == ("openai", None)

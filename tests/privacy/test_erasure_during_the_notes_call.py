"""An erasure served while a remote provider reads the lead's notes (seconds, outside the lead's
transaction): the provider's answer, which quotes or describes the notes, is not kept after it."""

from __future__ import annotations

import uuid

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.insights.schemas import Insight, Intent, ProviderName, Urgency
from leadgen.models import Lead
from leadgen.models.base import utcnow
from leadgen.pipeline import service as pipeline
from tests import helpers
from tests.conftest import lead_payload

NOTES = "Maria says she is pregnant and has diabetes; prefers evenings."


async def test_the_providers_answer_is_not_kept_on_a_lead_erased_during_the_call(
    client: AsyncClient, data_client: AsyncClient, session: AsyncSession, resources: Resources
) -> None:
    user = await helpers.user(session, Role.ADMIN)
    key = await helpers.api_key(session)
    await session.commit()
    admin = await helpers.bearer(client, user)
    payload = lead_payload() | {"notes": NOTES}
    answer = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
    lead_id = uuid.UUID(answer.json()["id"])
    async with resources.unit_of_work() as work:
        assert await pipeline.notes_to_read(work, lead_id) is not None
    # The provider is thinking; meanwhile the person's erasure is served.
    email = payload["contact"]["email"]
    erased = await data_client.post("/api/v1/privacy/erase", json={"email": email}, headers=admin)
    assert erased.status_code == 200, erased.text
    insight = Insight(
        intent=Intent.BUY_NOW,
        urgency=Urgency.HIGH,
        provider=ProviderName.OPENAI,
        model="a remote model",
        reason="Maria is pregnant and has diabetes; she wants a call in the evenings.",
    )
    async with resources.unit_of_work() as work:
        await pipeline.keep_insight(work, lead_id, insight)
    async with resources.unit_of_work() as work:
        await pipeline.process_lead(work, pipeline.pipeline_for(resources), lead_id, utcnow(), insight)
    async with resources.require_sessions()() as reader:
        lead = await reader.get(Lead, lead_id)
    assert lead is not None and lead.anonymised_at is not None
    assert "pregnant" not in str(lead.insights)
    page = (await client.get(f"/api/v1/leads/{lead_id}", headers=admin)).json()
    assert "pregnant" not in str(page)

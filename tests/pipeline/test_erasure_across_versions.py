"""An erasure carried out during a rollout that changes the embedding version: whichever release's
worker takes the ``lead.erased`` task, the lead leaves the collection of every version, so the new
release's collection (filled from the database while the old release still ran) keeps nothing of it."""

from __future__ import annotations

import dataclasses

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.security import keyed_hash
from leadgen.core.settings import Settings
from leadgen.models import OutboxEvent
from leadgen.pipeline.service import forget, pipeline_for
from leadgen.privacy import service as privacy
from leadgen.stores.embedding import LeadEmbedding
from leadgen.stores.vectors.qdrant_store import QdrantVectorStore
from tests import helpers
from tests.conftest import lead_payload


async def test_a_worker_of_the_other_release_erases_the_lead_from_this_releases_collection(
    client: AsyncClient, session: AsyncSession, resources: Resources, settings: Settings
) -> None:
    await helpers.agent(session, ["TX"])
    key = await helpers.api_key(session)
    await session.commit()
    payload = lead_payload(notes="divorce settlement, needs a policy of her own")
    lead_id = await helpers.submitted_and_processed(client, resources, key, payload)
    live = resources.vectors
    assert isinstance(live, QdrantVectorStore)
    vector, stored = await live.vector(lead_id), await live.get(lead_id)
    assert vector is not None and stored is not None
    # The other release's store on the same Qdrant, holding the lead in its own version's collection.
    other = QdrantVectorStore(
        live._client, live.base, local_path=live._local_path, guard=live._guard, version="hash-v0"
    )
    await other.ensure_collection()
    await other.upsert(lead_id, LeadEmbedding(vector, {}), stored.payload)

    pii_key = settings.security.pii_hash_key.get_secret_value()
    async with resources.unit_of_work() as s:
        await privacy.erase(s, [("email", keyed_hash(pii_key, "email", payload["contact"]["email"]))], "test")
    async with resources.unit_of_work() as s:
        await forget(s, dataclasses.replace(pipeline_for(resources), vectors=other), lead_id)

    assert await other.get(lead_id) is None
    assert await live.get(lead_id) is None and await live.vector(lead_id) is None
    left = await session.scalar(
        select(OutboxEvent).where(
            OutboxEvent.topic == "lead.erased", OutboxEvent.key == str(lead_id), OutboxEvent.processed_at.is_(None)
        )
    )
    assert left is None

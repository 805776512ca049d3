"""Similar-lead search through the orchestrator, over leads the pipeline embedded, and what the word
slots it stores give away to whoever holds Qdrant's data without the key: no words."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from hashlib import blake2b

import pytest
from httpx import AsyncClient
from qdrant_client import models
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models.base import utcnow
from leadgen.pipeline.service import pipeline_for, process_lead
from leadgen.stores.embedding import query_words, word_key
from leadgen.stores.vectors.qdrant_store import WORDS_VECTOR, QdrantVectorStore
from leadgen.targets import api, orchestrator
from tests import helpers
from tests.conftest import lead_payload, started, sync_graph

# Words whoever holds Qdrant's data (or a snapshot of it) would hash to read the word slots back.
_WORD_LIST_TEXT = (
    "maria john jose pregnant pregnancy diabetes cancer hiv depression asthma dialysis rehab alcohol smoker "
    "divorce bankruptcy arrest husband wife baby call says wants evenings mornings premium renewal cheap"
)
WORD_LIST = _WORD_LIST_TEXT.split()


@pytest.fixture
async def clients(settings: Settings, resources: Resources) -> AsyncIterator[tuple[AsyncClient, AsyncClient]]:
    # The orchestrator shares the test's resources: Qdrant local mode allows one client per folder.
    async for api_client in started(api.create_app(settings)):
        async for orch in started(orchestrator.create_app(settings, resources)):
            yield api_client, orch


async def test_search_by_words_and_by_lead(
    clients: tuple[AsyncClient, AsyncClient], session: AsyncSession, resources: Resources
) -> None:
    api_client, orch = clients
    await helpers.agent(session, ["TX"])
    key = await helpers.api_key(session)
    admin = await helpers.user(session, Role.ADMIN)
    await session.commit()
    notes = [
        "needs a state filing after a speeding ticket",
        "renewal in two weeks, wants a cheaper premium",
        "speeding ticket last year, state filing required",
    ]
    ids = []
    for text in notes:
        response = await api_client.post("/api/v1/leads", json=lead_payload(notes=text), headers={"X-API-Key": key})
        ids.append(uuid.UUID(response.json()["id"]))
    await sync_graph(resources)
    for lead_id in ids:
        async with resources.unit_of_work() as s:
            await process_lead(s, pipeline_for(resources), lead_id, utcnow())
    headers = await helpers.bearer(api_client, admin)

    found = (
        await orch.get("/api/v1/search", params={"q": "speeding ticket filing", "limit": 2}, headers=headers)
    ).json()
    assert {f["lead_id"] for f in found} == {str(ids[0]), str(ids[2])}
    assert found[0]["line"] == "auto" and found[0]["outcome"] == "ROUTED"

    alike = (await orch.get(f"/api/v1/search/similar/{ids[0]}", headers=headers)).json()
    assert str(ids[0]) not in {a["lead_id"] for a in alike} and len(alike) == 2
    assert (await orch.get(f"/api/v1/search/similar/{uuid.uuid4()}", headers=headers)).status_code == 404
    assert (await orch.get("/api/v1/search", params={"q": "ticket"})).status_code == 401


def unkeyed_slots(person: bytes) -> dict[int, str]:
    """The slot of each word of ``WORD_LIST``, hashed as hash-v2 did: BLAKE2b with a personalisation, no key."""
    return {int.from_bytes(blake2b(w.encode(), digest_size=4, person=person).digest(), "little"): w for w in WORD_LIST}


async def test_the_stored_word_slots_give_no_words_without_the_key(
    clients: tuple[AsyncClient, AsyncClient], session: AsyncSession, resources: Resources
) -> None:
    """A lead's word vector read back from Qdrant: hashing a word list without the key (as anyone with
    the collection could, and once got 'alcohol', 'diabetes', 'pregnant'... back) finds none of its
    slots, another key gives other slots, and word search still finds the lead by a word of its notes."""
    api_client, orch = clients
    await helpers.agent(session, ["TX"])
    key = await helpers.api_key(session)
    admin = await helpers.user(session, Role.ADMIN)
    await session.commit()
    notes = "Maria is pregnant and has diabetes, husband in rehab for alcohol. Call evenings."
    lead_id = await helpers.submitted_and_processed(api_client, resources, key, lead_payload(notes=notes))
    vectors = resources.vectors
    assert isinstance(vectors, QdrantVectorStore)

    [point] = await vectors._client.retrieve(vectors.collection, ids=[str(lead_id)], with_vectors=[WORDS_VECTOR])
    assert isinstance(point.vector, dict)
    stored = point.vector[WORDS_VECTOR]
    assert isinstance(stored, models.SparseVector)
    slots = set(stored.indices)

    assert len(slots) == 8  # maria, pregnant, diabetes, husband, rehab, alcohol, call, evenings
    for person in (b"leadgen.words.v1", b"leadgen.words.v3"):  # hash-v2's; hash-v3's without its key
        table = unkeyed_slots(person)
        assert sorted(table[slot] for slot in slots if slot in table) == []  # hash-v2's gave back all eight
    platform_key = word_key(resources.settings.security.pii_hash_key.get_secret_value())
    assert slots == set(query_words(notes, platform_key))
    assert slots.isdisjoint(query_words(notes, word_key("another-pii-hash-key")))
    headers = await helpers.bearer(api_client, admin)
    found = (await orch.get("/api/v1/search", params={"q": "diabetes"}, headers=headers)).json()
    assert [hit["lead_id"] for hit in found] == [str(lead_id)]

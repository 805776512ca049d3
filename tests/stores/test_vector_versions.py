"""Each embedding version writes a collection of its own: vectors of two embeddings never meet, and
a release that embeds leads differently runs beside the one before it while it rolls out.

Local mode runs for real; the server's side is checked on the requests qdrant-client sends it
(``QdrantRestStandIn``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from qdrant_client import AsyncQdrantClient, models

from leadgen.stores.embedding import EMBEDDING_DIM, EMBEDDING_VERSION, embed_lead, query_words, word_key
from leadgen.stores.vectors import versioned_collection
from leadgen.stores.vectors.qdrant_store import (
    FILLED_KEY,
    LEAD_VECTOR,
    VERSION_KEY,
    WORDS_VECTOR,
    QdrantVectorStore,
    VectorStoreError,
)
from tests.stores.test_qdrant_replication import BASE, COLLECTION, QDRANT_URL, QdrantRestStandIn

# The word slots' key (the platform derives its own of LEADGEN_SECURITY_PII_HASH_KEY).
WORD_KEY = word_key("test-pii-hash-key")

OLD_VERSION = "hash-v0"
EMBEDDING = embed_lead({"line": "auto", "state": "TX", "score": 60}, WORD_KEY)
VECTOR = EMBEDDING.vector


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[list[QdrantVectorStore]]:
    """One local-mode folder: a store of this build, another built with an older embedding."""
    current = QdrantVectorStore.open_local(tmp_path / "qdrant", BASE)
    old = QdrantVectorStore(current._client, BASE, local_path=current._local_path, version=OLD_VERSION)
    yield [current, old]
    await current.close()


async def test_a_new_collection_is_named_after_the_version_and_records_it_unfilled(
    stores: list[QdrantVectorStore],
) -> None:
    current, _ = stores
    assert current.collection == f"{BASE}-{EMBEDDING_VERSION}" == COLLECTION
    await current.ensure_collection()
    info = await current._client.get_collection(COLLECTION)
    assert info.config.metadata == {VERSION_KEY: EMBEDDING_VERSION, FILLED_KEY: False}
    assert not await current.filled()

    await current.mark_filled()

    assert await current.filled()
    assert (await current._client.get_collection(COLLECTION)).config.metadata == {
        VERSION_KEY: EMBEDDING_VERSION,
        FILLED_KEY: True,
    }


async def test_two_versions_run_side_by_side_each_on_its_own_vectors(stores: list[QdrantVectorStore]) -> None:
    """The release before this one goes on writing and searching its collection while this one
    starts on its own: neither is refused, and neither sees the other's vectors."""
    current, old = stores
    await old.ensure_collection()
    old_lead = uuid.uuid4()
    await old.upsert(old_lead, EMBEDDING, {"line": "auto", "outcome": "CONVERTED", "agent_id": "a1"})

    await current.ensure_collection()
    await current.ping()
    new_lead = uuid.uuid4()
    await current.upsert(new_lead, EMBEDDING, {"line": "auto"})

    assert [hit.lead_id for hit in await current.similar(VECTOR)] == [new_lead]
    assert [hit.lead_id for hit in await old.similar(VECTOR)] == [old_lead]
    assert await current.agent_success(VECTOR, ["a1"], "auto") == {"a1": 0.0}
    await old.ping()
    assert await current.other_versions() == [versioned_collection(BASE, OLD_VERSION)]
    assert await old.other_versions() == [COLLECTION]


async def test_other_versions_are_dropped_only_by_name_and_never_this_builds(
    stores: list[QdrantVectorStore],
) -> None:
    """The collection named after the base alone (releases before versioned collections) counts as
    another version; one that only shares the prefix is someone else's and is left alone."""
    current, old = stores
    await old.ensure_collection()
    await current.ensure_collection()
    plain = models.VectorParams(size=EMBEDDING_DIM, distance=models.Distance.COSINE)
    await current._client.create_collection(BASE, vectors_config=plain)
    await current._client.create_collection(f"{BASE}-archive", vectors_config=plain)
    older = versioned_collection(BASE, OLD_VERSION)
    assert await current.other_versions() == [BASE, older]

    with pytest.raises(ValueError, match="another embedding version"):
        await current.drop(COLLECTION)
    with pytest.raises(ValueError, match="another embedding version"):
        await current.drop(f"{BASE}-archive")
    for name in await current.other_versions():
        await current.drop(name)

    assert await current.other_versions() == []
    names = {item.name for item in (await current._client.get_collections()).collections}
    assert names == {COLLECTION, f"{BASE}-archive"}


async def test_a_damaged_collection_of_this_version_is_refused_until_replaced(stores: list[QdrantVectorStore]) -> None:
    """Vectors of another size under this version's name: readiness fails, writes and searches are
    refused, with the command that fixes it; deleting a lead (an erasure) still works.
    ``replace_stale`` then starts an empty collection."""
    current, _ = stores
    await current._client.create_collection(
        COLLECTION, vectors_config=models.VectorParams(size=EMBEDDING_DIM + 8, distance=models.Distance.COSINE)
    )
    lead = uuid.uuid4()
    for refused in (
        current.ensure_collection(),
        current.ping(),
        current.upsert(uuid.uuid4(), EMBEDDING, {"line": "auto"}),
        current.set_payload(lead, {"outcome": "LOST"}),
        current.similar(VECTOR),
        current.matching_words(query_words("renewal", WORD_KEY)),
        current.agent_success(VECTOR, ["a1"], "auto"),
    ):
        with pytest.raises(VectorStoreError, match=r"dimensions.*`leadgen vectors rebuild`"):
            await refused
    await current.delete(lead)

    await current.ensure_collection(replace_stale=True)

    await current.ping()
    await current.upsert(uuid.uuid4(), EMBEDDING, {"line": "auto"})
    assert not await current.filled()


async def test_a_collection_of_this_version_without_word_vectors_is_refused(stores: list[QdrantVectorStore]) -> None:
    current, _ = stores
    await current._client.create_collection(
        COLLECTION,
        vectors_config={LEAD_VECTOR: models.VectorParams(size=EMBEDDING_DIM, distance=models.Distance.COSINE)},
        metadata={VERSION_KEY: EMBEDDING_VERSION},
    )
    with pytest.raises(VectorStoreError, match=rf"the vectors '{LEAD_VECTOR}'.*sparse '{WORDS_VECTOR}'"):
        await current.ensure_collection()


async def test_an_erasure_leaves_the_collection_of_every_version(stores: list[QdrantVectorStore]) -> None:
    """During a rollout, a process of either release may take a lead's erasure, while both releases'
    collections hold the lead: it leaves both, and the one of the releases before versioned
    collections; a collection that only shares the prefix is someone else's and is left alone."""
    current, old = stores
    await old.ensure_collection()
    await current.ensure_collection()
    plain = models.VectorParams(size=EMBEDDING_DIM, distance=models.Distance.COSINE)
    await current._client.create_collection(BASE, vectors_config=plain)
    await current._client.create_collection(f"{BASE}-archive", vectors_config=plain)
    by_old, by_current, kept = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for lead in (by_old, by_current, kept):
        await old.upsert(lead, EMBEDDING, {"line": "auto"})
        await current.upsert(lead, EMBEDDING, {"line": "auto"})
        for name in (BASE, f"{BASE}-archive"):
            await current._client.upsert(name, points=[models.PointStruct(id=str(lead), vector=VECTOR)])

    await old.delete(by_old)
    await current.delete(by_current)

    for store in stores:
        assert await store.get(by_old) is None and await store.get(by_current) is None
        assert await store.get(kept) is not None
    assert await _ids(current, BASE) == {str(kept)}
    assert await _ids(current, f"{BASE}-archive") == {str(by_old), str(by_current), str(kept)}


async def test_an_erasure_skips_a_collection_dropped_since_it_was_listed(
    stores: list[QdrantVectorStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    current, old = stores
    await current.ensure_collection()
    lead = uuid.uuid4()
    await current.upsert(lead, EMBEDDING, {"line": "auto"})

    async def listed_before_the_drop() -> list[str]:
        return [old.collection]

    monkeypatch.setattr(current, "other_versions", listed_before_the_drop)
    await current.delete(lead)
    assert await current.get(lead) is None


async def _ids(store: QdrantVectorStore, collection: str) -> set[str]:
    records, _ = await store._client.scroll(collection, limit=100)
    return {str(record.id) for record in records}


async def test_replace_stale_keeps_a_collection_of_this_build(stores: list[QdrantVectorStore]) -> None:
    current, _ = stores
    await current.ensure_collection()
    kept = uuid.uuid4()
    await current.upsert(kept, EMBEDDING, {"line": "auto"})
    await current.ensure_collection(replace_stale=True)
    assert await current.get(kept) is not None


async def test_the_server_is_asked_to_record_the_version_and_the_fill() -> None:
    qdrant = QdrantRestStandIn()
    client = AsyncQdrantClient(url=QDRANT_URL, check_compatibility=False, transport=httpx.MockTransport(qdrant))
    store = QdrantVectorStore(client, BASE)
    await store.ensure_collection()
    assert not await store.filled()
    await store.mark_filled()
    assert await store.filled()
    await store.close()
    [(created, body), (updated, patch)] = qdrant.writes_to(f"/collections/{COLLECTION}")
    assert (created, updated) == ("PUT", "PATCH")
    assert body["metadata"] == {VERSION_KEY: EMBEDDING_VERSION, FILLED_KEY: False}
    assert patch["metadata"] == {FILLED_KEY: True}

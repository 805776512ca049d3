"""The embedding version recorded with the lead collection: vectors of two embeddings never meet.

Local mode runs for real; the server's side is checked on the request qdrant-client sends it
(``QdrantRestStandIn``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from qdrant_client import AsyncQdrantClient, models

from leadgen.stores.embedding import EMBEDDING_DIM, EMBEDDING_VERSION, embed_lead
from leadgen.stores.vectors.qdrant_store import VERSION_KEY, QdrantVectorStore, VectorStoreError
from tests.stores.test_qdrant_replication import COLLECTION, QDRANT_URL, QdrantRestStandIn

OLD_VERSION = "hash-v0"
VECTOR = embed_lead({"line": "auto", "state": "TX", "score": 60})


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[list[QdrantVectorStore]]:
    """One local-mode folder: a store of this build, another built with an older embedding."""
    current = QdrantVectorStore.open_local(tmp_path / "qdrant", COLLECTION)
    old = QdrantVectorStore(current._client, COLLECTION, local_path=current._local_path, version=OLD_VERSION)
    yield [current, old]
    await current.close()


async def test_a_new_collection_records_the_version(stores: list[QdrantVectorStore]) -> None:
    current, _ = stores
    await current.ensure_collection()
    info = await current._client.get_collection(COLLECTION)
    assert info.config.metadata == {VERSION_KEY: EMBEDDING_VERSION}


async def test_a_collection_of_another_version_is_refused_until_replaced(stores: list[QdrantVectorStore]) -> None:
    """Readiness fails, writes and searches are refused, with the command that fixes it; deleting a
    lead (an erasure) still works. ``replace_stale`` then starts an empty collection of this version."""
    current, old = stores
    await old.ensure_collection()
    old_lead = uuid.uuid4()
    await old.upsert(old_lead, VECTOR, {"line": "auto"})

    for refused in (
        current.ensure_collection(),
        current.ping(),
        current.upsert(uuid.uuid4(), VECTOR, {"line": "auto"}),
        current.set_payload(old_lead, {"outcome": "LOST"}),
        current.similar(VECTOR),
        current.agent_success(VECTOR, ["a1"], "auto"),
    ):
        with pytest.raises(VectorStoreError, match=f"{OLD_VERSION!r}.*`leadgen vectors rebuild`"):
            await refused
    await current.delete(old_lead)

    await current.ensure_collection(replace_stale=True)

    await current.ping()
    assert await current.get(old_lead) is None
    await current.upsert(uuid.uuid4(), VECTOR, {"line": "auto"})
    with pytest.raises(VectorStoreError, match=repr(EMBEDDING_VERSION)):
        await old.ping()


async def test_a_collection_of_another_dimension_is_replaced_too(stores: list[QdrantVectorStore]) -> None:
    current, _ = stores
    await current._client.create_collection(
        COLLECTION, vectors_config=models.VectorParams(size=EMBEDDING_DIM + 8, distance=models.Distance.COSINE)
    )
    with pytest.raises(VectorStoreError, match=r"dimensions.*`leadgen vectors rebuild`"):
        await current.ping()
    await current.ensure_collection(replace_stale=True)
    await current.ping()


async def test_replace_stale_keeps_a_collection_of_this_build(stores: list[QdrantVectorStore]) -> None:
    current, _ = stores
    await current.ensure_collection()
    kept = uuid.uuid4()
    await current.upsert(kept, VECTOR, {"line": "auto"})
    await current.ensure_collection(replace_stale=True)
    assert await current.get(kept) is not None


async def test_a_collection_made_before_the_version_was_recorded_holds_the_first_one(
    stores: list[QdrantVectorStore],
) -> None:
    current, _ = stores
    await current._client.create_collection(
        COLLECTION, vectors_config=models.VectorParams(size=EMBEDDING_DIM, distance=models.Distance.COSINE)
    )
    assert EMBEDDING_VERSION == "hash-v1"  # when it changes, such a collection is refused
    await current.ensure_collection()
    await current.ping()
    newer = QdrantVectorStore(current._client, COLLECTION, version="hash-v2")
    with pytest.raises(VectorStoreError, match="'hash-v1'"):
        await newer.ping()


async def test_the_server_is_asked_to_record_it() -> None:
    qdrant = QdrantRestStandIn()
    client = AsyncQdrantClient(url=QDRANT_URL, check_compatibility=False, transport=httpx.MockTransport(qdrant))
    store = QdrantVectorStore(client, COLLECTION)
    await store.ensure_collection()
    await store.close()
    [(method, body)] = qdrant.writes_to(f"/collections/{COLLECTION}")
    assert method == "PUT"
    assert body["metadata"] == {VERSION_KEY: EMBEDDING_VERSION}

"""Each store's start-up set-up (``Resources.start``): run on its own, tried again in the background
until it succeeds, and readiness failing meanwhile and whenever the store is no longer as set up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from qdrant_client import models

from leadgen.agents.graph_sync import sync_all
from leadgen.core import resources as resources_module
from leadgen.core.resources import NotSetUp, Resources
from leadgen.core.settings import Settings
from leadgen.stores.embedding import EMBEDDING_DIM, embed_lead, word_key
from leadgen.stores.graph.embedded import EmbeddedGraphStore
from leadgen.stores.vectors.qdrant_store import QdrantVectorStore, VectorStoreError
from leadgen.targets.registry import DB, GRAPH, VECTORS
from tests import helpers

# The word slots' key (the platform derives its own of LEADGEN_SECURITY_PII_HASH_KEY).
WORD_KEY = word_key("test-pii-hash-key")

NEEDS = frozenset({DB, GRAPH, VECTORS})
VECTOR = embed_lead({"line": "auto", "state": "TX"}, WORD_KEY)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources_module, "SET_UP_RETRY_FIRST_SECONDS", 0.05)
    monkeypatch.setattr(resources_module, "SET_UP_RETRY_MAX_SECONDS", 0.2)


@pytest.fixture
async def agent_id(settings: Settings) -> AsyncIterator[uuid.UUID]:
    """An agent in the database, for the graph's set-up to write."""
    res = Resources.build(settings, frozenset({DB}), "test")
    async with res.require_sessions()() as session:
        agent = await helpers.agent(session, ["TX"])
        await session.commit()
    await res.close()
    yield agent.id


@pytest.fixture
async def local_qdrant(settings: Settings) -> AsyncIterator[QdrantVectorStore]:
    """The local-mode folder the resources open (the process shares one client per folder)."""
    store = QdrantVectorStore.open_local(settings.common.data_dir / "qdrant", settings.qdrant.collection)
    yield store
    await store.close()


def set_up_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("set-up ")]


async def test_a_collection_not_usable_at_start_holds_up_neither_the_graph_nor_itself_for_good(
    settings: Settings, agent_id: uuid.UUID, local_qdrant: QdrantVectorStore
) -> None:
    """A collection of another vector size at start: the graph is still set up (schema and agents),
    the vector store is not ready and refuses writes, and once the collection is usable the
    background set-up makes it ready without a restart."""
    await local_qdrant._client.create_collection(
        local_qdrant.collection,
        vectors_config=models.VectorParams(size=EMBEDDING_DIM + 8, distance=models.Distance.COSINE),
    )
    res = Resources.build(settings, NEEDS, "test")
    await res.start()
    try:
        assert res.graph is not None and res.vectors is not None
        await res.checks["graph"]()
        assert await res.graph.get_agent(agent_id) is not None
        with pytest.raises(NotSetUp):
            await res.checks["qdrant"]()
        with pytest.raises(VectorStoreError):
            await res.vectors.upsert(uuid.uuid4(), VECTOR, {"line": "auto"})

        await local_qdrant._client.delete_collection(local_qdrant.collection)  # the operator's fix

        await helpers.eventually(res.checks["qdrant"])
        await res.vectors.upsert(uuid.uuid4(), VECTOR, {"line": "auto"})
    finally:
        await res.close()


async def test_a_store_down_at_start_is_tried_until_close(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_QDRANT_URL", "http://127.0.0.1:1")
    res = Resources.build(Settings(), NEEDS, "test")
    await res.start()
    with pytest.raises(NotSetUp):
        await res.checks["qdrant"]()
    await res.checks["graph"]()
    [retrying] = set_up_tasks()
    assert retrying.get_name() == "set-up qdrant"
    await asyncio.sleep(0.3)  # a few tries, each failing
    assert not retrying.done()
    await res.close()
    assert retrying.cancelled() and set_up_tasks() == []


async def test_a_collection_lost_while_running_fails_readiness_and_is_made_again(settings: Settings) -> None:
    res = Resources.build(settings, NEEDS, "test")
    await res.start()
    try:
        assert isinstance(res.vectors, QdrantVectorStore)
        await res.checks["qdrant"]()
        await res.vectors._client.delete_collection(res.vectors.collection)

        with pytest.raises(Exception, match="not found"):
            await res.checks["qdrant"]()

        await helpers.eventually(res.checks["qdrant"])
        await res.vectors.upsert(uuid.uuid4(), VECTOR, {"line": "auto"})
    finally:
        await res.close()


async def test_a_graph_set_up_that_failed_is_tried_again(
    settings: Settings, agent_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = EmbeddedGraphStore.ensure_schema
    reachable = asyncio.Event()

    async def until_reachable(store: EmbeddedGraphStore) -> None:
        if not reachable.is_set():
            raise OSError("graph not reachable yet")
        await real(store)

    monkeypatch.setattr(EmbeddedGraphStore, "ensure_schema", until_reachable)
    res = Resources.build(settings, NEEDS, "test")
    await res.start()
    try:
        assert res.graph is not None
        await res.checks["qdrant"]()
        await asyncio.sleep(0.3)  # a few tries, each failing
        with pytest.raises(NotSetUp):
            await res.checks["graph"]()

        reachable.set()

        await helpers.eventually(res.checks["graph"])
        assert await res.graph.get_agent(agent_id) is not None
    finally:
        await res.close()


async def test_agents_not_copied_at_start_are_copied_later_without_holding_up_readiness(
    settings: Settings, agent_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy of the agents fails only while the database or the graph is down, which their own
    checks report: the graph is ready, and the copy is made once it can be."""
    reachable = asyncio.Event()

    async def until_reachable(*args: Any) -> int:
        if not reachable.is_set():
            raise ConnectionError("database not reachable yet")
        return await sync_all(*args)

    monkeypatch.setattr("leadgen.core.resources.sync_all", until_reachable)
    res = Resources.build(settings, NEEDS, "test")
    await res.start()
    try:
        assert res.graph is not None
        await res.checks["graph"]()
        assert await res.graph.get_agent(agent_id) is None

        reachable.set()

        async def copied() -> None:
            assert res.graph is not None and await res.graph.get_agent(agent_id) is not None

        await helpers.eventually(copied)
    finally:
        await res.close()


async def test_every_store_is_ready_when_set_up(settings: Settings) -> None:
    res = Resources.build(settings, NEEDS, "test")
    await res.start()
    try:
        for check in ("database", "qdrant", "graph"):
            await res.checks[check]()
        assert res.vectors is not None

        async def filled_and_done() -> None:
            assert res.vectors is not None and await res.vectors.filled()
            assert set_up_tasks() == []

        await helpers.eventually(filled_and_done)  # the collection's fill: in the background, nothing to embed
    finally:
        await res.close()

"""How many copies of each shard the lead collection gets (``LEADGEN_QDRANT_REPLICATION_FACTOR``).

No Qdrant server runs on these machines, so the server side is checked on the requests the real
qdrant-client sends: an httpx transport answers the few REST calls ``ensure_collection`` makes, as
Qdrant 1.19 does, and records every request. Local mode runs for real.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from qdrant_client import AsyncQdrantClient

from leadgen.core.settings import ConfigError, Settings
from leadgen.stores.embedding import EMBEDDING_DIM, EMBEDDING_VERSION, embed_lead, word_key
from leadgen.stores.vectors import create_vector_store, versioned_collection
from leadgen.stores.vectors.qdrant_store import (
    FILLED_KEY,
    LEAD_VECTOR,
    VERSION_KEY,
    WORDS_VECTOR,
    QdrantVectorStore,
)

# The word slots' key (the platform derives its own of LEADGEN_SECURITY_PII_HASH_KEY).
WORD_KEY = word_key("test-pii-hash-key")

QDRANT_URL = "http://qdrant:6333"
BASE = "leads"
# The collection of this build's embedding version, which the requests name.
COLLECTION = versioned_collection(BASE)


class QdrantRestStandIn:
    """Qdrant's answers to collection_exists, create_collection, get_collection, update_collection's
    metadata and create_payload_index, with every request kept in ``requests`` as (method, path, JSON body)."""

    def __init__(self, existing: dict[str, dict[str, Any]] | None = None) -> None:
        self.collections: dict[str, dict[str, Any]] = dict(existing or {})
        self.requests: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body: Any = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        route = re.fullmatch(r"/collections/([^/]+)(/exists|/index)?", request.url.path)
        assert route is not None, f"unexpected request {request.method} {request.url}"
        name, tail = route.groups()
        if tail == "/exists":
            return _ok({"exists": name in self.collections})
        if tail == "/index":
            return _ok({"operation_id": 0, "status": "completed"})
        if request.method == "PUT":
            self.collections[name] = body
            return _ok(True)
        if request.method == "PATCH":
            held = self.collections[name]
            self.collections[name] = held | {"metadata": {**held.get("metadata", {}), **body["metadata"]}}
            return _ok(True)
        return _ok(_collection_info(self.collections[name]))

    def writes_to(self, path: str) -> list[tuple[str, Any]]:
        return [(method, body) for method, p, body in self.requests if p == path and method in ("PUT", "PATCH")]


def _ok(result: Any) -> httpx.Response:
    return httpx.Response(200, json={"result": result, "status": "ok", "time": 0.0})


def _collection_info(created: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "green",
        "optimizer_status": "ok",
        "segments_count": 0,
        "payload_schema": {},
        "config": {
            "params": {
                "vectors": created["vectors"],
                "sparse_vectors": created.get("sparse_vectors"),
                "replication_factor": created.get("replication_factor", 1),
            },
            "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
            "optimizer_config": {"default_segment_number": 0, "flush_interval_sec": 5},
            "metadata": created.get("metadata"),
        },
    }


def server_store(qdrant: QdrantRestStandIn, replication_factor: int) -> QdrantVectorStore:
    client = AsyncQdrantClient(url=QDRANT_URL, check_compatibility=False, transport=httpx.MockTransport(qdrant))
    return QdrantVectorStore(client, BASE, replication_factor=replication_factor)


class TestServerCollection:
    async def test_is_created_with_the_configured_factor(self) -> None:
        qdrant = QdrantRestStandIn()
        store = server_store(qdrant, replication_factor=2)
        await store.ensure_collection()
        await store.close()
        [(method, body)] = qdrant.writes_to(f"/collections/{COLLECTION}")
        assert method == "PUT"
        assert body["replication_factor"] == 2
        assert body["vectors"] == {LEAD_VECTOR: {"size": EMBEDDING_DIM, "distance": "Cosine"}}
        assert body["sparse_vectors"] == {WORDS_VECTOR: {}}

    async def test_that_exists_keeps_its_own_factor(self) -> None:
        """Qdrant would record a new factor without adding a replica, so the store changes nothing."""
        existing = {
            "vectors": {LEAD_VECTOR: {"size": EMBEDDING_DIM, "distance": "Cosine"}},
            "sparse_vectors": {WORDS_VECTOR: {}},
            "replication_factor": 1,
            "metadata": {VERSION_KEY: EMBEDDING_VERSION, FILLED_KEY: True},
        }
        qdrant = QdrantRestStandIn({COLLECTION: existing})
        store = server_store(qdrant, replication_factor=2)
        await store.ensure_collection()
        await store.close()
        assert qdrant.writes_to(f"/collections/{COLLECTION}") == []


class TestSettings:
    async def test_reach_the_server_store(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LEADGEN_QDRANT_URL", QDRANT_URL)
        monkeypatch.setenv("LEADGEN_QDRANT_REPLICATION_FACTOR", "2")
        store = create_vector_store(Settings())
        assert isinstance(store, QdrantVectorStore)
        assert store.replication_factor == 2
        await store.close()

    def test_default_to_one_copy(self) -> None:
        assert Settings().qdrant.replication_factor == 1

    def test_refuse_no_copy(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LEADGEN_QDRANT_REPLICATION_FACTOR", "0")
        with pytest.raises(ConfigError, match="LEADGEN_QDRANT_REPLICATION_FACTOR"):
            Settings()


async def test_local_mode_takes_a_factor_and_keeps_one_copy(tmp_path: Path) -> None:
    """qdrant-client's local mode accepts the argument and ignores it: one folder, one copy."""
    store = QdrantVectorStore.open_local(tmp_path / "qdrant", BASE)
    store.replication_factor = 2
    await store.ensure_collection()
    lead = uuid.uuid4()
    await store.upsert(lead, embed_lead({"line": "auto", "state": "CA", "score": 60}, WORD_KEY), {"line": "auto"})
    assert await store.get(lead) is not None
    await store.close()

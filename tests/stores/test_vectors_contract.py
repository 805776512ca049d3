"""The ``VectorStore`` contract, run against every implementation we ship.

- ``qdrant-local``: qdrant-client's local mode in a temporary folder - always.
- ``qdrant-server``: a Qdrant server at ``LEADGEN_TEST_QDRANT_URL`` (with ``LEADGEN_TEST_QDRANT_API_KEY``
  if it needs one), each test in its own collection, dropped afterwards. Only generated when the
  variable is set: these machines have no Qdrant server, and local mode runs the same client code.

The variables are read at import time because the suite's autouse fixture clears ``LEADGEN_*``.
"""

from __future__ import annotations

import asyncio
import enum
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from leadgen.core.settings import Settings
from leadgen.stores.embedding import EMBEDDING_DIM, EMBEDDING_VERSION, LeadEmbedding, embed_lead, query_words, word_key
from leadgen.stores.vectors import VectorStore, create_vector_store, versioned_collection
from leadgen.stores.vectors.qdrant_store import QdrantVectorStore, VectorStoreError

# The word slots' key (the platform derives its own of LEADGEN_SECURITY_PII_HASH_KEY).
WORD_KEY = word_key("test-pii-hash-key")

QDRANT_URL = os.environ.get("LEADGEN_TEST_QDRANT_URL")
QDRANT_API_KEY = os.environ.get("LEADGEN_TEST_QDRANT_API_KEY")
IMPLEMENTATIONS = ["qdrant-local"] + (["qdrant-server"] if QDRANT_URL else [])

Opener = Callable[[], Awaitable[QdrantVectorStore]]


@pytest.fixture(params=IMPLEMENTATIONS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens (and re-opens) a store on this test's own collection; closes them all afterwards."""
    collection = f"test_{uuid.uuid4().hex[:12]}"
    opened: list[QdrantVectorStore] = []

    async def opener() -> QdrantVectorStore:
        if request.param == "qdrant-local":
            store = QdrantVectorStore.open_local(tmp_path / "qdrant", collection)
        else:
            assert QDRANT_URL is not None
            store = QdrantVectorStore.open_server(QDRANT_URL, collection, api_key=QDRANT_API_KEY)
        opened.append(store)
        await store.ensure_collection()
        return store

    yield opener
    for store in opened:
        await store.close()
    if request.param == "qdrant-server":
        admin = AsyncQdrantClient(url=QDRANT_URL, api_key=QDRANT_API_KEY, check_compatibility=False)
        await admin.delete_collection(versioned_collection(collection))
        await admin.close()


@pytest.fixture
async def store(open_store: Opener) -> QdrantVectorStore:
    return await open_store()


def auto(score: int = 60, **extra: object) -> LeadEmbedding:
    row: dict[str, object] = {
        "line": "auto",
        "state": "CA",
        "score": score,
        "details": {"drivers": [{"age_first_licensed": 17}], "vehicles": [{"year": 2019, "make": "Honda"}]},
    }
    row.update(extra)
    return embed_lead(row, WORD_KEY)


def home(score: int = 60) -> LeadEmbedding:
    return embed_lead({"line": "home", "state": "TX", "score": score, "details": {"year_built": 1990}}, WORD_KEY)


def noted(notes: str, line: str = "auto", state: str = "CA") -> LeadEmbedding:
    return embed_lead({"line": line, "state": state, "score": 60, "notes": notes}, WORD_KEY)


def payload(
    line: str = "auto", state: str = "CA", outcome: str = "SCORED", agent: str | None = None
) -> dict[str, object]:
    result: dict[str, object] = {"line": line, "state": state, "outcome": outcome, "score": 60, "source": "s1"}
    if agent is not None:
        result["agent_id"] = agent
    return result


class TestCollection:
    async def test_is_a_vector_store(self, store: QdrantVectorStore) -> None:
        assert isinstance(store, VectorStore)

    async def test_ensure_collection_is_idempotent(self, store: QdrantVectorStore) -> None:
        lead = uuid.uuid4()
        await store.upsert(lead, auto(), payload())
        await store.ensure_collection()
        assert await store.get(lead) is not None

    async def test_refuses_a_collection_of_another_dimension(self, open_store: Opener, tmp_path: Path) -> None:
        store = await open_store()
        other = QdrantVectorStore(store._client, store.base, dim=EMBEDDING_DIM // 2)
        with pytest.raises(VectorStoreError, match="LEADGEN_QDRANT_COLLECTION"):
            await other.ensure_collection()

    async def test_rejects_a_vector_of_the_wrong_length(self, store: QdrantVectorStore) -> None:
        with pytest.raises(ValueError, match="dimension"):
            await store.upsert(uuid.uuid4(), LeadEmbedding([1.0, 0.0], {}), payload())
        with pytest.raises(ValueError, match="dimension"):
            await store.similar([1.0, 0.0])

    async def test_ping(self, store: QdrantVectorStore) -> None:
        await store.ping()


class TestUpsert:
    async def test_is_idempotent_and_replaces_the_payload(self, store: QdrantVectorStore) -> None:
        lead = uuid.uuid4()
        await store.upsert(lead, auto(), payload(outcome="SCORED"))
        await store.upsert(lead, auto(), payload(outcome="SCORED"))
        await store.upsert(lead, auto(), payload(outcome="ROUTED", agent="a1"))
        hits = await store.similar(auto().vector, limit=10)
        assert [hit.lead_id for hit in hits] == [lead]
        assert hits[0].payload["outcome"] == "ROUTED"
        assert hits[0].payload["agent_id"] == "a1"
        assert hits[0].score == pytest.approx(1.0, abs=1e-6)

    async def test_payload_values_are_made_json_safe(self, store: QdrantVectorStore) -> None:
        class Status(enum.StrEnum):
            CONVERTED = "CONVERTED"

        lead, agent = uuid.uuid4(), uuid.uuid4()
        received = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
        await store.upsert(
            lead, auto(), {"line": "auto", "outcome": Status.CONVERTED, "agent_id": agent, "received_at": received}
        )
        hit = await store.get(lead)
        assert hit is not None
        assert hit.payload == {
            "line": "auto",
            "outcome": "CONVERTED",
            "agent_id": str(agent),
            "received_at": received.timestamp(),
        }
        assert await store.similar(auto().vector, agent_id=str(agent), outcome="CONVERTED") != []

    async def test_get_of_an_unknown_lead_is_none(self, store: QdrantVectorStore) -> None:
        assert await store.get(uuid.uuid4()) is None
        assert await store.vector(uuid.uuid4()) is None

    async def test_vector_returns_what_was_stored(self, store: QdrantVectorStore) -> None:
        lead, embedding = uuid.uuid4(), auto()
        vector = embedding.vector
        await store.upsert(lead, embedding, payload())
        stored = await store.vector(lead)
        assert stored is not None and len(stored) == len(vector)
        assert max(abs(a - b) for a, b in zip(stored, vector, strict=True)) < 1e-5


class TestSetPayload:
    async def test_merges_fields_and_keeps_the_others(self, store: QdrantVectorStore) -> None:
        lead = uuid.uuid4()
        await store.upsert(lead, auto(), payload(outcome="ROUTED", agent="a1"))
        await store.set_payload(lead, {"outcome": "CONVERTED"})
        await store.set_payload(lead, {"outcome": "CONVERTED"})
        hit = await store.get(lead)
        assert hit is not None
        assert hit.payload["outcome"] == "CONVERTED"
        assert hit.payload["agent_id"] == "a1"
        assert hit.payload["line"] == "auto"

    async def test_changes_the_agent(self, store: QdrantVectorStore) -> None:
        lead = uuid.uuid4()
        await store.upsert(lead, auto(), payload(outcome="ROUTED", agent="a1"))
        await store.set_payload(lead, {"agent_id": "a2"})
        assert await store.similar(auto().vector, agent_id="a1") == []
        assert [h.lead_id for h in await store.similar(auto().vector, agent_id="a2")] == [lead]

    async def test_unknown_lead_is_a_no_op(self, store: QdrantVectorStore) -> None:
        await store.set_payload(uuid.uuid4(), {"outcome": "LOST"})
        assert await store.similar(auto().vector, limit=5) == []


class TestSimilar:
    @pytest.fixture
    async def stocked(self, store: QdrantVectorStore) -> dict[str, uuid.UUID]:
        leads = {
            "auto-ca-converted-a1": (auto(70), payload("auto", "CA", "CONVERTED", "a1")),
            "auto-ca-lost-a1": (auto(70), payload("auto", "CA", "LOST", "a1")),
            "auto-tx-converted-a2": (auto(70, state="TX"), payload("auto", "TX", "CONVERTED", "a2")),
            "home-tx-converted-a2": (home(), payload("home", "TX", "CONVERTED", "a2")),
            "auto-ca-scored": (auto(20), payload("auto", "CA", "SCORED")),
        }
        ids = {name: uuid.uuid4() for name in leads}
        for name, (vector, data) in leads.items():
            await store.upsert(ids[name], vector, data)
        return ids

    async def test_nearest_first(self, store: QdrantVectorStore, stocked: dict[str, uuid.UUID]) -> None:
        hits = await store.similar(auto(70).vector, limit=10)
        assert len(hits) == 5
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert {hits[0].lead_id, hits[1].lead_id} == {stocked["auto-ca-converted-a1"], stocked["auto-ca-lost-a1"]}
        assert hits[-1].lead_id == stocked["home-tx-converted-a2"]

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({"line": "home"}, {"home-tx-converted-a2"}),
            ({"state": "TX"}, {"auto-tx-converted-a2", "home-tx-converted-a2"}),
            ({"outcome": "CONVERTED"}, {"auto-ca-converted-a1", "auto-tx-converted-a2", "home-tx-converted-a2"}),
            ({"agent_id": "a1"}, {"auto-ca-converted-a1", "auto-ca-lost-a1"}),
            ({"line": "auto", "state": "CA", "outcome": "CONVERTED", "agent_id": "a1"}, {"auto-ca-converted-a1"}),
            ({"line": "life"}, set()),
        ],
    )
    async def test_filters(
        self,
        store: QdrantVectorStore,
        stocked: dict[str, uuid.UUID],
        filters: dict[str, str],
        expected: set[str],
    ) -> None:
        hits = await store.similar(
            auto(70).vector,
            limit=10,
            line=filters.get("line"),
            state=filters.get("state"),
            outcome=filters.get("outcome"),
            agent_id=filters.get("agent_id"),
        )
        assert {h.lead_id for h in hits} == {stocked[name] for name in expected}
        for hit in hits:
            for field, value in filters.items():
                assert hit.payload[field] == value

    async def test_limit_and_exclude(self, store: QdrantVectorStore, stocked: dict[str, uuid.UUID]) -> None:
        assert len(await store.similar(auto(70).vector, limit=2)) == 2
        assert await store.similar(auto(70).vector, limit=0) == []
        hits = await store.similar(auto(70).vector, limit=10, exclude=stocked["auto-ca-converted-a1"])
        assert stocked["auto-ca-converted-a1"] not in {h.lead_id for h in hits}
        assert len(hits) == 4


class TestMatchingWords:
    @pytest.fixture
    async def noted_leads(self, store: QdrantVectorStore) -> dict[str, uuid.UUID]:
        leads = {
            "divorce": (noted("Divorce settlement, needs a policy of her own."), payload("auto", "CA", "ROUTED")),
            "divorce-home": (noted("Divorce last month.", "home", "TX"), payload("home", "TX", "CONVERTED")),
            "renewal": (noted("Renewal soon, wants a cheaper premium."), payload("auto", "CA")),
            "no-notes": (noted(""), payload("auto", "CA")),
        }
        ids = {name: uuid.uuid4() for name in leads}
        await store.upsert_many([(ids[name], embedding, data) for name, (embedding, data) in leads.items()])
        return ids

    async def test_finds_only_the_leads_whose_notes_hold_a_word_closest_first(
        self, store: QdrantVectorStore, noted_leads: dict[str, uuid.UUID]
    ) -> None:
        hits = await store.matching_words(query_words("divorce settlement", WORD_KEY), limit=10)
        assert [hit.lead_id for hit in hits] == [noted_leads["divorce"], noted_leads["divorce-home"]]
        assert 1.0 >= hits[0].score > hits[1].score > 0.0
        assert hits[0].payload["outcome"] == "ROUTED"
        assert await store.matching_words(query_words("wildfire", WORD_KEY), limit=10) == []
        assert await store.matching_words({}, limit=10) == []

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({"line": "home"}, ["divorce-home"]),
            ({"state": "CA"}, ["divorce"]),
            ({"outcome": "CONVERTED"}, ["divorce-home"]),
            ({"line": "auto", "state": "CA", "outcome": "ROUTED"}, ["divorce"]),
            ({"line": "life"}, []),
        ],
    )
    async def test_filters(
        self,
        store: QdrantVectorStore,
        noted_leads: dict[str, uuid.UUID],
        filters: dict[str, str],
        expected: list[str],
    ) -> None:
        hits = await store.matching_words(query_words("divorce", WORD_KEY), limit=10, **filters)
        assert [hit.lead_id for hit in hits] == [noted_leads[name] for name in expected]

    async def test_limit(self, store: QdrantVectorStore, noted_leads: dict[str, uuid.UUID]) -> None:
        assert [h.lead_id for h in await store.matching_words(query_words("divorce", WORD_KEY), limit=1)] == [
            noted_leads["divorce-home"]  # the shorter note is more about the word
        ]
        assert await store.matching_words(query_words("divorce", WORD_KEY), limit=0) == []

    async def test_a_lead_embedded_again_keeps_only_its_new_words(
        self, store: QdrantVectorStore, noted_leads: dict[str, uuid.UUID]
    ) -> None:
        await store.upsert(noted_leads["renewal"], noted(""), payload())
        assert await store.matching_words(query_words("renewal", WORD_KEY), limit=10) == []
        await store.upsert(noted_leads["no-notes"], noted("Asks about a renewal."), payload())
        assert [h.lead_id for h in await store.matching_words(query_words("renewal", WORD_KEY))] == [
            noted_leads["no-notes"]
        ]


class TestAgentSuccess:
    async def test_scores_each_agent_by_its_converted_leads_of_the_line(self, store: QdrantVectorStore) -> None:
        query = auto(80, campaign="spring", source="s1", currently_insured=True).vector
        near = [auto(80, campaign="spring", source="s1", currently_insured=True) for _ in range(3)]
        far = auto(10, state="NY", campaign="winter", source="s9", currently_insured=False)
        for embedding, agent, outcome, line in [
            (near[0], "a-near", "CONVERTED", "auto"),
            (near[1], "a-near", "CONVERTED", "auto"),
            (far, "a-far", "CONVERTED", "auto"),
            (near[2], "a-lost", "LOST", "auto"),  # similar, but never converted
            (home(80), "a-home", "CONVERTED", "home"),  # converted, but another line
        ]:
            await store.upsert(uuid.uuid4(), embedding, payload(line, "CA", outcome, agent))
        result = await store.agent_success(query, ["a-near", "a-far", "a-lost", "a-home", "a-new", "a-near"], "auto", 5)
        assert set(result) == {"a-near", "a-far", "a-lost", "a-home", "a-new"}
        assert result["a-near"] == pytest.approx(1.0, abs=1e-6)
        assert 0.0 < result["a-far"] < result["a-near"]
        assert result["a-lost"] == result["a-home"] == result["a-new"] == 0.0

    async def test_is_the_mean_of_the_top_k(self, store: QdrantVectorStore) -> None:
        query = auto(80).vector
        embeddings = [auto(80), auto(50), auto(20)]
        for embedding in embeddings:
            await store.upsert(uuid.uuid4(), embedding, payload("auto", "CA", "CONVERTED", "a1"))
        scores = sorted((_cosine(query, e.vector) for e in embeddings), reverse=True)
        result = await store.agent_success(query, ["a1"], "auto", limit=2)
        assert result["a1"] == pytest.approx(sum(scores[:2]) / 2, abs=1e-5)

    async def test_no_agents(self, store: QdrantVectorStore) -> None:
        assert await store.agent_success(auto().vector, [], "auto") == {}


class TestDelete:
    async def test_erases_the_lead(self, store: QdrantVectorStore) -> None:
        lead, other = uuid.uuid4(), uuid.uuid4()
        await store.upsert(lead, auto(notes="renewal"), payload(outcome="CONVERTED", agent="a1"))
        await store.upsert(other, auto(), payload())
        await store.delete(lead)
        await store.delete(lead)
        await store.delete(uuid.uuid4())
        assert await store.get(lead) is None
        assert [h.lead_id for h in await store.similar(auto().vector, limit=10)] == [other]
        assert (await store.agent_success(auto().vector, ["a1"], "auto"))["a1"] == 0.0
        assert await store.matching_words(query_words("renewal", WORD_KEY)) == []


class TestPersistence:
    async def test_survives_a_reopen(self, open_store: Opener) -> None:
        first = await open_store()
        lead = uuid.uuid4()
        await first.upsert(lead, auto(), payload(outcome="CONVERTED", agent="a1"))
        await first.set_payload(lead, {"outcome": "LOST"})
        await first.close()
        second = await open_store()
        hit = await second.get(lead)
        assert hit is not None
        assert hit.payload["outcome"] == "LOST"
        assert [h.lead_id for h in await second.similar(auto().vector, line="auto")] == [lead]


class TestLocalMode:
    """What only the embedded twin has to get right: one folder, one client, many users."""

    async def test_stores_on_one_folder_share_the_client(self, tmp_path: Path) -> None:
        first = QdrantVectorStore.open_local(tmp_path / "q", "leads")
        second = QdrantVectorStore.open_local(tmp_path / "q", "leads")
        await first.ensure_collection()
        lead = uuid.uuid4()
        await first.upsert(lead, auto(), payload())
        await first.close()
        await first.close()  # closing twice is harmless
        assert await second.get(lead) is not None  # the shared client is still open
        await second.close()
        third = QdrantVectorStore.open_local(tmp_path / "q", "leads")
        assert await third.get(lead) is not None  # a new client after the last one closed
        await third.close()

    async def test_usable_from_several_threads_and_loops(self, tmp_path: Path) -> None:
        setup = QdrantVectorStore.open_local(tmp_path / "q", "leads")
        await setup.ensure_collection()
        errors: list[BaseException] = []

        def worker() -> None:
            async def run() -> None:
                store = QdrantVectorStore.open_local(tmp_path / "q", "leads")
                try:
                    for score in range(25):
                        await store.upsert(uuid.uuid4(), auto(score), payload())
                        await store.similar(auto(score).vector, limit=3)
                finally:
                    await store.close()

            try:
                asyncio.run(run())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        await asyncio.to_thread(_join, threads)
        assert errors == []
        assert len(await setup.similar(auto().vector, limit=500)) == 100
        await setup.close()


class TestFactory:
    async def test_local_mode_under_the_data_dir_by_default(self, tmp_path: Path) -> None:
        settings = Settings(common={"data_dir": tmp_path}, qdrant={"collection": "factory"})
        store = create_vector_store(settings)
        assert isinstance(store, QdrantVectorStore)
        assert store.is_local
        await store.ensure_collection()
        assert (tmp_path / "qdrant" / "collection" / f"factory-{EMBEDDING_VERSION}").is_dir()
        await store.close()

    @pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")
    async def test_server_when_a_url_is_set(self, tmp_path: Path) -> None:
        settings = Settings(
            common={"data_dir": tmp_path}, qdrant={"url": "http://qdrant.invalid:6333", "api_key": "k" * 32}
        )
        store = create_vector_store(settings)
        assert isinstance(store, QdrantVectorStore)
        assert not store.is_local
        assert store.collection == f"leads-{EMBEDDING_VERSION}"
        assert not (tmp_path / "qdrant").exists()
        await store.close()


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join()

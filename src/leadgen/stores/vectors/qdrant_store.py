"""Qdrant behind ``VectorStore``: the server in production, qdrant-client's local mode embedded.

Each point has two named vectors: ``lead``, the 128 floats (cosine), which ``similar`` and
``agent_success`` query, and ``words``, the note words as a sparse vector (dot product of unit
vectors: their cosine), which only ``matching_words`` queries. A sparse query finds only the points
that share one of its slots, in local mode and on the server alike: word search answers the leads
whose notes hold a word of the query, and none that do not.

Both shapes are the same class and the same calls on ``AsyncQdrantClient``; only the constructor
argument differs (``url=`` or ``path=``). qdrant-client 1.20's ``AsyncQdrantClient(path=...)`` runs
``AsyncQdrantLocal`` in-process, so there is no need for the sync client in ``asyncio.to_thread``:
one code path, one client type, no thread hop per call in production. The price, in local mode
only: its work runs on the event loop. Writes are cheap (about 1.7 ms CPU per upsert, an SQLite
insert), but local mode evaluates payload filters in Python, point by point: a filtered ``similar``
or ``agent_success`` costs about 25-30 us of CPU per stored point (15 ms at 500 leads, 50-60 ms at
2,000; ``bench/embedding/run.py --qdrant N`` measures it). Conditions are therefore ordered most
selective first, and ``agent_success`` is one grouped query rather than one per agent. qdrant-client
itself warns beyond 20,000 points; past a few thousand leads, use the server, whose payload indexes
make the same filters cheap.

Local mode holds an exclusive file lock on its folder, so a second client on the same path - even in
the same process - fails. ``QdrantVectorStore.open_local`` therefore shares one client per folder
across the process (reference-counted; the last ``close()`` closes it), and serialises calls on it
with a re-entrant lock, because the API and the task runtime may use it from different threads
(``AsyncQdrantLocal`` does not suspend inside a call, so holding the lock across the ``await``
blocks no other task of the same loop). Two *processes* cannot share a local-mode folder: that is
what the server is for.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from leadgen.stores.embedding import EMBEDDING_DIM, EMBEDDING_VERSION, LeadEmbedding, WordVector
from leadgen.stores.vectors.base import CONVERTED, INDEXED_FIELDS, Hit, Point, normalise_payload, versioned_collection

# The collection's metadata: the embedding its vectors are of (a collection without it was created
# before the version was recorded, when every vector was of the first one), and whether every lead
# the database holds was embedded into it (a collection is created empty, and filled after).
VERSION_KEY = "embedding_version"
FILLED_KEY = "filled"
UNRECORDED_VERSION = "hash-v1"
REBUILD_COMMAND = "leadgen vectors rebuild"
# The names of a point's two vectors (``stores.embedding.LeadEmbedding``).
LEAD_VECTOR = "lead"
WORDS_VECTOR = "words"


class VectorStoreError(Exception):
    """The collection cannot be used as configured (another vector size, another embedding)."""


@dataclass
class _LocalHandle:
    client: AsyncQdrantClient
    guard: threading.RLock
    users: int = 0


_local_handles: dict[str, _LocalHandle] = {}
_local_handles_lock = threading.Lock()


class QdrantVectorStore:
    """``VectorStore`` on the collection of this build's embedding version (cosine distance, one point
    per lead), named after ``base`` (``LEADGEN_QDRANT_COLLECTION``) and the version."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        base: str,
        *,
        local_path: str | None = None,
        guard: contextlib.AbstractContextManager[Any] | None = None,
        dim: int = EMBEDDING_DIM,
        version: str = EMBEDDING_VERSION,
        replication_factor: int = 1,
    ) -> None:
        self._client = client
        self.base = base
        self.collection = versioned_collection(base, version)
        self.dim = dim
        self.version = version
        self.replication_factor = replication_factor
        self._local_path = local_path
        self._guard: contextlib.AbstractContextManager[Any] = guard or contextlib.nullcontext()
        self._closed = False
        # Whether the collection was found to hold this build's vectors; until then every write and
        # search checks it first, so that vectors of two embeddings never meet in one collection.
        self._checked = False

    @classmethod
    def open_server(
        cls,
        url: str,
        base: str,
        *,
        api_key: str | None = None,
        timeout: int = 10,
        replication_factor: int = 1,
    ) -> QdrantVectorStore:
        """A store on a Qdrant server (REST); ``url`` like ``http://qdrant:6333`` (no port means 6333).

        ``replication_factor`` copies of each shard are made when this store creates the collection.
        """
        # A trailing "/" would become a path prefix ("//collections") in qdrant-client's URL handling.
        # No version probe at construction: it runs in a thread before the server may be up (a pod
        # starting beside Qdrant) and only warns; the manifests pin the server's version instead.
        client = AsyncQdrantClient(url=url.rstrip("/"), api_key=api_key, timeout=timeout, check_compatibility=False)
        return cls(client, base, replication_factor=replication_factor)

    @classmethod
    def open_local(cls, path: Path, base: str) -> QdrantVectorStore:
        """A store in qdrant-client's local mode under ``path``, sharing the process's one client."""
        key = str(path.expanduser().resolve())
        with _local_handles_lock:
            handle = _local_handles.get(key)
            if handle is None:
                Path(key).mkdir(parents=True, exist_ok=True)
                handle = _LocalHandle(AsyncQdrantClient(path=key), threading.RLock())
                _local_handles[key] = handle
            handle.users += 1
        return cls(handle.client, base, local_path=key, guard=handle.guard)

    @property
    def is_local(self) -> bool:
        return self._local_path is not None

    async def ensure_collection(self, *, replace_stale: bool = False) -> None:
        with self._guard:
            if replace_stale and await self._client.collection_exists(self.collection):
                info = await self._client.get_collection(self.collection)
                if self._problem(info) is not None:
                    # Its vectors are of no use to this build: they are embedded again from the database.
                    await self._client.delete_collection(self.collection)
            if not await self._client.collection_exists(self.collection):
                try:
                    # Set only here: Qdrant does not add replicas to a collection that exists when its
                    # factor is raised (docs/KUBERNETES_SETUP.md says how an operator adds them). Writes
                    # keep Qdrant's write_consistency_factor of 1: they still go to every live replica,
                    # and a higher one would refuse them while a peer is drained.
                    await self._client.create_collection(
                        self.collection,
                        vectors_config={
                            LEAD_VECTOR: models.VectorParams(size=self.dim, distance=models.Distance.COSINE)
                        },
                        sparse_vectors_config={WORDS_VECTOR: models.SparseVectorParams()},
                        replication_factor=self.replication_factor,
                        metadata={VERSION_KEY: self.version, FILLED_KEY: False},
                    )
                except Exception:
                    # Another replica created it between our check and our create.
                    if not await self._client.collection_exists(self.collection):
                        raise
            info = await self._client.get_collection(self.collection)
            self._check(info)
            if self.is_local:
                return  # local mode has no payload indexes (its search is exact anyway)
            existing = info.payload_schema or {}
            for name, schema in INDEXED_FIELDS.items():
                if name not in existing:
                    await self._client.create_payload_index(
                        self.collection, name, field_schema=models.PayloadSchemaType(schema), wait=True
                    )

    def _check(self, info: models.CollectionInfo) -> None:
        """Raise unless the collection holds vectors of this build's size and embedding."""
        problem = self._problem(info)
        self._checked = problem is None
        if problem is not None:
            raise VectorStoreError(problem)

    def _problem(self, info: models.CollectionInfo) -> str | None:
        held = self._other_vectors(info.config.params)
        if held is None:
            version = (info.config.metadata or {}).get(VERSION_KEY, UNRECORDED_VERSION)
            if version == self.version:
                return None
            held = f"embeddings {version!r}, this build writes {self.version!r}"
        return (
            f"Qdrant collection {self.collection!r} holds {held}: run `{REBUILD_COMMAND}` to replace it with "
            f"this build's, or set LEADGEN_QDRANT_COLLECTION to a new name"
        )

    def _other_vectors(self, params: models.CollectionParams) -> str | None:
        """What the collection holds instead of this build's two vectors, or None when it holds them."""
        vectors = params.vectors
        lead = vectors.get(LEAD_VECTOR) if isinstance(vectors, dict) else None
        words = (params.sparse_vectors or {}).get(WORDS_VECTOR)
        if lead is not None and lead.size == self.dim and words is not None:
            return None
        if isinstance(vectors, models.VectorParams):
            held = f"unnamed vectors of {vectors.size} dimensions"
        elif lead is not None and lead.size != self.dim:
            held = f"{LEAD_VECTOR!r} vectors of {lead.size} dimensions"
        else:
            named = sorted([*(vectors or {}), *(params.sparse_vectors or {})])
            held = f"the vectors {', '.join(map(repr, named)) or 'of no name'}"
        return f"{held}, this build writes {LEAD_VECTOR!r} of {self.dim} dimensions and sparse {WORDS_VECTOR!r}"

    async def filled(self) -> bool:
        """Whether every lead the database held was embedded into the collection (``mark_filled``)."""
        with self._guard:
            info = await self._client.get_collection(self.collection)
        return bool((info.config.metadata or {}).get(FILLED_KEY, False))

    async def mark_filled(self) -> None:
        with self._guard:
            await self._client.update_collection(self.collection, metadata={FILLED_KEY: True})

    async def other_versions(self) -> list[str]:
        """The collections of ``base`` that other embedding versions wrote (and the one named ``base``
        alone, of the releases before collections were versioned), which this build does not use."""
        others = []
        with self._guard:
            response = await self._client.get_collections()
            for item in response.collections:
                if item.name == self.collection or not item.name.startswith(self.base):
                    continue
                if item.name != self.base:
                    # Another collection may share the prefix ("leads-archive"): only a version's counts.
                    info = await self._client.get_collection(item.name)
                    version = (info.config.metadata or {}).get(VERSION_KEY)
                    if version is None or item.name != versioned_collection(self.base, str(version)):
                        continue
                others.append(item.name)
        return sorted(others)

    async def drop(self, collection: str) -> None:
        """Delete a collection of ``other_versions``; never this build's."""
        if collection not in await self.other_versions():
            raise ValueError(f"{collection!r} is not a collection of another embedding version of {self.base!r}")
        with self._guard:
            await self._client.delete_collection(collection)

    async def _usable(self) -> None:
        """Check the collection once, before the first write or search."""
        if not self._checked:
            with self._guard:
                info = await self._client.get_collection(self.collection)
            self._check(info)

    async def upsert(self, lead_id: uuid.UUID, embedding: LeadEmbedding, payload: Mapping[str, Any]) -> None:
        await self.upsert_many([(lead_id, embedding, payload)])

    async def upsert_many(self, points: Sequence[Point]) -> None:
        structs = []
        for lead_id, embedding, payload in points:
            self._check_dim(embedding.vector)
            vectors: dict[str, models.Vector] = {LEAD_VECTOR: embedding.vector}
            if embedding.words:
                # A lead without note words has no word vector, which no word search finds.
                vectors[WORDS_VECTOR] = _sparse(embedding.words)
            structs.append(models.PointStruct(id=str(lead_id), vector=vectors, payload=normalise_payload(payload)))
        if not structs:
            return
        await self._usable()
        with self._guard:
            await self._client.upsert(self.collection, points=structs, wait=True)

    async def set_payload(self, lead_id: uuid.UUID, fields: Mapping[str, Any]) -> None:
        await self._usable()
        # A filter selector rather than an id list: the server answers 404 for an unknown id in a
        # list, and a lead that was never embedded (rejected, erased) is not an error here.
        with self._guard:
            await self._client.set_payload(
                self.collection, payload=normalise_payload(fields), points=_only(lead_id), wait=True
            )

    async def get(self, lead_id: uuid.UUID) -> Hit | None:
        with self._guard:
            records = await self._client.retrieve(self.collection, ids=[str(lead_id)], with_payload=True)
        if not records:
            return None
        return Hit(lead_id, 1.0, dict(records[0].payload or {}))

    async def vector(self, lead_id: uuid.UUID) -> list[float] | None:
        with self._guard:
            records = await self._client.retrieve(self.collection, ids=[str(lead_id)], with_vectors=[LEAD_VECTOR])
        stored = records[0].vector if records else None
        vector = stored.get(LEAD_VECTOR) if isinstance(stored, dict) else None
        if not isinstance(vector, list):
            return None
        return [float(v) for v in vector]  # type: ignore[arg-type]

    async def similar(
        self,
        vector: list[float],
        *,
        line: str | None = None,
        state: str | None = None,
        outcome: str | None = None,
        agent_id: str | None = None,
        limit: int = 10,
        exclude: uuid.UUID | None = None,
    ) -> list[Hit]:
        self._check_dim(vector)
        if limit < 1:
            return []
        await self._usable()
        # Most selective first: local mode evaluates conditions in order, in Python, point by point.
        query_filter = _filter(
            {"agent_id": agent_id, "outcome": outcome, "state": state, "line": line}, exclude=exclude
        )
        with self._guard:
            response = await self._client.query_points(
                self.collection,
                query=vector,
                using=LEAD_VECTOR,
                query_filter=query_filter,
                limit=limit,
                with_payload=True,
            )
        return [_hit(point) for point in response.points]

    async def matching_words(
        self,
        words: WordVector,
        *,
        line: str | None = None,
        state: str | None = None,
        outcome: str | None = None,
        limit: int = 10,
    ) -> list[Hit]:
        if not words or limit < 1:
            return []
        await self._usable()
        query_filter = _filter({"outcome": outcome, "state": state, "line": line})
        with self._guard:
            response = await self._client.query_points(
                self.collection,
                query=_sparse(words),
                using=WORDS_VECTOR,
                query_filter=query_filter,
                limit=limit,
                with_payload=True,
            )
        # Every weight is positive: a lead sharing no word with the query scores 0 (were it returned).
        return [_hit(point) for point in response.points if point.score > 0.0]

    async def agent_success(
        self, vector: list[float], agent_ids: list[str], line: str, limit: int = 5
    ) -> dict[str, float]:
        self._check_dim(vector)
        agents = list(dict.fromkeys(str(agent) for agent in agent_ids))
        result = dict.fromkeys(agents, 0.0)
        if not agents or limit < 1:
            return result
        await self._usable()
        # One grouped query for every agent rather than one query per agent: the server groups
        # natively, and local mode then scans its points once instead of once per agent.
        query_filter = models.Filter(
            must=[
                models.FieldCondition(key="agent_id", match=models.MatchAny(any=agents)),
                models.FieldCondition(key="outcome", match=models.MatchValue(value=CONVERTED)),
                models.FieldCondition(key="line", match=models.MatchValue(value=line)),
            ]
        )
        with self._guard:
            grouped = await self._client.query_points_groups(
                self.collection,
                group_by="agent_id",
                query=vector,
                using=LEAD_VECTOR,
                query_filter=query_filter,
                limit=len(agents),
                group_size=limit,
                with_payload=False,
            )
        for group in grouped.groups:
            scores = [_clamp(point.score) for point in group.hits]
            if str(group.id) in result and scores:
                result[str(group.id)] = sum(scores) / len(scores)
        return result

    async def delete(self, lead_id: uuid.UUID) -> None:
        with self._guard:
            await self._client.delete(self.collection, points_selector=_only(lead_id), wait=True)
        # Listed at each erasure, never remembered: the collection of a release rolling out now may
        # be created (and filled) at any moment, and must lose the lead too.
        for name in await self.other_versions():
            with self._guard:
                try:
                    await self._client.delete(name, points_selector=_only(lead_id), wait=True)
                except Exception:
                    if await self._client.collection_exists(name):
                        raise
                    # Dropped since it was listed (``vectors rebuild --drop-other-versions``): nothing to erase.

    async def ping(self) -> None:
        """Also fails while the collection is missing or holds other vectors than this build writes."""
        with self._guard:
            info = await self._client.get_collection(self.collection)
        self._check(info)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._local_path is None:
            await self._client.close()
            return
        with _local_handles_lock:
            handle = _local_handles[self._local_path]
            handle.users -= 1
            last = handle.users == 0
            if last:
                del _local_handles[self._local_path]
        if last:
            with handle.guard:
                await handle.client.close()

    def _check_dim(self, vector: list[float]) -> None:
        if len(vector) != self.dim:
            raise ValueError(f"expected a {self.dim}-dimension vector, got {len(vector)}")


def _only(lead_id: uuid.UUID) -> models.FilterSelector:
    return models.FilterSelector(filter=models.Filter(must=[models.HasIdCondition(has_id=[str(lead_id)])]))


def _sparse(words: WordVector) -> models.SparseVector:
    return models.SparseVector(indices=list(words), values=list(words.values()))


def _filter(fields: Mapping[str, str | None], *, exclude: uuid.UUID | None = None) -> models.Filter | None:
    must: list[models.Condition] = [
        models.FieldCondition(key=key, match=models.MatchValue(value=str(value)))
        for key, value in fields.items()
        if value is not None
    ]
    must_not: list[models.Condition] = []
    if exclude is not None:
        must_not.append(models.HasIdCondition(has_id=[str(exclude)]))
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


def _hit(point: models.ScoredPoint) -> Hit:
    return Hit(uuid.UUID(str(point.id)), _clamp(point.score), dict(point.payload or {}))


def _clamp(score: float) -> float:
    """Cosine similarity, without the float noise that puts identical vectors at 1.0000000079."""
    return min(1.0, max(-1.0, float(score)))

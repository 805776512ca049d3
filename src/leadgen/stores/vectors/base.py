"""The vector store interface: lead embeddings with a filterable payload.

One point per lead, keyed by the lead id, with the lead's two vectors (``stores.embedding``): its
``EMBEDDING_DIM`` floats, which ``similar`` and ``agent_success`` compare, and its note words, which
only ``matching_words`` (word search) compares. The payload holds only what filters and explanations
need - never contact PII, nor the notes or their words:

====================  ============================================================================
``line``              insurance line (``auto``, ``home``, ...)
``state``             two-letter state code
``outcome``           the lead's status (``SCORED``, ``ROUTED``, ... ``CONVERTED``, ``LOST``)
``agent_id``          the agent who holds (or held) the lead, as a string; absent until routed
``source``            source id or name
``score``             0-100
``received_at``       epoch seconds (a float, so range filters work in every Qdrant mode)
====================  ============================================================================
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol, runtime_checkable

from leadgen.stores.embedding import EMBEDDING_VERSION, LeadEmbedding, WordVector

CONVERTED = "CONVERTED"
# Payload fields with a payload index in server mode, and the index type of each.
INDEXED_FIELDS: dict[str, str] = {
    "line": "keyword",
    "state": "keyword",
    "outcome": "keyword",
    "agent_id": "keyword",
    "source": "keyword",
    "score": "integer",
    "received_at": "float",
}
# One lead's point: its id, its embedding, its payload.
Point = tuple[uuid.UUID, LeadEmbedding, Mapping[str, Any]]


def versioned_collection(base: str, version: str = EMBEDDING_VERSION) -> str:
    """The collection of one embedding version: each version writes its own, so that a release that
    embeds leads differently runs beside the one before it while it rolls out, each with its vectors."""
    return f"{base}-{version}"


@dataclass(frozen=True)
class Hit:
    """One search result: the lead, its cosine similarity (-1..1, higher is closer; 0..1 for word
    search), its payload."""

    lead_id: uuid.UUID
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class VectorStore(Protocol):
    """Lead embeddings and "similar leads that converted"; every method is async. Writes and searches
    are refused while the collection holds vectors of another size or embedding."""

    # The collection this build writes and searches: one per embedding version.
    collection: str

    async def ensure_collection(self, *, replace_stale: bool = False) -> None:
        """Create the collection of this build's embedding version (``stores.embedding.EMBEDDING_VERSION``)
        and its payload indexes if missing (idempotent; call at start-up). Raise if it holds vectors of
        another size or embedding; with ``replace_stale``, replace such a collection with an empty one."""

    async def filled(self) -> bool:
        """Whether the collection holds every lead the database held when it was filled: false for a
        collection created since, until ``mark_filled``."""

    async def mark_filled(self) -> None:
        """Record that every lead the database holds was embedded into the collection."""

    async def other_versions(self) -> list[str]:
        """The collections other embedding versions wrote, which this build does not use."""

    async def drop(self, collection: str) -> None:
        """Delete one of ``other_versions``."""

    async def upsert(self, lead_id: uuid.UUID, embedding: LeadEmbedding, payload: Mapping[str, Any]) -> None:
        """Store or replace the lead's vectors and payload (running it twice is harmless)."""

    async def upsert_many(self, points: Sequence[Point]) -> None:
        """``upsert`` of several leads in one request."""

    async def set_payload(self, lead_id: uuid.UUID, fields: Mapping[str, Any]) -> None:
        """Merge ``fields`` into the lead's payload (new outcome, new agent); no-op for unknown leads."""

    async def get(self, lead_id: uuid.UUID) -> Hit | None:
        """The lead's stored payload (score 1.0), or None."""

    async def vector(self, lead_id: uuid.UUID) -> list[float] | None:
        """The lead's stored ``EMBEDDING_DIM`` floats (``LeadEmbedding.vector``), or None."""

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
        """The nearest leads to ``vector`` (``EMBEDDING_DIM`` floats) matching every given filter,
        closest first."""

    async def matching_words(
        self,
        words: WordVector,
        *,
        line: str | None = None,
        state: str | None = None,
        outcome: str | None = None,
        limit: int = 10,
    ) -> list[Hit]:
        """The leads whose notes hold a word of ``words`` (``stores.embedding.query_words``) and that
        match every given filter, closest first; only those, so none for empty ``words``."""

    async def agent_success(
        self, vector: list[float], agent_ids: list[str], line: str, limit: int = 5
    ) -> dict[str, float]:
        """For each agent: mean similarity of ``vector`` to the agent's ``limit`` closest CONVERTED
        leads of ``line``; 0.0 for an agent with none. Every agent id is a key of the result."""

    async def delete(self, lead_id: uuid.UUID) -> None:
        """Remove the lead's point (privacy erasure) from this build's collection and from every
        collection of ``other_versions``: during a rollout, a process of either release may carry out
        the erasure of a lead that both collections hold. No-op where it is absent."""

    async def ping(self) -> None:
        """Raise if the store does not answer, or its collection is missing or holds vectors of
        another size or embedding (readiness)."""

    async def close(self) -> None:
        """Release the client (the shared local-mode client when the last user closes)."""


def normalise_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe payload values: UUIDs and enums as strings, datetimes as epoch seconds (UTC)."""
    return {key: _value(value) for key, value in payload.items()}


def _value(value: object) -> Any:
    if isinstance(value, enum.Enum):
        return _value(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        # Naive datetimes are UTC, as everywhere in this code base (models.base.utcnow).
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.timestamp()
    if isinstance(value, date):
        return value.isoformat()
    return value

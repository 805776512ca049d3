"""Similar-lead search over the lead embeddings (orchestrator): for the dashboard and for matching."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from leadgen.auth.deps import StaffPrincipal
from leadgen.core.deps import ResourcesDep
from leadgen.core.errors import NotFound
from leadgen.stores.embedding import embed_text
from leadgen.stores.vectors import Hit, VectorStore

router = APIRouter(prefix="/api/v1/search", tags=["search"])
Outcome = Literal["ROUTED", "ACCEPTED", "CONTACTED", "QUOTED", "CONVERTED", "LOST", "RETURNED", "UNASSIGNED"]


class SimilarLead(BaseModel):
    lead_id: uuid.UUID
    similarity: float
    line: str | None
    state: str | None
    outcome: str | None
    score: float | None
    agent_id: str | None


def _out(hits: list[Hit]) -> list[SimilarLead]:
    def field(hit: Hit, name: str) -> Any:
        return hit.payload.get(name)

    return [
        SimilarLead(
            lead_id=h.lead_id,
            similarity=round(h.score, 4),
            line=field(h, "line"),
            state=field(h, "state"),
            outcome=field(h, "outcome"),
            score=field(h, "score"),
            agent_id=field(h, "agent_id"),
        )
        for h in hits
    ]


def _store(resources: ResourcesDep) -> VectorStore:
    if resources.vectors is None:
        raise RuntimeError("this target has no vector store")
    return resources.vectors


@router.get("")
async def search(
    _: StaffPrincipal,
    resources: ResourcesDep,
    q: Annotated[str, Query(min_length=2, max_length=200, description="Words from lead notes, e.g. 'renewal sr22'.")],
    line: str | None = None,
    state: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[SimilarLead]:
    """Leads whose notes and attributes are closest to the words given, with optional filters."""
    hits = await _store(resources).similar(
        embed_text(q), line=line, state=state.upper() if state else None, outcome=outcome, limit=limit
    )
    return _out(hits)


@router.get("/similar/{lead_id}", responses={404: {"description": "The lead has no embedding yet"}})
async def similar_to(
    lead_id: uuid.UUID,
    _: StaffPrincipal,
    resources: ResourcesDep,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[SimilarLead]:
    """The leads most like this one (same line), e.g. ``outcome=CONVERTED`` for what worked before."""
    store = _store(resources)
    vector = await store.vector(lead_id)
    found = await store.get(lead_id)
    if vector is None or found is None:
        raise NotFound(f"lead {lead_id} has no embedding yet")
    hits = await store.similar(vector, line=found.payload.get("line"), outcome=outcome, limit=limit, exclude=lead_id)
    return _out(hits)

"""Lead search over the lead embeddings (orchestrator), for the dashboard: leads whose notes hold some
words (their word vectors), and leads like a lead (their 128 floats)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.deps import StaffPrincipal
from leadgen.core.deps import ResourcesDep, SessionDep
from leadgen.core.errors import NotFound
from leadgen.leads import repository
from leadgen.leads.geography import STATES
from leadgen.leads.lifecycle import Line
from leadgen.stores.embedding import query_words, word_key
from leadgen.stores.vectors import Hit, VectorStore

router = APIRouter(prefix="/api/v1/search", tags=["search"])
Outcome = Literal["ROUTED", "ACCEPTED", "CONTACTED", "QUOTED", "CONVERTED", "LOST", "RETURNED", "UNASSIGNED"]
# Hits asked of the vector store beyond the limit, to stand in for anonymised leads it has yet to
# forget (the erasure's ``lead.erased`` task has not run), which the answer leaves out.
_SPARE_HITS = 10


def _state_code(value: str) -> str:
    state = value.upper()
    if state not in STATES:
        raise ValueError("not a US state code")
    return state


StateCode = Annotated[str, AfterValidator(_state_code)]


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


async def _shown(session: AsyncSession, hits: list[Hit], limit: int) -> list[SimilarLead]:
    """The hits of leads that still exist and are not anonymised, at most ``limit`` of them."""
    live = await repository.not_anonymised(session, {hit.lead_id for hit in hits})
    return _out([hit for hit in hits if hit.lead_id in live][:limit])


@router.get("")
async def search(
    _: StaffPrincipal,
    resources: ResourcesDep,
    session: SessionDep,
    q: Annotated[
        str,
        Query(
            min_length=2,
            max_length=200,
            description="Words from lead notes, e.g. 'renewal divorce': the leads whose notes hold one of them, "
            "those whose notes are most about them first. As from the notes, words with a digit, stop words, "
            "words under three letters and capitalised words after the first (taken for names) are left out; "
            "a query of none but those finds nothing.",
        ),
    ],
    line: Line | None = None,
    state: Annotated[StateCode | None, Query(min_length=2, max_length=2, description="Two-letter code.")] = None,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[SimilarLead]:
    """Leads whose notes hold one of the words given, with optional filters; ``similarity`` is the
    cosine of the query's words and the note's (0 to 1). Anonymised leads are left out."""
    words = query_words(q, word_key(resources.settings.security.pii_hash_key.get_secret_value()))
    if not words:
        return []
    hits = await _store(resources).matching_words(
        words, line=line, state=state, outcome=outcome, limit=limit + _SPARE_HITS
    )
    return await _shown(session, hits, limit)


@router.get(
    "/similar/{lead_id}",
    responses={404: {"description": "No such lead, the lead is anonymised, or it has no embedding yet"}},
)
async def similar_to(
    lead_id: uuid.UUID,
    _: StaffPrincipal,
    resources: ResourcesDep,
    session: SessionDep,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[SimilarLead]:
    """The leads most like this one (same line), e.g. ``outcome=CONVERTED`` for what worked before.
    Anonymised leads are left out, and an anonymised lead has none."""
    if not await repository.not_anonymised(session, {lead_id}):
        raise NotFound(f"no lead {lead_id} to search from: unknown or anonymised")
    store = _store(resources)
    vector = await store.vector(lead_id)
    found = await store.get(lead_id)
    if vector is None or found is None:
        raise NotFound(f"lead {lead_id} has no embedding yet")
    line = found.payload.get("line")
    hits = await store.similar(vector, line=line, outcome=outcome, limit=limit + _SPARE_HITS, exclude=lead_id)
    return await _shown(session, hits, limit)

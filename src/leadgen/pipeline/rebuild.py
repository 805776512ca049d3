"""The derived stores rebuilt from PostgreSQL, the system of record, after one lost its data
(``leadgen graph rebuild``, ``leadgen vectors rebuild``).

The pipeline links a lead's identities in the graph and embeds it once, when it screens the lead:
a graph or a collection that lost its data gets neither back by itself, and repeat leads are then
no longer found, nor similar converted leads. A rebuild writes what the pipeline would have
written, reading the leads in batches by id, each batch in a short transaction of its own. Every
write is an idempotent upsert, so a run cut short is run again, and the platform works meanwhile.
Every erased lead is then removed from the store (again): a store restored from a snapshot holds
those erased after it, and a lead erased during the run may have been written after its erasure.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadgen.agents.graph_sync import sync_all
from leadgen.core import db
from leadgen.core.settings import Settings
from leadgen.leads import repository as leads
from leadgen.leads.lifecycle import LeadStatus, Line
from leadgen.models import Lead, Source
from leadgen.pipeline.service import dedupe_window_days, lead_identities, lead_row, vector_payload
from leadgen.stores.embedding import WordKey, embed_lead
from leadgen.stores.graph import GraphStore
from leadgen.stores.vectors import VectorStore
from leadgen.stores.vectors.base import Point

# PostgreSQL's advisory lock of the process filling a new collection (core.migrate's is 7245001,
# routing's 7245002, dedupe's space 7245003).
VECTOR_FILL_LOCK = 7245004
# Told how many leads are done so far, after each batch.
Progress = Callable[[int], None]
Sessions = async_sessionmaker[AsyncSession]
Columns = TypeVarTuple("Columns")


@dataclass(frozen=True)
class GraphRebuilt:
    agents: int
    leads: int
    since: datetime
    erased: int


@dataclass(frozen=True)
class VectorsRebuilt:
    leads: int
    erased: int


async def rebuild_graph(
    sessions: Sessions,
    settings: Settings,
    graph: GraphStore,
    now: datetime,
    *,
    batch_size: int,
    progress: Progress | None = None,
) -> GraphRebuilt:
    """The graph's schema, every agent, and the identity links of every lead that may be a repeat
    lead's original: live (not a test lead, not erased) and received within the longest dedupe
    window (``LEADGEN_INTAKE_DEDUPE_WINDOW_DAYS``, and ``..._BY_LINE``). An INVALID lead is left
    out, as the pipeline leaves it: it stopped before its identities were linked."""
    await graph.ensure_schema()
    async with sessions() as session:
        agents = await sync_all(session, graph)
    since = now - timedelta(days=max(dedupe_window_days(settings, line) for line in Line))
    query = select(Lead).where(
        Lead.received_at >= since,
        Lead.is_test.is_(False),
        Lead.anonymised_at.is_(None),
        Lead.status != LeadStatus.INVALID,
    )
    linked = 0
    after: uuid.UUID | None = None
    while batch := list(await _read(sessions, _page(query, after, batch_size))):
        for lead in batch:
            await graph.link_lead(lead.id, lead.line, lead.state, lead_identities(lead), received_at=lead.received_at)
        linked += len(batch)
        after = batch[-1].id
        if progress is not None:
            progress(linked)
    erased = await _forget_erased(sessions, graph.forget_lead, batch_size)
    return GraphRebuilt(agents, linked, since, erased)


async def rebuild_vectors(
    sessions: Sessions,
    vectors: VectorStore,
    *,
    word_key: WordKey,
    batch_size: int,
    progress: Progress | None = None,
) -> VectorsRebuilt:
    """The vector of every lead the pipeline embedded: live (not a test lead, not erased) and
    screened (scored), its note words keyed with ``word_key`` as the pipeline keys them, with its
    payload as the pipeline keeps it (``sync_outcome``): its status as its outcome, and the agent it
    is credited to; the collection is then marked filled. One that holds vectors of another size or
    embedding (damaged) is replaced by an empty one first.

    A lead whose status changes while its batch is written gets its new outcome after the batch; one
    given to another agent in the same status may keep the agent read, until its next outcome."""
    await vectors.ensure_collection(replace_stale=True)
    query = (
        select(Lead, Source.name)
        .join(Source, Source.id == Lead.source_id)
        .where(Lead.is_test.is_(False), Lead.anonymised_at.is_(None), Lead.score.is_not(None))
    )
    embedded = 0
    after: uuid.UUID | None = None
    while True:
        points: list[Point] = []
        async with sessions() as session:
            for lead, source in await session.execute(_page(query, after, batch_size)):
                row = lead_row(lead, source)
                credited = await leads.credited_agent(session, lead.id)
                payload = vector_payload(lead, row, str(credited) if credited else None)
                points.append((lead.id, embed_lead(row, word_key), payload))
        if not points:
            break
        await vectors.upsert_many(points)
        await _settle(sessions, vectors, {lead_id: payload["outcome"] for lead_id, _, payload in points})
        embedded += len(points)
        after = points[-1][0]
        if progress is not None:
            progress(embedded)
    erased = await _forget_erased(sessions, vectors.delete, batch_size)
    await vectors.mark_filled()
    return VectorsRebuilt(embedded, erased)


class FilledElsewhere(Exception):
    """Another process is filling the collection."""


async def fill_vectors(
    engine: AsyncEngine, vectors: VectorStore, *, word_key: WordKey, batch_size: int
) -> VectorsRebuilt | None:
    """Embed every lead into a collection created since the database had them: a new embedding
    version's, or one Qdrant lost. One process of all that share the database does it (the others
    raise ``FilledElsewhere`` until it is done); None when the collection was filled already.

    The pipeline writes each new lead into the collection meanwhile, so it is usable at once; only
    its "similar leads" miss the older leads until the fill reaches them."""
    if await vectors.filled():
        return None
    async with db.exclusively(engine, VECTOR_FILL_LOCK) as sessions:
        if sessions is None:
            raise FilledElsewhere("another process is embedding the leads into the collection")
        if await vectors.filled():
            return None
        return await rebuild_vectors(sessions, vectors, word_key=word_key, batch_size=batch_size)


def _page(query: Select[*Columns], after: uuid.UUID | None, size: int) -> Select[*Columns]:
    """The next ``size`` leads of ``query`` by id, after ``after``."""
    if after is not None:
        query = query.where(Lead.id > after)
    return query.order_by(Lead.id).limit(size)


async def _read(sessions: Sessions, query: Select[*Columns]) -> list[Any]:
    async with sessions() as session:
        return list(await session.scalars(query))


async def _forget_erased(sessions: Sessions, forget: Callable[[uuid.UUID], Awaitable[None]], batch_size: int) -> int:
    """``forget`` every erased lead; how many there were."""
    query = select(Lead.id).where(Lead.anonymised_at.is_not(None))
    erased = 0
    after: uuid.UUID | None = None
    while batch := await _read(sessions, _page(query, after, batch_size)):
        for lead_id in batch:
            await forget(lead_id)
        erased += len(batch)
        after = batch[-1]
    return erased


async def _settle(sessions: Sessions, vectors: VectorStore, written: dict[uuid.UUID, str]) -> None:
    """A lead of the batch whose status changed while it was written gets its outcome and agent as
    ``sync_outcome`` gives them."""
    async with sessions() as session:
        now = await session.execute(select(Lead.id, Lead.status).where(Lead.id.in_(list(written))))
        for lead_id, status in now:
            if status != written[lead_id]:
                fields: dict[str, Any] = {"outcome": status}
                if agent_id := await leads.credited_agent(session, lead_id):
                    fields["agent_id"] = str(agent_id)
                await vectors.set_payload(lead_id, fields)

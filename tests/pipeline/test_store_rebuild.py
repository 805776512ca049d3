"""``leadgen graph rebuild`` and ``leadgen vectors rebuild``: the derived stores rebuilt from the
database after one lost its data (a Neo4j or Qdrant volume lost), on the embedded graph and Qdrant's
local mode, which run the same code as the servers behind the same interfaces."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from leadgen.auth.roles import Principal, Role
from leadgen.cli.main import app
from leadgen.core import db
from leadgen.core import resources as resources_module
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads import outcomes
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import Agent, Assignment, Lead, RoutingPolicy
from leadgen.models.base import utcnow
from leadgen.pipeline.rebuild import VECTOR_FILL_LOCK, rebuild_graph
from leadgen.pipeline.service import lead_identities, pipeline_for, sync_outcome
from leadgen.routing import service as routing
from leadgen.stores.embedding import EMBEDDING_VERSION, embed_lead, query_words, word_key
from leadgen.stores.graph import EMBEDDED_FILE
from leadgen.stores.graph.embedded import EmbeddedGraphStore
from leadgen.stores.vectors.qdrant_store import QdrantVectorStore
from tests import helpers
from tests.conftest import lead_payload, sync_graph

# The word slots' key (the platform derives its own of LEADGEN_SECURITY_PII_HASH_KEY).
WORD_KEY = word_key("test-pii-hash-key")

VECTOR = embed_lead({"line": "auto", "state": "TX"}, WORD_KEY)


async def leadgen(*args: str) -> Result:
    """The command, as an operator runs it beside the running platform (same settings and stores)."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def lose_the_graph(resources: Resources) -> None:
    """The graph's volume is lost: the store comes back empty and is set up as a restarted pod sets
    it up (its schema, and the agents from the database)."""
    assert resources.graph is not None
    await resources.graph.close()
    path = resources.settings.common.data_dir / EMBEDDED_FILE
    for file in path.parent.glob(f"{path.name}*"):
        file.unlink()
    resources.graph = EmbeddedGraphStore(path)
    await resources.graph.ensure_schema()
    await sync_graph(resources)


async def lose_the_vectors(resources: Resources) -> None:
    """Qdrant's volume is lost: the collection comes back empty."""
    assert isinstance(resources.vectors, QdrantVectorStore)
    await resources.vectors._client.delete_collection(resources.vectors.collection)
    await resources.vectors.ensure_collection()


async def status_of(session: AsyncSession, lead_id: uuid.UUID) -> tuple[LeadStatus, uuid.UUID | None]:
    lead = await session.get(Lead, lead_id, populate_existing=True)
    assert lead is not None
    return LeadStatus(lead.status), lead.duplicate_of_id


class TestGraph:
    async def test_a_repeat_lead_is_a_duplicate_again_once_the_graph_is_rebuilt(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, texas_agent: Agent
    ) -> None:
        payload = lead_payload()
        first = await helpers.submitted_and_processed(client, resources, key, payload)
        assert (await status_of(session, first))[0] == LeadStatus.ROUTED
        await lose_the_graph(resources)

        rebuilt = await leadgen("graph", "rebuild", "--json")

        assert rebuilt.exit_code == 0, rebuilt.output
        answer = json.loads(rebuilt.stdout)
        assert (answer["store"], answer["agents"], answer["leads"], answer["erased"]) == ("the embedded graph", 1, 1, 0)
        repeat = await helpers.submitted_and_processed(client, resources, key, payload)
        assert await status_of(session, repeat) == (LeadStatus.DUPLICATE, first)

    async def test_links_live_leads_of_the_window_in_batches_and_no_other(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources
    ) -> None:
        """Of one person's leads, only those a repeat lead may be a duplicate of are linked: not a
        test lead, an erased one, one received before the longest window, or one screened out as
        INVALID (the pipeline never links those either). An erased lead a graph restored from an
        older snapshot still links is unlinked."""
        phone = lead_payload()["contact"]["phone"]

        async def lead(**changes: object) -> uuid.UUID:
            payload = lead_payload()
            payload["contact"]["phone"] = phone
            answer = await client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
            lead_id = uuid.UUID(answer.json()["id"])
            if changes:
                await session.execute(update(Lead).where(Lead.id == lead_id).values(**changes))
                await session.commit()
            return lead_id

        now = utcnow()
        live = [await lead(), await lead(received_at=now - timedelta(days=29))]
        erased = await lead(anonymised_at=now)
        left_out = [
            erased,
            await lead(is_test=True),
            await lead(received_at=now - timedelta(days=31)),
            await lead(status=LeadStatus.INVALID),
        ]
        [phone_hash] = {h for lid in live for k, h in await identities(session, lid) if k == "phone"}
        graph = await fresh_graph(resources)
        await graph.link_lead(erased, "auto", "TX", [("phone", phone_hash)], received_at=now)  # the snapshot's
        told: list[int] = []

        rebuilt = await rebuild_graph(
            resources.require_sessions(), resources.settings, graph, now, batch_size=2, progress=told.append
        )

        assert (rebuilt.leads, rebuilt.since, rebuilt.erased) == (2, now - timedelta(days=30), 1)
        assert told == [2]
        probe = uuid.uuid4()
        await graph.link_lead(probe, "auto", "TX", [("phone", phone_hash)], received_at=now)
        assert sorted(await graph.duplicates_of(probe)) == sorted(str(i) for i in live)
        assert not set(await graph.duplicates_of(probe)) & {str(i) for i in left_out}
        await graph.close()

    async def test_the_longest_window_of_any_line_counts(
        self,
        client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """An auto lead of 80 days is linked while life's window is 90 days: the rebuild does not
        look at each lead's own line."""
        answer = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
        now = utcnow()
        old = update(Lead).where(Lead.id == uuid.UUID(answer.json()["id"])).values(received_at=now - timedelta(days=80))
        await session.execute(old)
        await session.commit()
        monkeypatch.setenv("LEADGEN_INTAKE_DEDUPE_WINDOW_DAYS_BY_LINE", "life=90")
        graph = await fresh_graph(resources)

        rebuilt = await rebuild_graph(resources.require_sessions(), Settings(), graph, now, batch_size=10)

        assert (rebuilt.leads, rebuilt.since) == (1, now - timedelta(days=90))
        await graph.close()


async def fresh_graph(resources: Resources) -> EmbeddedGraphStore:
    graph = EmbeddedGraphStore(resources.settings.common.data_dir / f"rebuilt-{uuid.uuid4().hex}.sqlite3")
    await graph.ensure_schema()
    return graph


async def identities(session: AsyncSession, lead_id: uuid.UUID) -> list[tuple[str, str]]:
    lead = await session.get(Lead, lead_id, populate_existing=True)
    assert lead is not None
    return lead_identities(lead)


class TestVectors:
    async def test_every_screened_lead_is_embedded_again_with_its_outcome_and_agent(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources
    ) -> None:
        """A shared lead two agents took, converted by the second: after the rebuild its point is the
        one the pipeline and ``sync_outcome`` left (vector, outcome, credited agent). A test lead
        and a lead of an erased person stay out, as the pipeline keeps them out."""
        session.add(RoutingPolicy(strategy="round_robin", max_agents=2))
        for _ in range(2):
            await helpers.agent(session, ["TX"])
        await session.commit()
        shared = lead_payload(exclusive=False, notes="Wants a renewal quote.")
        sold = await helpers.submitted_and_processed(client, resources, key, shared)
        offers = await routing_offers(session, sold)
        agents = {offer.agent_id: Principal(uuid.uuid4(), Role.AGENT, offer.agent_id) for offer in offers}
        for offer in offers:
            async with resources.unit_of_work() as s:
                await routing.accept(s, agents[offer.agent_id], offer.id)
        seller = offers[1].agent_id
        for step in (LeadStatus.CONTACTED, LeadStatus.QUOTED, LeadStatus.CONVERTED):
            async with resources.unit_of_work() as s:
                await outcomes.record_outcome(s, agents[seller], sold, step, None)
        pipe = pipeline_for(resources)
        async with resources.unit_of_work() as s:
            await sync_outcome(s, pipe, sold)
        kept = await pipe.vectors.get(sold)
        kept_vector = await pipe.vectors.vector(sold)
        assert kept is not None and kept.payload["outcome"] == "CONVERTED" and kept.payload["agent_id"] == str(seller)
        test_lead = await helpers.submitted_and_processed(client, resources, key, lead_payload(test=True))
        erased = await helpers.submitted_and_processed(client, resources, key, lead_payload())
        await session.execute(update(Lead).where(Lead.id == erased).values(anonymised_at=utcnow()))
        await session.commit()
        await lose_the_vectors(resources)
        assert await pipe.vectors.get(sold) is None
        await pipe.vectors.upsert(erased, VECTOR, {"line": "auto"})  # a snapshot from before the erasure

        rebuilt = await leadgen("vectors", "rebuild", "--batch-size", "1", "--json")

        assert rebuilt.exit_code == 0, rebuilt.output
        answer = json.loads(rebuilt.stdout)
        assert (answer["leads"], answer["erased"]) == (1, 1)
        assert await pipe.vectors.filled()
        again = await pipe.vectors.get(sold)
        assert again is not None and again.payload == kept.payload
        assert await pipe.vectors.vector(sold) == pytest.approx(kept_vector)
        renewal = query_words("renewal", pipe.word_key)  # keyed as the pipeline keys it: word search finds it
        assert [hit.lead_id for hit in await pipe.vectors.matching_words(renewal)] == [sold]
        assert await pipe.vectors.get(test_lead) is None
        assert await pipe.vectors.get(erased) is None
        # Best match learns from it again: the seller's converted auto leads are found.
        assert kept_vector is not None
        success = await pipe.vectors.agent_success(kept_vector, [str(seller)], "auto")
        assert success[str(seller)] == pytest.approx(1.0)


async def routing_offers(session: AsyncSession, lead_id: uuid.UUID) -> list[Assignment]:
    query = select(Assignment).where(Assignment.lead_id == lead_id).order_by(Assignment.slot)
    return list(await session.scalars(query.execution_options(populate_existing=True)))


async def test_a_store_out_of_reach_is_one_line_and_exit_1(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_QDRANT_URL", "http://127.0.0.1:1")

    failed = await leadgen("vectors", "rebuild")

    assert failed.exit_code == 1
    assert failed.stderr.startswith(f"error: Qdrant at http://127.0.0.1:1/, collection 'leads-{EMBEDDING_VERSION}': ")
    assert "run the command again" in failed.stderr and "Traceback" not in failed.output


class TestFill:
    """The orchestrators and workers embed every lead into a collection they create: a new embedding
    version's, or one Qdrant lost; nobody has to run the rebuild for it."""

    async def test_a_collection_lost_while_running_is_filled_again(
        self, client: AsyncClient, key: str, resources: Resources, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(resources_module, "SET_UP_RETRY_FIRST_SECONDS", 0.05)
        payload = lead_payload(notes="Wants a renewal quote.")
        lead_id = await helpers.submitted_and_processed(client, resources, key, payload)
        vectors = resources.vectors
        assert isinstance(vectors, QdrantVectorStore) and await vectors.filled()
        kept = await vectors.get(lead_id)
        assert kept is not None
        await vectors._client.delete_collection(vectors.collection)

        with pytest.raises(Exception, match="not found"):
            await resources.checks["qdrant"]()  # which sets the store up again, and fills it

        async def filled_again() -> None:
            assert await vectors.filled()

        await helpers.eventually(filled_again)
        again = await vectors.get(lead_id)
        assert again is not None and again.payload == kept.payload
        renewal = query_words("renewal", pipeline_for(resources).word_key)  # keyed as the pipeline keys it
        assert [hit.lead_id for hit in await vectors.matching_words(renewal)] == [lead_id]

    async def test_one_process_fills_while_the_others_wait_for_it(
        self, client: AsyncClient, key: str, resources: Resources, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Another process (on SQLite, another event loop of the process) holds the fill's lock: this
        one leaves the collection to it, and fills it only if that one went away before it was done."""
        monkeypatch.setattr(resources_module, "SET_UP_RETRY_FIRST_SECONDS", 0.05)
        monkeypatch.setattr(resources_module, "SET_UP_RETRY_MAX_SECONDS", 0.1)
        lead_id = await helpers.submitted_and_processed(client, resources, key, lead_payload())
        vectors = resources.vectors
        assert isinstance(vectors, QdrantVectorStore) and resources.engine is not None
        await vectors._client.delete_collection(vectors.collection)
        async with db.exclusively(resources.engine, VECTOR_FILL_LOCK) as holder:
            assert holder is not None
            with pytest.raises(Exception, match="not found"):
                await resources.checks["qdrant"]()
            await helpers.eventually(resources.checks["qdrant"])  # ready, and new leads are written meanwhile
            await asyncio.sleep(0.3)  # the fill tried a few times, and left it to the lock's holder
            assert not await vectors.filled() and await vectors.get(lead_id) is None

        async def filled() -> None:
            assert await vectors.filled()

        await helpers.eventually(filled)
        assert await vectors.get(lead_id) is not None

    async def test_the_rebuild_names_other_versions_and_drops_them_when_told(self, resources: Resources) -> None:
        vectors = resources.vectors
        assert isinstance(vectors, QdrantVectorStore)
        older = QdrantVectorStore(
            vectors._client, vectors.base, local_path=vectors._local_path, guard=vectors._guard, version="hash-v0"
        )
        await older.ensure_collection()

        kept = await leadgen("vectors", "rebuild", "--json")
        assert kept.exit_code == 0, kept.output
        assert json.loads(kept.stdout) | {"store": ""} == {
            "store": "",
            "leads": 0,
            "erased": 0,
            "other_versions": [older.collection],
            "dropped": [],
        }
        await older.ping()

        dropped = await leadgen("vectors", "rebuild", "--drop-other-versions")
        assert dropped.exit_code == 0, dropped.output
        assert f"other embedding versions: {older.collection!r}, dropped" in dropped.stdout
        assert await vectors.other_versions() == []
        await vectors.ping()

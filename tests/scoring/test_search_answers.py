"""What similar-lead search answers: no anonymised lead, nothing for a query without words, and
filters it knows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.core.security import keyed_hash
from leadgen.core.settings import Settings
from leadgen.models.base import utcnow
from leadgen.pipeline.service import pipeline_for, process_lead
from leadgen.privacy import service as privacy
from leadgen.targets import api, orchestrator
from tests import helpers
from tests.conftest import lead_payload, started, sync_graph

NOTES = ("divorce settlement, needs a policy of her own", "renewal soon, wants a cheaper premium", "divorce last month")


@dataclass
class Searched:
    orchestrator: AsyncClient
    headers: dict[str, str]
    ids: list[uuid.UUID]
    emails: list[str]


@pytest.fixture
async def searched(settings: Settings, resources: Resources, session: AsyncSession) -> AsyncIterator[Searched]:
    """Three routed and embedded leads, one per note, and an admin's headers for the orchestrator."""
    async for api_client in started(api.create_app(settings)):
        # The orchestrator shares the test's resources: Qdrant local mode allows one client per folder.
        async for orch in started(orchestrator.create_app(settings, resources)):
            await helpers.agent(session, ["TX"])
            key = await helpers.api_key(session)
            admin = await helpers.user(session, Role.ADMIN)
            await session.commit()
            ids, emails = [], []
            for note in NOTES:
                payload = lead_payload(notes=note)
                answer = await api_client.post("/api/v1/leads", json=payload, headers={"X-API-Key": key})
                ids.append(uuid.UUID(answer.json()["id"]))
                emails.append(payload["contact"]["email"])
            await sync_graph(resources)
            for lead_id in ids:
                async with resources.unit_of_work() as s:
                    await process_lead(s, pipeline_for(resources), lead_id, utcnow())
            yield Searched(orch, await helpers.bearer(api_client, admin), ids, emails)


async def _erase(settings: Settings, resources: Resources, email: str) -> None:
    """The person's erasure, committed; its ``lead.erased`` task (the vector store forgets) not run."""
    key = settings.security.pii_hash_key.get_secret_value()
    async with resources.unit_of_work() as s:
        await privacy.erase(s, [("email", keyed_hash(key, "email", email))], "test")


def _found(answer: list[dict[str, object]]) -> list[str]:
    return [str(hit["lead_id"]) for hit in answer]


class TestAnonymisedLeads:
    async def test_are_left_out_before_the_vector_store_forgets_them(
        self, searched: Searched, settings: Settings, resources: Resources
    ) -> None:
        erased, kept, other = searched.ids[0], searched.ids[2], searched.ids[1]
        search, headers = searched.orchestrator, searched.headers
        divorce: dict[str, str | int] = {"q": "divorce settlement", "limit": 1}
        assert _found((await search.get("/api/v1/search", params=divorce, headers=headers)).json()) == [str(erased)]

        await _erase(settings, resources, searched.emails[0])
        assert resources.vectors is not None and await resources.vectors.vector(erased) is not None  # not forgotten yet

        # The next closest stands in for it, so the limit is still met.
        assert _found((await search.get("/api/v1/search", params=divorce, headers=headers)).json()) == [str(kept)]
        alike = (await search.get(f"/api/v1/search/similar/{other}", headers=headers)).json()
        assert _found(alike) == [str(kept)]
        answer = await search.get(f"/api/v1/search/similar/{erased}", headers=headers)
        assert answer.status_code == 404 and "anonymised" in answer.json()["detail"]

    async def test_an_unknown_lead_has_no_similar_leads(self, searched: Searched) -> None:
        answer = await searched.orchestrator.get(f"/api/v1/search/similar/{uuid.uuid4()}", headers=searched.headers)
        assert answer.status_code == 404


class TestQueries:
    @pytest.mark.parametrize("words", ["\x00\x00", "  ", "12", "75201 512-555-0100", "the and", "a b c", "We"])
    async def test_without_a_word_the_notes_keep_finds_nothing(self, searched: Searched, words: str) -> None:
        answer = await searched.orchestrator.get("/api/v1/search", params={"q": words}, headers=searched.headers)
        assert answer.status_code == 200 and answer.json() == []

    async def test_words_among_what_is_left_out_still_find(self, searched: Searched) -> None:
        params = {"q": "x\x00divorce 12", "line": "auto", "state": "tx"}
        answer = await searched.orchestrator.get("/api/v1/search", params=params, headers=searched.headers)
        assert set(_found(answer.json())[:2]) == {str(searched.ids[0]), str(searched.ids[2])}

    @pytest.mark.parametrize(
        ("name", "value"),
        [("line", "pets"), ("line", "x" * 20_000), ("state", "ZZ"), ("state", "Texas"), ("outcome", "WON")],
    )
    async def test_an_unknown_filter_is_refused_by_name(self, searched: Searched, name: str, value: str) -> None:
        params = {"q": "divorce", name: value}
        answer = await searched.orchestrator.get("/api/v1/search", params=params, headers=searched.headers)
        assert answer.status_code == 422
        assert [error["field"] for error in answer.json()["errors"]] == [f"query.{name}"]

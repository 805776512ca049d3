"""POST /api/v1/quote-requests with the quote form's ``Idempotency-Key``: the same form sent again
stores nothing and answers with the lead stored the first time; the key with other answers is
refused and changes nothing; the unique index settles two sent at once; without a key every request
is stored, as before."""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import pytest
from httpx import AsyncClient, Response
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.service import SourceRef
from leadgen.core.errors import Conflict
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.leads import service
from leadgen.leads.schemas import QuoteRequestCreate
from leadgen.models import Lead, Source
from leadgen.sources.repository import WEB_FORM_SOURCE, ensure_source
from leadgen.sources.rules import SourceKind
from tests import helpers
from tests.api.test_quote_requests import QUOTES, client, quote_request_payload
from tests.api.test_vendor_retries import stored_counts

__all__ = ["client"]  # the fixture, for pytest to find here

KEY = "Idempotency-Key"
KEY_FIELD = f"header.{KEY}"  # how the api names a header in its field errors
FORM_KEY = "9f2c" * 16


def _headers(key: str | None = FORM_KEY, ip: str = "203.0.113.9") -> dict[str, str]:
    keyed = {KEY: key} if key is not None else {}
    return {**helpers.vouched_as_frontend(get_settings(), ip), **keyed}


def _refused_for_the_key(answer: Response) -> None:
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["field"] == KEY_FIELD and "already sent" in error["reason"], error


def _with(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    node = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


class TestSentAgain:
    async def test_the_same_form_again_stores_nothing_and_answers_200_with_the_first_lead(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        payload = quote_request_payload()
        first = await client.post(QUOTES, json=payload, headers=_headers())
        again = await client.post(QUOTES, json=payload, headers=_headers())
        assert (first.status_code, again.status_code) == (202, 200), again.text
        assert again.json() == first.json()
        assert await stored_counts(session) == [1, 1, 1, 1]

    async def test_the_key_is_kept_with_the_lead_under_the_forms_source(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        answer = await client.post(QUOTES, json=quote_request_payload(), headers=_headers())
        lead = await session.get(Lead, uuid.UUID(answer.json()["id"]))
        assert lead is not None and lead.external_id == f"quote-form:{FORM_KEY}"
        source = await session.get(Source, lead.source_id)
        assert source is not None and source.name == WEB_FORM_SOURCE

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            (("details", "vehicles"), [{"year": 2020, "make": "Honda", "model": "Civic"}]),
            (("contact", "last_name"), "Reyes-Ortiz"),
            (("contact", "phone"), "512-555-0199"),
            (("currently_insured",), False),
        ],
        ids=["details", "name", "phone", "insurance-today"],
    )
    async def test_the_key_with_other_answers_is_refused_and_changes_nothing(
        self, client: AsyncClient, session: AsyncSession, path: tuple[str, ...], value: Any
    ) -> None:
        payload = quote_request_payload()
        assert (await client.post(QUOTES, json=payload, headers=_headers())).status_code == 202
        _refused_for_the_key(await client.post(QUOTES, json=_with(payload, path, value), headers=_headers()))
        assert await stored_counts(session) == [1, 1, 1, 1]

    async def test_the_key_with_another_line_is_refused(self, client: AsyncClient, session: AsyncSession) -> None:
        auto = quote_request_payload()
        home = quote_request_payload(
            line="home",
            contact=auto["contact"],
            details={"year_built": 1990, "square_feet": 1800, "dwelling_coverage": 300000},
        )
        assert (await client.post(QUOTES, json=auto, headers=_headers())).status_code == 202
        _refused_for_the_key(await client.post(QUOTES, json=home, headers=_headers()))
        assert await stored_counts(session) == [1, 1, 1, 1]

    async def test_another_key_or_none_is_another_request(self, client: AsyncClient, session: AsyncSession) -> None:
        payload = quote_request_payload()
        for headers in (_headers(), _headers("a" * 64), _headers(None), _headers(None)):
            assert (await client.post(QUOTES, json=payload, headers=headers)).status_code == 202
        assert await stored_counts(session) == [4, 4, 4, 4]

    @pytest.mark.parametrize("key", ["short", "x" * 65, "not a key!", ""], ids=["short", "long", "spaces", "empty"])
    async def test_a_malformed_key_is_refused_and_stores_nothing(
        self, client: AsyncClient, session: AsyncSession, key: str
    ) -> None:
        answer = await client.post(QUOTES, json=quote_request_payload(), headers=_headers(key))
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == [KEY_FIELD]
        assert await stored_counts(session) == [0, 0, 0, 0]

    async def test_the_openapi_description_names_the_key_and_both_answers(self, client: AsyncClient) -> None:
        route = (await client.get("/openapi.json")).json()["paths"][QUOTES]["post"]
        assert KEY in [p["name"] for p in route["parameters"] if p["in"] == "header"]
        assert {"200", "202", "409"} <= set(route["responses"])


class TestAtOnce:
    async def test_two_sent_at_once_store_one_lead_and_both_answer_it(
        self, resources: Resources, settings: Settings, session: AsyncSession
    ) -> None:
        request = TypeAdapter[Any](QuoteRequestCreate).validate_python(quote_request_payload())
        found = await ensure_source(session, WEB_FORM_SOURCE, SourceKind.WEB)
        await session.commit()
        source = SourceRef(found.id, found.name)

        async def receive_alone() -> service.Received:
            async with resources.unit_of_work() as own:
                return await service.receive_quote_request(own, settings, source, request, "203.0.113.9", FORM_KEY)

        async with resources.unit_of_work() as first:
            won = await service.receive_quote_request(first, settings, source, request, "203.0.113.9", FORM_KEY)
            second = asyncio.create_task(receive_alone())
            await asyncio.sleep(0.5)
            # It waits for the first to end: on the unique index (PostgreSQL), the write lock (SQLite).
            assert not second.done()
        lost = await second
        assert (won.repeat, lost.repeat, lost.lead.id) == (False, True, won.lead.id)
        assert await stored_counts(session) == [1, 1, 1, 1]

    async def test_the_loser_with_other_answers_is_refused(
        self, resources: Resources, settings: Settings, session: AsyncSession
    ) -> None:
        adapter = TypeAdapter[Any](QuoteRequestCreate)
        payload = quote_request_payload()
        request = adapter.validate_python(payload)
        other = adapter.validate_python(_with(payload, ("contact", "first_name"), "Dina"))
        found = await ensure_source(session, WEB_FORM_SOURCE, SourceKind.WEB)
        await session.commit()
        source = SourceRef(found.id, found.name)

        async def receive_alone() -> service.Received:
            async with resources.unit_of_work() as own:
                return await service.receive_quote_request(own, settings, source, other, "203.0.113.9", FORM_KEY)

        async with resources.unit_of_work() as first:
            await service.receive_quote_request(first, settings, source, request, "203.0.113.9", FORM_KEY)
            second = asyncio.create_task(receive_alone())
            await asyncio.sleep(0.5)
        with pytest.raises(Conflict):
            await second
        assert await stored_counts(session) == [1, 1, 1, 1]

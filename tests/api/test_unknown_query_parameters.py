"""A query parameter no endpoint reads is refused with a 422 naming it, on every endpoint of every
server: a misspelt filter (``?snce=``, ``?stauts=``) would otherwise answer for everything."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from leadgen.core.settings import Settings
from leadgen.targets import api, backend, data_service, frontend, orchestrator
from tests.conftest import started

SERVERS: dict[str, Callable[[Settings], FastAPI]] = {
    "api": api.create_app,
    "data-service": data_service.create_app,
    "orchestrator": orchestrator.create_app,
    "backend": backend.create_app,
}


def _endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every endpoint the app's OpenAPI document lists, a random id in each path
    parameter."""
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path))
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/")
        for method in operations
    ]


@pytest.mark.parametrize("server", list(SERVERS))
async def test_every_endpoint_refuses_a_parameter_it_does_not_read_naming_it(settings: Settings, server: str) -> None:
    app = SERVERS[server](settings)
    endpoints = _endpoints(app)
    assert endpoints
    async for client in started(app):
        for method, path in endpoints:
            answer = await client.request(method, path, params={"snce": "2026-11-01T00:00:00Z"})
            assert answer.status_code == 422, (method, path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["errors"] == [{"field": "query.snce", "reason": "is not a parameter of this endpoint"}]


async def test_a_misspelt_period_of_a_report_is_refused_and_the_right_one_answers(
    data_client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    misspelt = await data_client.get(
        "/api/v1/reports/performance", params={"by": "agent", "snce": "2026-11-01T00:00:00Z"}, headers=admin_headers
    )
    assert misspelt.status_code == 422
    assert [error["field"] for error in misspelt.json()["errors"]] == ["query.snce"]
    spelt = await data_client.get(
        "/api/v1/reports/performance",
        params={"by": "agent", "since": "2026-11-01T00:00:00Z", "until": "2026-11-20T00:00:00Z"},
        headers=admin_headers,
    )
    assert spelt.status_code == 200, spelt.text
    assert spelt.json()["since"].startswith("2026-11-01")


async def test_a_query_models_fields_are_read_and_others_refused(
    data_client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    """The audit log takes its filters as one query model: its fields are parameters, by name."""
    read = await data_client.get(
        "/api/v1/audit", params={"limit": "5", "action": "user.created"}, headers=admin_headers
    )
    assert read.status_code == 200, read.text
    paged_by_offset = await data_client.get(
        "/api/v1/audit", params={"limit": "5", "offset": "5", "skip": "1"}, headers=admin_headers
    )
    assert paged_by_offset.status_code == 422
    assert [error["field"] for error in paged_by_offset.json()["errors"]] == ["query.offset", "query.skip"]


async def test_the_dashboards_pages_take_a_links_other_parameters(settings: Settings) -> None:
    """A campaign's link to the quote form carries its own (``utm_source``): the page is shown."""
    async for client in started(frontend.create_app(settings)):
        page = await client.get("/quote", params={"utm_source": "newsletter", "line": "auto"})
        assert page.status_code == 200, page.text
        assert "<form" in page.text

"""One request id per request: in the answer, in every log line of the request (the access line and
an unhandled error's traceback too), and only an id the platform can pass on to its peers."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from httpx import ASGITransport, AsyncClient

from leadgen.core.health import Health
from leadgen.core.http import create_service_app
from leadgen.core.logging import log_handler
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """The JSON lines the platform's handler writes for the loggers of a request."""
    stream = io.StringIO()
    handler = log_handler("json", "frontend", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def client() -> AsyncIterator[AsyncClient]:
    router = APIRouter()

    @router.get("/hello")
    async def hello() -> dict[str, bool]:
        logging.getLogger("leadgen.test.handler").info("inside the handler")
        return {"ok": True}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected failure")

    settings = Settings()
    app = create_service_app("frontend", [router], settings, Resources(settings, "test"), Health())
    # The default transport raises what the app lets out: an error the app answers stays inside it.
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [
        record
        for record in map(json.loads, stream.getvalue().splitlines())
        if record["logger"].startswith("leadgen.")  # not httpx's line about the test's own request
    ]


async def test_every_line_of_a_request_carries_its_id(client: AsyncClient, logged: io.StringIO) -> None:
    answer = await client.get("/hello", headers={"X-Request-ID": "req-abc-123"})
    assert answer.headers["x-request-id"] == "req-abc-123"
    assert [(r["message"].split(" ")[:3], r["request_id"]) for r in records(logged)] == [
        (["inside", "the", "handler"], "req-abc-123"),
        (["GET", "/hello", "200"], "req-abc-123"),
    ]


async def test_an_unhandled_error_is_logged_once_with_the_id_and_answered_with_it(
    client: AsyncClient, logged: io.StringIO
) -> None:
    answer = await client.get("/boom", headers={"X-Request-ID": "req-boom-456"})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-request-id"] == "req-boom-456"
    assert answer.json()["status"] == 500 and "unexpected failure" not in answer.text
    lines = records(logged)
    assert [(r["message"], r["request_id"]) for r in lines] == [
        ("GET /boom failed", "req-boom-456"),
        (lines[1]["message"], "req-boom-456"),
    ]
    assert lines[1]["message"].startswith("GET /boom 500 ")
    assert "RuntimeError: unexpected failure" in lines[0]["exc_info"] and "exc_info" not in lines[1]


@pytest.mark.parametrize(
    "sent",
    [
        b"abc\xe9",  # a peer's httpx cannot encode it: every page calling the api would answer 500
        b"x" * 129,
        b"two words",
        b'"quoted"',
        b"",
    ],
)
async def test_a_request_id_unfit_to_pass_on_is_replaced_by_a_new_one(
    client: AsyncClient, logged: io.StringIO, sent: bytes
) -> None:
    answer = await client.get("/hello", headers=[(b"x-request-id", sent)])
    assert answer.status_code == 200
    given = answer.headers["x-request-id"]
    assert GENERATED.fullmatch(given), given
    assert {r["request_id"] for r in records(logged)} == {given}


@pytest.mark.parametrize(
    "sent",
    [
        "0b6f1c4e-8d2a-4f7e-9c3b-5a1d2e3f4a5b",  # a UUID (Envoy, most clients)
        "4bf92f3577b34da6a3ce929d0e0e4736",  # 32 hex digits (nginx's $request_id, a W3C trace id)
        "frontend-readiness-0123456789abcdef",  # the frontend's readiness probe of the api
        "dXNlcjoxMjM0NTY3ODkwYWJjZGVm+/==",  # base64, as some routers make them
        "x" * 128,
    ],
)
async def test_a_request_id_in_a_usual_form_is_kept(client: AsyncClient, sent: str) -> None:
    answer = await client.get("/hello", headers={"X-Request-ID": sent})
    assert answer.headers["x-request-id"] == sent

"""The 422 problem details of any app: each error's field is its place in the request as sent."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import FastAPI, Form, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from leadgen.core.errors import add_exception_handlers


class Item(BaseModel):
    tags: list[Annotated[str, Field(max_length=3)]]


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    add_exception_handlers(app)

    @app.post("/form")
    async def form(name: Annotated[str, Form(max_length=3)], limit: Annotated[int, Query(ge=1)] = 1) -> None:
        return None

    @app.post("/json")
    async def json_body(item: Item) -> None:
        return None

    return TestClient(app)


def fields(client: TestClient, path: str, data: dict[str, str] | None = None, json: object = None) -> list[str]:
    answer = client.post(path, data=data, json=json)
    assert answer.status_code == 422, answer.text
    return [error["field"] for error in answer.json()["errors"]]


def test_a_form_field_and_a_query_parameter_are_named_where_they_were_sent(client: TestClient) -> None:
    assert fields(client, "/form?limit=0", data={"name": "toolong"}) == ["query.limit", "name"]
    assert fields(client, "/form", data={}) == ["name"]


def test_a_list_item_is_named_by_its_index(client: TestClient) -> None:
    assert fields(client, "/json", json={"tags": ["ok", "toolong"]}) == ["tags.1"]
    assert fields(client, "/json", json={}) == ["tags"]

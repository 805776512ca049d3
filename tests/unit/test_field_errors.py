"""The 422 problem details of any app: each error's field is its place in the request as sent."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from fastapi import Body, FastAPI, Form, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, Discriminator, Field

from leadgen.core.errors import add_exception_handlers


class Item(BaseModel):
    tags: list[Annotated[str, Field(max_length=3)]]


class Cat(BaseModel):
    kind: Literal["cat"]
    name: str


class Dog(BaseModel):
    kind: Literal["dog"]
    name: str


Pet = Annotated[Cat | Dog, Discriminator("kind")]


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

    @app.post("/pets")
    async def pets(pet: Annotated[Pet, Body()]) -> None:
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


def test_the_unions_tag_is_no_step_of_the_body_whatever_keys_the_body_has(client: TestClient) -> None:
    """pydantic names the member by its tag (``cat.name``); a key of the body equal to the tag does
    not make the tag a step of the body."""
    assert fields(client, "/pets", json={"kind": "cat", "name": 5}) == ["name"]
    assert fields(client, "/pets", json={"kind": "cat", "cat": {"name": "Tom"}, "name": 5}) == ["name"]
    assert fields(client, "/pets", json={"kind": "dog", "dog": {}}) == ["name"]

"""The messages through the API (backend, admins and managers): newest first, a page at a time
after the last message shown, of one agent, lead or status."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.settings import Settings
from leadgen.models import Notification
from leadgen.targets import backend
from tests import helpers
from tests.conftest import lead_payload, started

T0 = datetime(2020, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
async def backend_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for client in started(backend.create_app(settings)):
        yield client


async def staff(client: AsyncClient, session: AsyncSession, role: Role) -> dict[str, str]:
    agent = await helpers.agent(session, ["TX"]) if role == Role.AGENT else None
    email = await helpers.user(session, role, agent.id if agent else None)
    await session.commit()
    return await helpers.bearer(client, email)


@pytest.fixture
async def manager(client: AsyncClient, session: AsyncSession) -> dict[str, str]:
    return await staff(client, session, Role.MANAGER)


async def recorded(
    session: AsyncSession,
    at: datetime,
    agent_id: uuid.UUID | None = None,
    lead_id: uuid.UUID | None = None,
    status: str = "sent",
) -> uuid.UUID:
    """A message recorded at ``at`` (to an agent, else to a lead's person): its id."""
    message = Notification(
        channel="email",
        recipient_kind="agent" if agent_id else "lead",
        agent_id=agent_id,
        lead_id=lead_id,
        template="offer" if agent_id else "acknowledgement",
        status=status,
        created_at=at,
    )
    session.add(message)
    await session.flush()
    return message.id


async def listing(client: AsyncClient, headers: dict[str, str], query: str = "") -> Response:
    return await client.get(f"/api/v1/notifications{query}", headers=headers)


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [message["id"] for message in messages]


async def a_lead(client: AsyncClient, session: AsyncSession) -> uuid.UUID:
    key = await helpers.api_key(session)
    await session.commit()
    answer = await client.post("/api/v1/leads", json=lead_payload(), headers={"X-API-Key": key})
    assert answer.status_code == 202, answer.text
    return uuid.UUID(answer.json()["id"])


class TestPaging:
    async def test_the_pages_hold_every_message_once_newest_first_and_the_last_has_no_next(
        self, backend_client: AsyncClient, session: AsyncSession, manager: dict[str, str]
    ) -> None:
        agent = (await helpers.agent(session, ["TX"])).id
        # Three messages of one instant (a routing round's): the id orders them.
        same_instant = [await recorded(session, T0, agent) for _ in range(3)]
        others = [await recorded(session, T0 + timedelta(minutes=m), agent) for m in (-1, 1, 2, 3)]
        await session.commit()
        pages = await helpers.every_page(backend_client, manager, "/api/v1/notifications?limit=3")
        assert [len(page) for page in pages] == [3, 3, 1]
        newest_first = [str(i) for i in [*reversed(others[1:]), *sorted(same_instant, reverse=True), others[0]]]
        assert ids([message for page in pages for message in page]) == newest_first
        assert pages[0][0]["created_at"] == "2020-11-20T09:03:00Z"

    async def test_the_next_page_keeps_the_filters(
        self, backend_client: AsyncClient, session: AsyncSession, manager: dict[str, str]
    ) -> None:
        agent = (await helpers.agent(session, ["TX"])).id
        for minute in range(4):
            await recorded(session, T0 + timedelta(minutes=minute), agent, status="failed")
            await recorded(session, T0 + timedelta(minutes=minute, seconds=1), agent)
        await session.commit()
        pages = await helpers.every_page(backend_client, manager, "/api/v1/notifications?status=failed&limit=3")
        assert [len(page) for page in pages] == [3, 1]
        assert {message["status"] for page in pages for message in page} == {"failed"}


class TestFilters:
    async def test_by_agent_lead_and_status(
        self, client: AsyncClient, backend_client: AsyncClient, session: AsyncSession, manager: dict[str, str]
    ) -> None:
        maria, sam = (await helpers.agent(session, ["TX"])).id, (await helpers.agent(session, ["TX"])).id
        lead = await a_lead(client, session)
        offer = await recorded(session, T0, maria, lead)
        held = await recorded(session, T0 + timedelta(minutes=1), lead_id=lead, status="scheduled")
        other_offer = await recorded(session, T0 + timedelta(minutes=2), sam, status="failed")
        await session.commit()
        expected = {
            f"?agent_id={maria}": [offer],
            f"?lead_id={lead}": [held, offer],
            f"?lead_id={lead}&status=scheduled": [held],
            "?status=failed": [other_offer],
            f"?agent_id={sam}&status=sent": [],
            "?status=blocked": [],
        }
        for query, messages in expected.items():
            answer = await listing(backend_client, manager, query)
            assert answer.status_code == 200, answer.text
            assert ids(answer.json()) == [str(m) for m in messages], query


class TestBadValues:
    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("?limit=0", "query.limit"),
            ("?limit=501", "query.limit"),
            ("?status=lost", "query.status"),
            ("?agent_id=maria", "query.agent_id"),
            ("?lead_id=1", "query.lead_id"),
            ("?before=42", "query.before"),
            ("?before=00000000-0000-4000-8000-000000000000", "query.before"),  # no such message
            # Not parameters of the listing: paging by offset, a misspelt filter.
            ("?offset=500", "query.offset"),
            ("?agent=00000000-0000-4000-8000-000000000000", "query.agent"),
        ],
    )
    async def test_a_bad_value_is_a_422_naming_the_parameter(
        self, backend_client: AsyncClient, manager: dict[str, str], query: str, field: str
    ) -> None:
        answer = await listing(backend_client, manager, query)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in answer.json()["errors"]] == [field]


class TestAccess:
    @pytest.mark.parametrize(("role", "status"), [(Role.ADMIN, 200), (Role.MANAGER, 200), (Role.AGENT, 403)])
    async def test_staff_read_the_messages_and_agents_do_not(
        self,
        client: AsyncClient,
        backend_client: AsyncClient,
        session: AsyncSession,
        role: Role,
        status: int,
    ) -> None:
        headers = await staff(client, session, role)
        assert (await listing(backend_client, headers)).status_code == status

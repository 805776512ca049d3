"""Routing policies on both databases: one per source and campaign however admins write them at
once, and routing takes what the admin wrote last."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models import AuditEntry, RoutingPolicy, Source
from leadgen.models.base import utcnow
from leadgen.routing import repository
from tests import helpers


async def stored(resources: Resources) -> list[tuple[uuid.UUID | None, str | None, int | None]]:
    async with resources.require_sessions()() as s:
        return [(p.source_id, p.campaign, p.max_attempts) for p in await s.scalars(select(RoutingPolicy))]


async def admin_headers(client: AsyncClient, session: AsyncSession) -> dict[str, str]:
    admin = await helpers.user(session, Role.ADMIN)
    await session.commit()
    return await helpers.bearer(client, admin)


async def test_two_admins_writing_the_default_policy_at_once_leave_one(
    client: AsyncClient, data_client: AsyncClient, session: AsyncSession, resources: Resources
) -> None:
    headers = await admin_headers(client, session)
    record = audit.record

    async def slow_record(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0.2)  # a slow request: the other write comes in meanwhile
        await record(*args, **kwargs)

    async def put(attempts: int) -> int:
        answer = await data_client.put("/api/v1/routing-policies", json={"max_attempts": attempts}, headers=headers)
        return answer.status_code

    with patch.object(audit, "record", slow_record):
        assert list(await asyncio.gather(put(3), put(5))) == [200, 200]
    [(source_id, campaign, attempts)] = await stored(resources)
    assert (source_id, campaign) == (None, None) and attempts in (3, 5)


async def test_copies_written_before_writes_were_serialised_give_way_to_the_newest(
    client: AsyncClient,
    data_client: AsyncClient,
    session: AsyncSession,
    resources: Resources,
    settings: Settings,
    key: str,
) -> None:
    headers = await admin_headers(client, session)
    now = utcnow()
    session.add_all(
        [
            RoutingPolicy(campaign="spring-auto", max_attempts=2, created_at=now - timedelta(hours=1)),
            RoutingPolicy(campaign="spring-auto", max_attempts=4, created_at=now),
        ]
    )
    await session.commit()
    source_id = await session.scalar(select(Source.id))
    assert source_id is not None
    async with resources.require_sessions()() as s:
        assert (await repository.policy_for(s, source_id, "spring-auto", settings)).max_attempts == 4
    body = {"campaign": "spring-auto", "max_attempts": 6}
    assert (await data_client.put("/api/v1/routing-policies", json=body, headers=headers)).status_code == 200
    assert await stored(resources) == [(None, "spring-auto", 6)]
    async with resources.require_sessions()() as s:
        assert (await repository.policy_for(s, source_id, "spring-auto", settings)).max_attempts == 6


async def test_a_policy_names_a_source_by_the_id_the_sources_list_shows(
    client: AsyncClient, data_client: AsyncClient, session: AsyncSession, resources: Resources, key: str
) -> None:
    headers = await admin_headers(client, session)
    [source] = (await data_client.get("/api/v1/sources", headers=headers)).json()
    body = {"source_id": source["id"], "max_agents": 2}
    assert (await data_client.put("/api/v1/routing-policies", json=body, headers=headers)).status_code == 200
    assert await stored(resources) == [(uuid.UUID(source["id"]), None, None)]


async def test_an_unknown_source_is_422_on_its_field_and_stores_nothing(
    client: AsyncClient, data_client: AsyncClient, session: AsyncSession, resources: Resources
) -> None:
    headers = await admin_headers(client, session)
    body = {"source_id": str(uuid.uuid4()), "max_agents": 2}
    answer = await data_client.put("/api/v1/routing-policies", json=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"field": "source_id", "reason": "no such source"}]
    assert await stored(resources) == []


async def test_a_boolean_for_a_number_is_422_on_its_field_and_stores_nothing(
    client: AsyncClient, data_client: AsyncClient, session: AsyncSession, resources: Resources
) -> None:
    """JSON's true is no number, though Python takes it for 1."""
    headers = await admin_headers(client, session)
    for field in ("max_agents", "sla_minutes", "max_attempts"):
        answer = await data_client.put("/api/v1/routing-policies", json={field: True}, headers=headers)
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert await stored(resources) == []


async def test_a_blank_campaign_is_every_campaign(
    client: AsyncClient, data_client: AsyncClient, session: AsyncSession, resources: Resources
) -> None:
    headers = await admin_headers(client, session)
    for campaign, attempts in (("", 2), ("   ", 3), (" spring-auto ", 4)):
        body = {"campaign": campaign, "max_attempts": attempts}
        assert (await data_client.put("/api/v1/routing-policies", json=body, headers=headers)).status_code == 200
    assert sorted(await stored(resources), key=lambda p: p[1] or "") == [(None, None, 3), (None, "spring-auto", 4)]


async def test_an_admin_removes_a_mistyped_policy_and_the_removal_is_audited(
    client: AsyncClient, data_client: AsyncClient, session: AsyncSession, resources: Resources
) -> None:
    headers = await admin_headers(client, session)
    manager = await helpers.user(session, Role.MANAGER)
    await session.commit()
    body = {"campaign": "sprnig-auto", "max_agents": 3}
    policy = (await data_client.put("/api/v1/routing-policies", json=body, headers=headers)).json()
    url = f"/api/v1/routing-policies/{policy['id']}"
    assert (await data_client.delete(url, headers=await helpers.bearer(client, manager))).status_code == 403
    removed = await data_client.delete(url, headers=headers)
    assert removed.status_code == 204, removed.text
    assert await stored(resources) == []
    assert (await data_client.delete(url, headers=headers)).status_code == 404
    async with resources.require_sessions()() as s:
        [entry] = await s.scalars(select(AuditEntry).where(AuditEntry.action == "routing_policy.deleted"))
    assert (entry.subject_type, entry.subject_id) == ("routing_policy", policy["id"])
    assert entry.data == {key: value for key, value in policy.items() if key != "id"}

"""The audit log through the API (data-service, admins only): newest first, a page at a time after
the last entry shown, filtered by time, actor, action and subject, however many lead views bury
an admin's action."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.models import AuditEntry
from tests import helpers

T0 = datetime(2020, 11, 20, 9, 0, tzinfo=UTC)


async def logged(
    session: AsyncSession,
    at: datetime,
    action: str,
    actor: str = "user:1",
    subject: tuple[str, str | None] = ("x", None),
) -> uuid.UUID:
    """An entry written at ``at``: its id."""
    subject_type, subject_id = subject
    entry = AuditEntry(actor=actor, action=action, subject_type=subject_type, subject_id=subject_id, created_at=at)
    session.add(entry)
    await session.flush()
    return entry.id


async def audit(data_client: AsyncClient, headers: dict[str, str], query: str = "") -> Response:
    return await data_client.get(f"/api/v1/audit{query}", headers=headers)


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["id"] for entry in entries]


@pytest.fixture
async def admin(client: AsyncClient, session: AsyncSession) -> dict[str, str]:
    email = await helpers.user(session, Role.ADMIN)
    await session.commit()
    return await helpers.bearer(client, email)


class TestPaging:
    async def test_the_pages_hold_every_entry_once_newest_first_and_the_last_has_no_next(
        self, data_client: AsyncClient, session: AsyncSession, admin: dict[str, str]
    ) -> None:
        # Three entries of one instant (written in one transaction): the id orders them.
        same_instant = [await logged(session, T0, "agent.updated") for _ in range(3)]
        others = [await logged(session, T0 + timedelta(minutes=m), "source.updated") for m in (-1, 1, 2, 3)]
        await session.commit()
        query = "limit=3&since=2020-11-20T00:00:00Z&until=2020-11-21T00:00:00Z"
        pages = await helpers.every_page(data_client, admin, f"/api/v1/audit?{query}")
        assert [len(page) for page in pages] == [3, 3, 1]
        shown = [entry for page in pages for entry in page]
        newest_first = [str(i) for i in [*reversed(others[1:]), *sorted(same_instant, reverse=True), others[0]]]
        assert ids(shown) == newest_first
        assert [entry["at"] for entry in shown] == sorted((entry["at"] for entry in shown), reverse=True)

    async def test_a_page_deep_in_the_log_is_found_by_its_before(
        self, data_client: AsyncClient, session: AsyncSession, admin: dict[str, str]
    ) -> None:
        written = [await logged(session, T0 + timedelta(seconds=s), "lead.viewed") for s in range(5)]
        await session.commit()
        answer = await audit(data_client, admin, f"?action=lead.viewed&before={written[3]}&limit=2")
        assert ids(answer.json()) == [str(written[2]), str(written[1])]
        assert helpers.NEXT_PAGE_LINK.match(answer.headers["link"])
        last = await audit(data_client, admin, f"?action=lead.viewed&before={written[1]}&limit=2")
        assert ids(last.json()) == [str(written[0])] and "link" not in last.headers

    async def test_the_next_page_keeps_the_filters(
        self, data_client: AsyncClient, session: AsyncSession, admin: dict[str, str]
    ) -> None:
        for minute in range(4):
            await logged(session, T0 + timedelta(minutes=minute), "agent.updated")
            await logged(session, T0 + timedelta(minutes=minute, seconds=1), "lead.viewed")
        await session.commit()
        pages = await helpers.every_page(data_client, admin, "/api/v1/audit?action=agent.updated&limit=3")
        assert [len(page) for page in pages] == [3, 1]
        assert {entry["action"] for page in pages for entry in page} == {"agent.updated"}


class TestFilters:
    async def test_an_admins_action_buried_under_lead_views_is_found(
        self, data_client: AsyncClient, session: AsyncSession, admin: dict[str, str]
    ) -> None:
        """A morning of lead views used to push an admin's change out of the newest 500 entries,
        the most the API would give."""
        agent = str(uuid.uuid4())
        change = await logged(session, T0, "agent.updated", "user:admin", ("agent", agent))
        for second in range(1, 601):
            await logged(session, T0 + timedelta(seconds=second), "lead.viewed", "user:agent", ("lead", "1"))
        await session.commit()
        newest = await audit(data_client, admin, "?limit=500")
        assert str(change) not in ids(newest.json())
        for query in ("?action=agent.updated", "?actor=user:admin", f"?subject_type=agent&subject_id={agent}"):
            found = await audit(data_client, admin, query)
            assert ids(found.json()) == [str(change)], query
        pages = await helpers.every_page(data_client, admin, "/api/v1/audit?limit=500")
        assert ids(pages[-1])[-1] == str(change)

    async def test_each_filter_and_the_period(
        self, data_client: AsyncClient, session: AsyncSession, admin: dict[str, str]
    ) -> None:
        lead = str(uuid.uuid4())
        viewed = await logged(session, T0, "lead.viewed", "user:a", ("lead", lead))
        reopened = await logged(session, T0 + timedelta(hours=1), "lead.reopened", "user:b", ("lead", lead))
        other = await logged(session, T0 + timedelta(hours=2), "lead.viewed", "user:a", ("lead", str(uuid.uuid4())))
        exported = await logged(session, T0 + timedelta(hours=3), "privacy.exported", "cli", ("person", None))
        await session.commit()
        expected = {
            "?actor=user:a": [other, viewed],
            "?action=lead.viewed": [other, viewed],
            "?subject_type=lead": [other, reopened, viewed],
            f"?subject_type=lead&subject_id={lead}": [reopened, viewed],
            f"?subject_id={lead}&actor=user:b": [reopened],
            "?subject_type=person": [exported],
            # since is included, until is not; a time in another zone is the same instant.
            "?since=2020-11-20T10:00:00Z&until=2020-11-20T12:00:00Z": [other, reopened],
            "?since=2020-11-20T05:00:00-05:00&until=2020-11-20T06:00:00-05:00": [reopened],
            "?action=lead.viewed&until=2020-11-20T10:00:00Z": [viewed],
            "?action=agent.updated": [],
        }
        for query, entries in expected.items():
            answer = await audit(data_client, admin, query)
            assert answer.status_code == 200, answer.text
            assert ids(answer.json()) == [str(e) for e in entries], query

    async def test_an_entry_says_who_did_what_to_what_and_when(
        self, data_client: AsyncClient, session: AsyncSession, admin: dict[str, str]
    ) -> None:
        session.add(
            AuditEntry(
                actor="user:a",
                action="source.updated",
                subject_type="source",
                subject_id="s-1",
                data={"price_cents": [0, 1500]},
                created_at=T0,
            )
        )
        await session.commit()
        [entry] = (await audit(data_client, admin, "?action=source.updated")).json()
        assert entry == {
            "id": entry["id"],
            "at": "2020-11-20T09:00:00Z",
            "actor": "user:a",
            "action": "source.updated",
            "subject_type": "source",
            "subject_id": "s-1",
            "data": {"price_cents": [0, 1500]},
        }


class TestBadValues:
    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("?limit=0", "query.limit"),
            ("?limit=501", "query.limit"),
            ("?since=2020-11-20", "query.since"),
            ("?since=yesterday", "query.since"),
            ("?until=2020-11-20T09:00:00", "query.until"),
            ("?since=2020-11-20T10:00:00Z&until=2020-11-20T09:00:00Z", "query.until"),
            ("?since=0001-01-01T00:00:00%2B05:00", "query.since"),
            ("?before=42", "query.before"),
            ("?before=00000000-0000-4000-8000-000000000000", "query.before"),  # no such entry
            ("?action=", "query.action"),
            ("?actor=user%00", "query.actor"),
            (f"?subject_id={'x' * 65}", "query.subject_id"),
            # Not parameters of the log: paging by offset, a misspelt filter.
            ("?offset=500", "query.offset"),
            ("?actions=agent.updated", "query.actions"),
        ],
    )
    async def test_a_bad_value_is_a_422_naming_the_parameter(
        self, data_client: AsyncClient, admin: dict[str, str], query: str, field: str
    ) -> None:
        answer = await audit(data_client, admin, query)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in answer.json()["errors"]] == [field]


class TestAccess:
    @pytest.mark.parametrize("role", [Role.MANAGER, Role.AGENT])
    async def test_only_admins_read_the_log(
        self, client: AsyncClient, data_client: AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        agent = await helpers.agent(session, ["TX"]) if role == Role.AGENT else None
        email = await helpers.user(session, role, agent.id if agent else None)
        await session.commit()
        assert (await audit(data_client, await helpers.bearer(client, email))).status_code == 403

    async def test_without_a_token_it_is_a_401(self, data_client: AsyncClient) -> None:
        assert (await audit(data_client, {})).status_code == 401

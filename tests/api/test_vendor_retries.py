"""A vendor's retry of a lead (the same ``external_id`` again) stores nothing and answers with the
lead stored the first time; the same id for another person is refused, and a blank id is no id; the
unique index settles two sent at once; migration 0011 builds that index on a database that already
holds repeats and blank ids."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from httpx import AsyncClient, Response
from pydantic import TypeAdapter
from sqlalchemy import Engine, Insert, column, event, insert, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.repository import source_by_name
from leadgen.auth.service import SourceRef
from leadgen.core.db import create_engine, create_sessionmaker, transaction
from leadgen.core.migrate import alembic_config, downgrade, upgrade
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads import repository, service
from leadgen.leads.lifecycle import LeadStatus
from leadgen.leads.schemas import LeadCreate
from leadgen.models import ConsentRecord, Lead, LeadEvent, OutboxEvent, Source
from leadgen.models.base import Base
from leadgen.outbox import repository as outbox
from tests import helpers
from tests.api.test_intake import count
from tests.conftest import lead_payload
from tests.stores.test_migrations import empty_database

__all__ = ["empty_database"]  # the fixture, for pytest to find here

LEADS = "/api/v1/leads"
INDEX = "uq_leads_source_id_external_id"
# The schema this test's migration starts from (0010, or what it revises while 0010 is written).
BEFORE = str(ScriptDirectory.from_config(alembic_config()).get_revision("0011").down_revision)


@pytest.fixture
async def source(session: AsyncSession, key: str) -> SourceRef:
    found = await source_by_name(session, "test-vendor")
    assert found is not None
    return SourceRef(found.id, found.name)


async def stored_counts(session: AsyncSession) -> list[int]:
    return [await count(session, model) for model in (Lead, ConsentRecord, LeadEvent, OutboxEvent)]


class TestRetry:
    async def test_a_retry_stores_nothing_and_answers_200_with_the_first_lead(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        payload = lead_payload(external_id="vendor-42")
        first = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        again = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert (first.status_code, again.status_code) == (202, 200), again.text
        assert again.json() == first.json()
        assert await stored_counts(session) == [1, 1, 1, 1]

    async def test_the_answer_says_where_the_lead_is_now(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        payload = lead_payload(external_id="vendor-42")
        first = (await client.post(LEADS, json=payload, headers={"X-API-Key": key})).json()
        await session.execute(update(Lead).values(status=LeadStatus.ROUTED))
        await session.commit()
        again = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert again.status_code == 200
        assert again.json() == {**first, "status": "ROUTED"}

    async def test_the_id_is_the_sources_own(self, client: AsyncClient, key: str, session: AsyncSession) -> None:
        other = await helpers.api_key(session, "other-vendor")
        await session.commit()
        payload = lead_payload(external_id="vendor-42")
        codes = [(await client.post(LEADS, json=payload, headers={"X-API-Key": k})).status_code for k in (key, other)]
        assert codes == [202, 202]
        assert await count(session, Lead) == 2

    async def test_leads_without_an_id_are_each_stored(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        payload = lead_payload()
        codes = [(await client.post(LEADS, json=payload, headers={"X-API-Key": key})).status_code for _ in range(2)]
        assert codes == [202, 202]
        assert await count(session, Lead) == 2

    @pytest.mark.parametrize("blank", ["", "   ", "\t"])
    async def test_a_blank_id_is_no_id(self, client: AsyncClient, key: str, session: AsyncSession, blank: str) -> None:
        """Two people sent with a blank id are two leads, not a lead and its retry."""
        answers = [
            await client.post(LEADS, json=lead_payload(external_id=blank), headers={"X-API-Key": key}) for _ in range(2)
        ]
        assert [a.status_code for a in answers] == [202, 202]
        assert answers[0].json()["id"] != answers[1].json()["id"]
        assert (await session.scalars(select(Lead.external_id))).all() == [None, None]


def another_person(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with a person of its own: no phone number or e-mail address in common."""
    other = lead_payload(external_id=payload["external_id"])
    email = f"robin-{uuid.uuid4().hex[:8]}@example.com"
    other["contact"].update(first_name="Robin", phone="737-555-0100", email=email)  # lead_payload's are 512
    return other


def conflict_on_the_id(answer: Response) -> None:
    assert answer.status_code == 409, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == "external_id"
    assert "already names another person's lead" in error["reason"]


class TestIdOfAnotherPerson:
    async def test_an_id_reused_for_another_person_is_refused_and_stores_nothing(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        first = lead_payload(external_id="vendor-42")
        assert (await client.post(LEADS, json=first, headers={"X-API-Key": key})).status_code == 202
        conflict_on_the_id(await client.post(LEADS, json=another_person(first), headers={"X-API-Key": key}))
        assert await stored_counts(session) == [1, 1, 1, 1]

    @pytest.mark.parametrize("kept", ["phone", "email"])
    async def test_a_retry_that_keeps_the_phone_or_the_e_mail_is_the_same_person(
        self, client: AsyncClient, key: str, session: AsyncSession, kept: str
    ) -> None:
        first = lead_payload(external_id="vendor-42")
        retry = another_person(first)
        retry["contact"][kept] = first["contact"][kept]
        answers = [await client.post(LEADS, json=body, headers={"X-API-Key": key}) for body in (first, retry)]
        assert [a.status_code for a in answers] == [202, 200]
        assert await stored_counts(session) == [1, 1, 1, 1]

    @pytest.mark.parametrize(
        ("again", "reason"),
        [
            ({"test": True}, "already names a live lead"),
            ({"line": "life", "details": {"height_inches": 66, "weight_pounds": 150, "tobacco": False,
                                          "face_amount": 250000}}, "already names this person's auto lead"),
        ],
        ids=["a test lead after a live one", "another line"],
    )  # fmt: skip
    async def test_the_same_persons_other_request_under_the_id_is_refused_not_dropped(
        self, client: AsyncClient, key: str, session: AsyncSession, again: dict[str, Any], reason: str
    ) -> None:
        first = lead_payload(external_id="vendor-42")
        assert (await client.post(LEADS, json=first, headers={"X-API-Key": key})).status_code == 202
        answer = await client.post(LEADS, json={**first, **again}, headers={"X-API-Key": key})
        assert answer.status_code == 409, answer.text
        [error] = answer.json()["errors"]
        assert error["field"] == "external_id" and reason in error["reason"]
        assert await stored_counts(session) == [1, 1, 1, 1]

    async def test_the_loser_of_the_insert_is_refused_too(
        self, client: AsyncClient, key: str, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Another person's lead stored with the id between this request's look and its insert."""
        looked_up = repository.by_external_id

        async def stored_after_the_look(
            session: AsyncSession, source_id: uuid.UUID, external_id: str, lock: bool = False
        ) -> Lead | None:
            found = await looked_up(session, source_id, external_id, lock)
            return None if lock else found

        first = lead_payload(external_id="vendor-42")
        assert (await client.post(LEADS, json=first, headers={"X-API-Key": key})).status_code == 202
        monkeypatch.setattr(repository, "by_external_id", stored_after_the_look)
        conflict_on_the_id(await client.post(LEADS, json=another_person(first), headers={"X-API-Key": key}))
        assert await stored_counts(session) == [1, 1, 1, 1]

    async def test_the_openapi_description_shows_both_answers(self, client: AsyncClient) -> None:
        answers = (await client.get("/openapi.json")).json()["paths"][LEADS]["post"]["responses"]
        assert answers["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/LeadAccepted"}
        assert "external_id" in answers["200"]["description"] and "202" in answers


class TestAtOnce:
    async def test_the_loser_of_the_insert_answers_with_the_winner(
        self, client: AsyncClient, key: str, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A request whose first look found nothing, while another stored the same id before its
        insert: the unique index refuses the row, and the request answers 200 with the other's lead."""
        looked_up = repository.by_external_id

        async def stored_after_the_look(
            session: AsyncSession, source_id: uuid.UUID, external_id: str, lock: bool = False
        ) -> Lead | None:
            found = await looked_up(session, source_id, external_id, lock)
            return None if lock else found

        payload = lead_payload(external_id="vendor-42")
        first = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        monkeypatch.setattr(repository, "by_external_id", stored_after_the_look)
        again = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert (first.status_code, again.status_code) == (202, 200), again.text
        assert again.json() == first.json()
        assert await stored_counts(session) == [1, 1, 1, 1]

    async def test_two_sent_at_once_store_one_lead_and_both_answer_it(
        self, resources: Resources, settings: Settings, source: SourceRef, session: AsyncSession
    ) -> None:
        lead = TypeAdapter(LeadCreate).validate_python(lead_payload(external_id="vendor-42"))

        async def receive_alone() -> service.Received:
            async with resources.unit_of_work() as own:
                return await service.receive(own, settings, source, lead)

        async with resources.unit_of_work() as first:
            won = await service.receive(first, settings, source, lead)
            second = asyncio.create_task(receive_alone())
            await asyncio.sleep(0.5)
            # It waits for the first to end: on the unique index (PostgreSQL), the write lock (SQLite).
            assert not second.done()
        lost = await second
        assert (won.repeat, lost.repeat, lost.lead.id) == (False, True, won.lead.id)
        assert await stored_counts(session) == [1, 1, 1, 1]

    async def test_a_lead_with_an_id_is_stored_whole_or_not_at_all(
        self, client: AsyncClient, key: str, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The lead's insert runs in a savepoint of the request's transaction, never in a transaction
        of its own: when a later write fails, nothing of the lead stays (SQLite's driver would commit
        a savepoint opened before the transaction's first write)."""

        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("the outbox is broken")

        monkeypatch.setattr(outbox, "add", broken)
        answer = await client.post(LEADS, json=lead_payload(external_id="vendor-42"), headers={"X-API-Key": key})
        assert answer.status_code == 500 and "X-Request-ID" in answer.headers
        assert await stored_counts(session) == [0, 0, 0, 0]


# The columns a lead of schema BEFORE needs, for the rows the migration tests store.
_LEAD_COLUMNS = {
    "line": "auto",
    "origin": "api",
    "exclusive": True,
    "is_test": False,
    "status": LeadStatus.DUPLICATE,
    "state": "TX",
    "zip_code": "78701",
    "details": {},
    "route_attempts": 0,
}


def _older_row(model: type[Base], **values: Any) -> Insert:
    """A row of only the columns given, so that it fits schema BEFORE whatever the model has since."""
    columns = model.__table__.c
    older = table(model.__tablename__, *(column(name, columns[name].type) for name in values))
    return insert(older).values(values)


def _lead_row(**values: Any) -> Insert:
    return _older_row(Lead, **_LEAD_COLUMNS, **values)


async def _leads_with_repeats(settings: Settings) -> dict[str, uuid.UUID]:
    """Schema BEFORE: blank ids (twice "", once spaces), a source's id sent three times (three
    leads), another id once, a lead without one, and another source's lead with the first id.
    Returns the leads by a label."""
    engine = create_engine(settings, "test")
    now = datetime.now(UTC) - timedelta(days=1)  # well before any repeat stored during the test
    labels: dict[str, uuid.UUID] = {}
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            sources = {name: uuid.uuid4() for name in ("vendor", "other")}
            for name, source_id in sources.items():
                row = {"id": source_id, "name": name, "kind": "vendor", "cost_per_lead_cents": 0, "active": True}
                await session.execute(_older_row(Source, **row, created_at=now))
            rows = [
                ("blank", "vendor", "", now - timedelta(hours=3)),
                ("blank again", "vendor", "", now - timedelta(hours=2)),
                ("spaces", "vendor", "   ", now),
                ("first", "vendor", "vendor-1", now - timedelta(hours=2)),
                ("retry", "vendor", "vendor-1", now - timedelta(hours=1)),
                ("retry again", "vendor", "vendor-1", now),
                ("single", "vendor", "vendor-2", now),
                ("no id", "vendor", None, now),
                ("other's", "other", "vendor-1", now),
            ]
            for label, source_name, external_id, received_at in rows:
                labels[label] = uuid.uuid4()
                lead = _lead_row(
                    id=labels[label],
                    source_id=sources[source_name],
                    external_id=external_id,
                    received_at=received_at,
                    created_at=received_at,
                )
                await session.execute(lead)
    finally:
        await engine.dispose()
    return labels


async def _external_ids(settings: Settings) -> dict[uuid.UUID, str | None]:
    engine = create_engine(settings, "test")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return {row.id: row.external_id for row in await session.execute(select(Lead.id, Lead.external_id))}
    finally:
        await engine.dispose()


async def _store_a_repeat(settings: Settings) -> None:
    engine = create_engine(settings, "test")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            vendor = await session.scalar(select(Source.id).where(Source.name == "vendor"))
            now = datetime.now(UTC)
            row = _lead_row(id=uuid.uuid4(), source_id=vendor, external_id="vendor-1", received_at=now, created_at=now)
            await session.execute(row)
    finally:
        await engine.dispose()


def test_the_migration_keeps_the_earliest_of_each_sources_repeats(empty_database: Settings) -> None:
    upgrade(empty_database, BEFORE)
    lead = asyncio.run(_leads_with_repeats(empty_database))
    upgrade(empty_database)
    assert asyncio.run(_external_ids(empty_database)) == {
        lead["blank"]: None,
        lead["blank again"]: None,
        lead["spaces"]: None,
        lead["first"]: "vendor-1",
        lead["retry"]: None,
        lead["retry again"]: None,
        lead["single"]: "vendor-2",
        lead["no id"]: None,
        lead["other's"]: "vendor-1",
    }
    with pytest.raises(IntegrityError):
        asyncio.run(_store_a_repeat(empty_database))
    # And back (the index goes, the cleared ids stay cleared), and forward again.
    downgrade(empty_database, BEFORE)
    asyncio.run(_store_a_repeat(empty_database))
    upgrade(empty_database)
    assert list(asyncio.run(_external_ids(empty_database)).values()).count("vendor-1") == 2


@pytest.fixture
def a_repeat_arrives_during_the_build() -> Iterator[list[str]]:
    """The first build of the index finds a repeat that a pod of the release before stored after
    the migration cleared them (inserted on the migration's own autocommit connection)."""
    builds: list[str] = []

    def before_the_build(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("CREATE UNIQUE INDEX") or INDEX not in statement:
            return
        builds.append(statement)
        if len(builds) > 1:
            return
        new_id = "gen_random_uuid()" if conn.dialect.name == "postgresql" else "lower(hex(randomblob(16)))"
        copied = ", ".join(["source_id", "external_id", *_LEAD_COLUMNS])
        cursor.execute(
            f"INSERT INTO leads (id, received_at, created_at, {copied}) "
            f"SELECT {new_id}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, {copied} FROM leads WHERE external_id = 'vendor-1'"
        )

    event.listen(Engine, "before_cursor_execute", before_the_build)
    try:
        yield builds
    finally:
        event.remove(Engine, "before_cursor_execute", before_the_build)


def test_a_repeat_stored_while_the_index_builds_is_cleared_and_the_build_tried_again(
    empty_database: Settings, a_repeat_arrives_during_the_build: list[str]
) -> None:
    upgrade(empty_database, BEFORE)
    lead = asyncio.run(_leads_with_repeats(empty_database))
    upgrade(empty_database)
    assert len(a_repeat_arrives_during_the_build) == 2
    ids = asyncio.run(_external_ids(empty_database))
    assert {lead_id for lead_id, external_id in ids.items() if external_id == "vendor-1"} == {
        lead["first"],
        lead["other's"],
    }
    with pytest.raises(IntegrityError):
        asyncio.run(_store_a_repeat(empty_database))

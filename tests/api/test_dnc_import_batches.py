"""A do-not-contact list is imported a batch a transaction (``compliance.service.IMPORT_BATCH``):
others write while a long list is imported (on SQLite, one writer at a time, intake would wait for
the whole list and 503), and an import cut off keeps what it listed, which an import run again skips."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance import repository as dnc
from leadgen.compliance import service
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models import AuditEntry, DoNotContact, LeadEvent
from tests import helpers
from tests.conftest import lead_payload

BATCH = 100


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "IMPORT_BATCH", BATCH)


def addresses(count: int) -> list[str]:
    return [f"person{n}@list.example.net" for n in range(count)]


async def listed_count(resources: Resources) -> int:
    """The entries another session sees: those committed."""
    async with resources.require_sessions()() as other:
        return int(await other.scalar(select(func.count()).select_from(DoNotContact)) or 0)


async def audited(session: AsyncSession, actor: str) -> list[dict[str, Any]]:
    """The audit entries of the import run by ``actor``, by batch."""
    query = select(AuditEntry.data).where(AuditEntry.action == "do_not_contact.imported", AuditEntry.actor == actor)
    return sorted(await session.scalars(query), key=lambda entry: int(entry["batch"]))


async def test_others_read_and_write_between_the_batches_of_a_long_list(
    small_batches: None, resources: Resources, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = settings.security.pii_hash_key.get_secret_value()
    add_many = dnc.add_many
    batches_listed = 0
    opting_out: asyncio.Task[set[str]] | None = None
    opted_out_before_the_fourth_batch = False

    async def opt_out() -> set[str]:
        """A writer of its own, as intake's or the relay's writes would be."""
        async with resources.unit_of_work() as other:
            return await add_many(other, [("email", "hash-of-someone-who-replied-stop")], "asked to stop")

    async def listing_a_batch(session: AsyncSession, entries: list[tuple[str, str]], reason: str) -> set[str]:
        nonlocal batches_listed, opting_out, opted_out_before_the_fourth_batch
        if batches_listed == 3:
            opted_out_before_the_fourth_batch = opting_out is not None and opting_out.done()
        added = await add_many(session, entries, reason)  # the batch holds its write lock from here
        batches_listed += 1
        if batches_listed == 2:
            opting_out = asyncio.create_task(opt_out())
            # Long enough for SQLite's busy handler to wait its longest between tries.
            await asyncio.sleep(0.5)
        return added

    monkeypatch.setattr(dnc, "add_many", listing_a_batch)
    importing = asyncio.create_task(service.import_list(resources, addresses(40 * BATCH), key, "old CRM", "test"))

    async def first_batch_committed() -> None:
        assert await listed_count(resources) >= BATCH

    await helpers.eventually(first_batch_committed)
    assert not importing.done()  # the first batch is seen while the rest is being listed
    imported = await importing
    assert opting_out is not None and await opting_out
    # The writer waiting behind the second batch took the lock before the fourth: on SQLite, which
    # keeps no queue of writers, the import pauses between its batches for it.
    assert opted_out_before_the_fourth_batch
    assert (imported.added, imported.already_listed, imported.invalid_lines, imported.leads) == (40 * BATCH, 0, [], 0)
    assert await listed_count(resources) == 40 * BATCH + 1


async def test_an_import_cut_off_keeps_the_batches_before_and_run_again_lists_the_rest_once(
    small_batches: None,
    client: AsyncClient,
    resources: Resources,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await helpers.agent(session, ["TX"])
    source_key = await helpers.api_key(session)
    await session.commit()
    payload = lead_payload()
    lead_id = await helpers.submitted_and_processed(client, resources, source_key, payload)
    # 412 entries: the person's phone is the fourth batch's 11th, their e-mail address the fifth's
    # last; the last line is not understood.
    lines = [*addresses(3 * BATCH + 10), payload["contact"]["phone"]]
    lines += [f"more{n}@list.example.net" for n in range(BATCH)] + [payload["contact"]["email"], "not a number"]
    key = settings.security.pii_hash_key.get_secret_value()

    add_many = dnc.add_many
    calls = 0

    async def cut_off_in_the_fourth_batch(
        session: AsyncSession, entries: list[tuple[str, str]], reason: str
    ) -> set[str]:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise ConnectionResetError("the command was cut off")
        return await add_many(session, entries, reason)

    monkeypatch.setattr(dnc, "add_many", cut_off_in_the_fourth_batch)
    with pytest.raises(ConnectionResetError):
        await service.import_list(resources, lines, key, "old CRM", "cut-off")
    assert await listed_count(resources) == 3 * BATCH
    cut_off = [(e["batch"], e["batches"], e["added"], e["invalid_lines"]) for e in await audited(session, "cut-off")]
    assert cut_off == [(1, 5, BATCH, 1), (2, 5, BATCH, 0), (3, 5, BATCH, 0)]
    assert await opted_out_events(session, lead_id) == []  # its batch was rolled back

    monkeypatch.setattr(dnc, "add_many", add_many)
    again = await service.import_list(resources, lines, key, "old CRM", "again")
    assert (again.added, again.already_listed, again.invalid_lines, again.leads) == (112, 3 * BATCH, [413], 1)
    assert await listed_count(resources) == 412
    ran = [(e["batch"], e["added"], e["already_listed"], e["leads"]) for e in await audited(session, "again")]
    assert ran == [(1, 0, BATCH, 0), (2, 0, BATCH, 0), (3, 0, BATCH, 0), (4, BATCH, 0, 1), (5, 12, 0, 0)]
    # Barred by its phone; the e-mail address listed a batch later does not bar it a second time.
    assert await opted_out_events(session, lead_id) == [{"via": "import"}]


async def opted_out_events(session: AsyncSession, lead_id: uuid.UUID) -> list[dict[str, Any]]:
    query = select(LeadEvent.data).where(LeadEvent.lead_id == lead_id, LeadEvent.name == "lead.opted_out")
    return list(await session.scalars(query))

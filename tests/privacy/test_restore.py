"""Erasures carried over a restore from a backup: ``leadgen privacy erasures`` lists, from the
database being replaced, the leads anonymised and the entries erasures listed since the backup, and
``leadgen privacy reapply`` erases them again in the restored one, idempotently and audited.

On both databases, with a backup taken and restored as the backups do."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from leadgen.cli.main import app
from leadgen.compliance import repository as dnc
from leadgen.core.db import create_engine, create_sessionmaker, transaction
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.models import AuditEntry, DoNotContact, Lead, LeadEvent
from leadgen.models.base import utcnow
from leadgen.privacy import restore
from leadgen.privacy import service as privacy
from leadgen.privacy.restore import Reapplied
from leadgen.privacy.schemas import AnonymisedFor, AnonymisedLead, ErasureEntry, Erasures
from tests.privacy.test_retention import lead, lead_of, person

ERASE = "/api/v1/privacy/erase"


def test_the_reasons_a_listing_takes_are_those_leads_are_anonymised_for() -> None:
    assert get_args(AnonymisedFor) == (privacy.ERASURE_REQUEST, privacy.RETENTION)


async def erase(resources: Resources, settings: Settings, email: str) -> None:
    hash_key = settings.security.pii_hash_key.get_secret_value()
    async with resources.unit_of_work() as s:
        await privacy.erase(s, privacy.person_hashes(hash_key, email, None), "admin")


async def purge(resources: Resources, lead_id: uuid.UUID) -> None:
    """The retention purge of the lead's person (every activity of theirs before a cutoff a second
    from now: they are due)."""
    async with resources.unit_of_work() as s:
        assert await privacy.purge_person(s, lead_id, cutoff=utcnow() + timedelta(seconds=1))


async def listed(session: AsyncSession) -> dict[str, str]:
    """The do-not-contact list: each hash's reason."""
    return {entry.value_hash: entry.reason for entry in await session.scalars(select(DoNotContact))}


class TestErasures:
    async def test_the_leads_anonymised_and_the_entries_erasures_listed_since_are_listed(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        before, erased, purged = person(), person(), person()
        earlier = await lead_of(client, resources, key, before)
        await erase(resources, settings, before["email"])
        since = utcnow()
        of_erased = await lead_of(client, resources, key, erased)
        of_purged = await lead_of(client, resources, key, purged)
        await erase(resources, settings, erased["email"])
        await purge(resources, of_purged)
        async with resources.unit_of_work() as s:  # an opt-out is no erasure
            await dnc.add_many(s, [("email", "f" * 64)], "replied to a text asking to stop")

        async with resources.unit_of_work() as s:
            listing = await restore.erasures(s, since)
            everything = await restore.erasures(s, None)

        assert [(lead.lead_id, lead.reason) for lead in listing.anonymised] == [
            (of_erased, "erasure request"),
            (of_purged, "retention"),
        ]
        erasures_listed = {value for value, reason in (await listed(session)).items() if reason == "erasure request"}
        assert len(listing.do_not_contact) == 2  # the erased person's e-mail address and number
        assert {entry.value_hash for entry in listing.do_not_contact} < erasures_listed
        assert [lead.lead_id for lead in everything.anonymised] == [earlier, of_erased, of_purged]
        assert {entry.value_hash for entry in everything.do_not_contact} == erasures_listed


def _anonymised(lead_id: uuid.UUID, reason: str) -> AnonymisedLead:
    return AnonymisedLead.model_validate({"lead_id": lead_id, "at": utcnow(), "reason": reason})


class TestReapply:
    async def test_the_leads_are_anonymised_again_as_they_were_and_the_entries_listed_again(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        """As a database restored from a backup holds them: the leads as they were before."""
        erased, purged = person(), person()
        of_erased = await lead_of(client, resources, key, erased)
        of_purged = await lead_of(client, resources, key, purged)
        own = dnc.own_hashes(await lead(session, of_erased))
        nobodys = ErasureEntry(kind="email", value_hash="e" * 64, at=utcnow())  # a person with no lead here
        listing = Erasures(
            since=utcnow(),
            listed_at=utcnow(),
            anonymised=[
                _anonymised(of_erased, "erasure request"),
                _anonymised(of_purged, "retention"),
                _anonymised(uuid.uuid4(), "erasure request"),  # received after the backup
            ],
            do_not_contact=[nobodys],
        )

        assert await restore.reapply(resources, listing, "cli") == Reapplied(2, 0, 1, 1, 0)

        for lead_id, reason in ((of_erased, "erasure request"), (of_purged, "retention")):
            again = await lead(session, lead_id)
            assert again.anonymised_at is not None and (again.email, again.phone, again.phone_hash) == (None,) * 3
            events = await session.scalars(
                select(LeadEvent.data).where(LeadEvent.lead_id == lead_id, LeadEvent.name == "lead.anonymised")
            )
            assert list(events) == [{"reason": reason}]
        # The erased person's own entries, and the listed one; nobody asked the purged one to stop.
        assert await listed(session) == {value: "erasure request" for _, value in [*own, ("email", "e" * 64)]}
        assert await reapplications(session) == {
            "do_not_contact": {"added": 1},
            "person": {"lead_ids": [str(of_erased), str(of_purged)]},
        }

        # Again: nothing changes, and nothing more is audited.
        assert await restore.reapply(resources, listing, "cli") == Reapplied(0, 2, 1, 0, 1)
        assert len(await reapplications(session)) == 2


async def reapplications(session: AsyncSession) -> dict[str, dict[str, Any]]:
    """The audit entries of ``reapply``, by what they are about."""
    entries = await session.scalars(select(AuditEntry).where(AuditEntry.action == restore.REAPPLIED_ACTION))
    return {entry.subject_type: entry.data for entry in entries}


async def _cli(*args: str) -> Result:
    # In a thread: the command runs its own event loop.
    return await asyncio.to_thread(CliRunner().invoke, app, ["privacy", *args])


async def _in(settings: Settings, lead_ids: list[uuid.UUID]) -> tuple[list[bool], dict[str, str]]:
    """In the database of ``settings``: whether each lead is there and anonymised, and the
    do-not-contact list."""
    engine = create_engine(settings, "test")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            leads = [await session.get(Lead, lead_id) for lead_id in lead_ids]
            return [found is not None and found.anonymised_at is not None for found in leads], await listed(session)
    finally:
        await engine.dispose()


async def test_a_restored_database_gets_back_the_erasures_made_after_its_backup(
    client: AsyncClient,
    data_client: AsyncClient,
    resources: Resources,
    session: AsyncSession,
    key: str,
    admin_headers: dict[str, str],
    backup: Callable[[], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    erased, purged, after = person(), person(), person()
    of_erased = await lead_of(client, resources, key, erased)
    of_purged = await lead_of(client, resources, key, purged)
    backup_began = utcnow()
    restored = await backup()
    of_after = await lead_of(client, resources, key, after)  # received after the backup, and erased
    for gone in (erased, after, {"email": "nobody@example.com"}):
        answer = await data_client.post(ERASE, json={"email": gone["email"]}, headers=admin_headers)
        assert answer.status_code == 200, answer.text
    await purge(resources, of_purged)
    before = await listed(session)

    # Against the database being replaced: the file for the restored one.
    shown = await _cli("erasures", "--since", backup_began.isoformat())
    assert shown.exit_code == 0, shown.output
    assert "3 leads anonymised, 5 do-not-contact entries added by erasures" in " ".join(shown.stdout.split())
    listing = await _cli("erasures", "--since", backup_began.isoformat(), "--json")
    assert listing.exit_code == 0, listing.output
    saved = tmp_path / "erasures.json"
    saved.write_text(listing.stdout)
    assert [item["lead_id"] for item in json.loads(listing.stdout)["anonymised"]] == [
        str(lead_id) for lead_id in (of_erased, of_after, of_purged)
    ]

    # Against the restored database: the erased and the purged are back, until reapplied.
    monkeypatch.setenv("LEADGEN_DB_URL", restored)
    get_settings.cache_clear()
    assert await _in(Settings(), [of_erased, of_purged, of_after]) == ([False, False, False], {})
    reapplied = await _cli("reapply", str(saved), "--json")
    assert reapplied.exit_code == 0, reapplied.output
    done: dict[str, Any] = json.loads(reapplied.stdout)
    assert done == {
        "anonymised": 2,
        "already_anonymised": 0,
        "missing": 1,
        "listed": 5,
        "already_listed": 0,
        # No opt-out since the backup: an erasure's entries are the erasure's.
        "opt_outs_listed": 0,
        "already_opted_out": 0,
        "taken_off": 0,
        "opt_out_events": 0,
        "already_opt_out_events": 0,
        "opt_out_events_missing": 0,
    }
    # The lead received after the backup is not there; its person's entries, and those of one who
    # had no lead, are listed as the old database lists them.
    assert await _in(Settings(), [of_erased, of_purged, of_after]) == ([True, True, False], before)

    again = await _cli("reapply", str(saved))
    assert again.exit_code == 0, again.output
    said = " ".join(again.stdout.split())  # as the terminal wraps it
    assert said == (
        "anonymised 0 leads again (2 anonymised already, 1 not in this database); "
        "listed 0 do-not-contact entries again (5 already); listed 0 opt-out entries again (0 already), took 0 off; "
        "recorded 0 opt-out events again (0 already, 0 of leads not in this database)"
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [("{not json", "(the file: Invalid JSON"), ('{"anonymised": []}', "(since: Field required)")],
    ids=["not JSON", "another shape"],
)
def test_a_file_not_of_the_listing_is_refused_whole(tmp_path: Path, content: str, said: str) -> None:
    saved = tmp_path / "erasures.json"
    saved.write_text(content)
    result = CliRunner().invoke(app, ["privacy", "reapply", str(saved)])
    assert result.exit_code == 2
    assert f"is not what `leadgen privacy erasures --json` prints {said}" in result.stderr

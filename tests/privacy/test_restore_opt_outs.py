"""Opt-outs carried over a restore from a backup: the do-not-contact entries listed since the backup
(a STOP, an unsubscribe, staff, an imported list), the opt-outs taken back as listed by mistake, and
the leads' ``lead.opted_out`` / ``lead.opt_out_withdrawn`` events. Without them a restored database
would let the platform text or e-mail a person who had opted out (TCPA, CAN-SPAM).

On two real databases: the test's, and a backup of it restored into one of its own."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from leadgen.cli.main import app
from leadgen.compliance import repository as dnc
from leadgen.compliance import service as compliance
from leadgen.compliance.rules import OPTED_OUT_EVENT
from leadgen.core.db import create_engine, create_sessionmaker, transaction
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings, get_settings
from leadgen.models import AuditEntry, DoNotContact, Lead, LeadEvent
from leadgen.models.base import utcnow
from leadgen.privacy import restore
from tests.privacy.test_retention import lead_of, person

OPT_OUTS = "/api/v1/opt-outs"
REMOVALS = "/api/v1/opt-outs/removals"
OPT_OUT_EVENTS = (OPTED_OUT_EVENT, dnc.OPT_OUT_WITHDRAWN_EVENT)

# What a restored database is compared on, per lead: may it be contacted, and its opt-out events.
State = tuple[dict[uuid.UUID, str | None], dict[str, tuple[str, str]], set[tuple[uuid.UUID, str, str]]]


async def _cli(*args: str) -> Result:
    # In a thread: the command runs its own event loop.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def _state(session: AsyncSession, lead_ids: list[uuid.UUID]) -> State:
    """Why each lead may not be contacted (None: it may), the list (each hash's kind and reason),
    and the leads' opt-out events (lead, name, what they say)."""
    barred: dict[uuid.UUID, str | None] = {}
    for lead_id in lead_ids:
        found = await session.get(Lead, lead_id, populate_existing=True)
        assert found is not None
        barred[lead_id] = await dnc.contact_barred(session, found)
    entries = {entry.value_hash: (entry.kind, entry.reason) for entry in await session.scalars(select(DoNotContact))}
    events = await session.scalars(
        select(LeadEvent).where(LeadEvent.lead_id.in_(lead_ids), LeadEvent.name.in_(OPT_OUT_EVENTS))
    )
    return barred, entries, {(event.lead_id, event.name, json.dumps(event.data)) for event in events}


async def _restored_state(lead_ids: list[uuid.UUID]) -> State:
    """``_state`` in the database ``LEADGEN_DB_URL`` names now."""
    engine = create_engine(Settings(), "test")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return await _state(session, lead_ids)
    finally:
        await engine.dispose()


async def _reapplications(session: AsyncSession) -> int:
    return len(list(await session.scalars(select(AuditEntry).where(AuditEntry.action == restore.REAPPLIED_ACTION))))


async def test_a_restored_database_gets_back_the_opt_outs_made_after_its_backup(
    client: AsyncClient,
    resources: Resources,
    session: AsyncSession,
    key: str,
    settings: Settings,
    admin_headers: dict[str, str],
    backup: Callable[[], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    kept, mistaken, stopped, flipped, imported = (person() for _ in range(5))
    leads = {
        name: await lead_of(client, resources, key, contact)
        for name, contact in (
            ("kept", kept),
            ("mistaken", mistaken),
            ("stopped", stopped),
            ("flipped", flipped),
            ("imported", imported),
        )
    }
    for contact in (kept, mistaken):  # opted out before the backup
        said = await client.post(OPT_OUTS, json={"email": contact["email"]}, headers=admin_headers)
        assert said.status_code == 200, said.text
    backup_began = utcnow()
    restored = await backup()

    # After the backup: a STOP taken by staff, one taken and then withdrawn as listed by mistake, one
    # from before taken off as listed by mistake, and the agency's own list imported.
    for contact in (stopped, flipped):
        said = await client.post(OPT_OUTS, json={"email": contact["email"]}, headers=admin_headers)
        assert said.status_code == 200, said.text
    for contact in (flipped, mistaken):
        removal = {"email": contact["email"], "phone": contact["phone"], "reason": "listed_by_mistake"}
        said = await client.post(REMOVALS, json=removal, headers=admin_headers)
        assert said.status_code == 200 and said.json()["removed"] == 2, said.text
    hash_key = settings.security.pii_hash_key.get_secret_value()
    await compliance.import_list(resources, [imported["phone"]], hash_key, "the agency's list of May", "cli")
    lead_ids = list(leads.values())
    old = await _state(session, lead_ids)
    assert [old[0][leads[name]] for name in leads] == [
        "do-not-contact",
        None,
        "do-not-contact",
        None,
        "do-not-contact",
    ]

    # Against the database being replaced: the file for the restored one.
    listing = await _cli("privacy", "erasures", "--since", backup_began.isoformat(), "--json")
    assert listing.exit_code == 0, listing.output
    saved = tmp_path / "erasures.json"
    saved.write_text(listing.stdout)
    assert json.loads(listing.stdout)["version"] == 2
    # Keyed hashes and lead ids, never a person's number or address.
    for contact in (kept, mistaken, stopped, flipped, imported):
        digits = "".join(ch for ch in contact["phone"] if ch.isdigit())
        assert contact["email"] not in listing.stdout and digits not in listing.stdout

    monkeypatch.setenv("LEADGEN_DB_URL", restored)
    get_settings.cache_clear()
    before = await _restored_state(lead_ids)
    assert [before[0][leads[name]] for name in leads] == ["do-not-contact", "do-not-contact", None, None, None]

    reapplied = await _cli("privacy", "reapply", str(saved), "--json")
    assert reapplied.exit_code == 0, reapplied.output
    after = await _restored_state(lead_ids)
    assert [after[0][leads[name]] for name in leads] == [old[0][leads[name]] for name in leads]
    assert after == old
    done: dict[str, Any] = json.loads(reapplied.stdout)
    assert done["anonymised"] == 0 and done["opt_outs_listed"] == 3 and done["taken_off"] == 2, done

    # Twice: nothing more changes, and nothing more is audited.
    engine = create_engine(Settings(), "test")
    try:
        async with transaction(create_sessionmaker(engine)) as restored_session:
            audited = await _reapplications(restored_session)
        again = await _cli("privacy", "reapply", str(saved), "--json")
        assert again.exit_code == 0, again.output
        twice: dict[str, Any] = json.loads(again.stdout)
        assert (twice["opt_outs_listed"], twice["taken_off"], twice["opt_out_events"]) == (0, 0, 0), twice
        assert twice["already_opted_out"] == 3
        async with transaction(create_sessionmaker(engine)) as restored_session:
            assert await _reapplications(restored_session) == audited > 0
    finally:
        await engine.dispose()
    assert await _restored_state(lead_ids) == old


HASH = "a" * 64


def _listing(**fields: Any) -> dict[str, Any]:
    """A listing as ``erasures --json`` prints one, of nothing but ``fields``."""
    return {"since": "2026-05-01T00:00:00Z", "listed_at": "2026-05-02T00:00:00Z", "anonymised": []} | {
        "do_not_contact": [],
        **fields,
    }


_ENTRY = {
    "kind": "phone",
    "value_hash": HASH,
    "reason": "replied to a text asking to stop",
    "at": "2026-05-01T01:00:00Z",
}


@pytest.mark.parametrize(
    ("listing", "said"),
    [
        (_listing(version=2, opted_out=[{**_ENTRY, "value_hash": "5125550100"}]), "opted_out.0.value_hash"),
        (_listing(version=2, opted_out=[{**_ENTRY, "phone": "+15125550100"}]), "opted_out.0.phone"),
        (_listing(opted_out=[_ENTRY]), "a file of version 1 holds no opt-outs"),
        (_listing(version=3), "version: Input should be 1 or 2"),
        (
            _listing(
                version=2, opted_out=[_ENTRY], taken_off=[{"kind": "phone", "value_hash": HASH, "at": _ENTRY["at"]}]
            ),
            "both listed and taken off",
        ),
    ],
    ids=["a number for a hash", "a plain number", "opt-outs in version 1", "a version to come", "listed and taken off"],
)
async def test_a_malformed_listing_is_refused_whole_and_changes_nothing(
    session: AsyncSession, settings_env: dict[str, str], tmp_path: Path, listing: dict[str, Any], said: str
) -> None:
    del settings_env  # the test's database, which the command would change
    saved = tmp_path / "erasures.json"
    saved.write_text(json.dumps(listing))
    before = (await _state(session, []))[1]

    result = await _cli("privacy", "reapply", str(saved))

    assert result.exit_code == 2, result.output
    assert said in " ".join(result.stderr.split())
    assert (await _state(session, []))[1] == before
    assert await _reapplications(session) == 0


async def test_a_listing_of_the_release_before_is_read_as_erasures_alone(
    session: AsyncSession, settings_env: dict[str, str], tmp_path: Path
) -> None:
    """Version 1 had no ``version``, and no opt-outs: its erasure entries are listed as before."""
    del settings_env
    erased = {"kind": "email", "value_hash": HASH, "at": "2026-05-01T01:00:00Z"}
    saved = tmp_path / "erasures.json"
    saved.write_text(json.dumps(_listing(do_not_contact=[erased])))

    result = await _cli("privacy", "reapply", str(saved), "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) | {"listed": 1, "opt_outs_listed": 0} == json.loads(result.stdout)
    assert (await _state(session, []))[1] == {HASH: ("email", "erasure request")}

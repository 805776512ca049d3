"""Migration 0026 on both backends: consent records whose evidence the release before cleared lose
a vendor's text (the quote form's stays); those of leads erased before 0018 with no evidence, and no
date to clear it at, get one; and back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from hashlib import sha256

from sqlalchemy import select

from leadgen.compliance.consent import CONSENT_TEXT
from leadgen.core.migrate import downgrade, upgrade
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import ConsentRecord, Lead, Source
from tests.stores.test_migrations import _drift, _insert, _lead_values, _session
from tests.stores.test_migrations import empty_database as empty_database  # the fixture, for both backends

NAMING = "I, Zebulon Quixote, agree to be called at (512) 555-0142 by licensed agents about insurance quotes."
OLD, YOUNG = timedelta(days=6 * 365), timedelta(days=30)


async def _consents_of_0025(settings: Settings) -> dict[str, uuid.UUID]:
    """By name, the lead of each consent record (schema 0025): whose evidence went (a vendor's text
    or the form's), waiting for it to go, erased before 0018 with no evidence, and not erased."""
    now = datetime.now(UTC)
    records = {  # name: (anonymised, text, age, evidence kept until)
        "cleared": (True, NAMING, OLD, None),
        "the form's, cleared": (True, CONSENT_TEXT, OLD, None),
        "waiting": (True, NAMING, YOUNG, now + timedelta(days=1797)),
        "young, no date": (True, NAMING, YOUNG, None),
        "kept": (False, NAMING, OLD, None),
    }
    leads: dict[str, uuid.UUID] = {}
    async with _session(settings) as session:
        source = Source(name="vendor", kind="api")
        session.add(source)
        await session.flush()
        for name, (anonymised, text, age, kept_until) in records.items():
            lead = _lead_values(source.id, LeadStatus.CONVERTED) | {"anonymised_at": now if anonymised else None}
            await _insert(session, Lead, lead)
            leads[name] = lead["id"]  # type: ignore[assignment]
            consent = {"id": uuid.uuid4(), "lead_id": lead["id"], "text": text, "created_at": now}
            digest = sha256(text.encode()).hexdigest()
            dates = {"captured_at": now - age, "evidence_kept_until": kept_until}
            await _insert(session, ConsentRecord, consent | {"text_sha256": digest} | dates)
    return leads


async def _texts(settings: Settings) -> dict[uuid.UUID, tuple[str | None, bool]]:
    """Per lead: its consent's text, and whether it has a date to lose its evidence."""
    async with _session(settings) as session:
        query = select(ConsentRecord.lead_id, ConsentRecord.text, ConsentRecord.evidence_kept_until)
        return {lead_id: (text, kept is not None) for lead_id, text, kept in await session.execute(query)}


def test_a_cleared_records_vendor_text_goes_and_the_forms_stays(empty_database: Settings) -> None:
    upgrade(empty_database, "0025")
    leads = asyncio.run(_consents_of_0025(empty_database))

    upgrade(empty_database, "0026")

    texts = asyncio.run(_texts(empty_database))
    assert {name: texts[lead_id] for name, lead_id in leads.items()} == {
        "cleared": (None, False),
        "the form's, cleared": (CONSENT_TEXT, False),
        "waiting": (NAMING, True),  # the hourly job takes it with the evidence
        "young, no date": (NAMING, True),  # and this one at five years old too
        "kept": (NAMING, False),
    }
    downgrade(empty_database, "0025")
    assert asyncio.run(_texts(empty_database))[leads["cleared"]] == ("", False)  # the release before needs one
    upgrade(empty_database)  # the models are the newest schema's
    assert asyncio.run(_texts(empty_database))[leads["cleared"]] == (None, False)
    assert asyncio.run(_drift(empty_database)) == []

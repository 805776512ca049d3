"""A consent record is kept unchanged five years, on both databases: an erasure of a younger one
keeps what ties it to the person until then (its evidence, and the keyed hashes of the number and
address it was given for, by which an export finds it), and the hourly job clears that once it is
due."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from hashlib import sha256
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.models import AuditEntry, ConsentRecord, Lead
from leadgen.models.base import utcnow
from leadgen.privacy import rules, tasks
from leadgen.privacy import service as privacy
from leadgen.stores.broker import create_celery
from tests import helpers
from tests.conftest import lead_payload
from tests.pipeline.test_phone_extensions import SWITCHBOARD, colleague

EVIDENCE = {
    "ip": "203.0.113.7",
    "page_url": "https://quotes.example.com/auto",
    "trustedform_cert_url": "https://cert.trustedform.com/2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c",
    "jornaya_leadid": "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF",
}
KEPT = ("ip_address", "page_url", "trustedform_cert_url", "jornaya_leadid")
VENDOR_TEXT = lead_payload()["consent"]["text"]


async def erased_lead(
    client: AsyncClient,
    resources: Resources,
    key: str,
    settings: Settings,
    consent_age: timedelta,
    payload: dict[str, Any] | None = None,
) -> uuid.UUID:
    """A lead (``payload``'s, else a new one) whose consent, with every piece of evidence, was given
    ``consent_age`` ago, erased now by its e-mail address."""
    payload = payload or lead_payload()
    payload["consent"] = {**payload["consent"], **EVIDENCE}
    lead_id = await helpers.submitted_and_processed(client, resources, key, payload)
    hash_key = settings.security.pii_hash_key.get_secret_value()
    async with resources.unit_of_work() as s:
        record = await s.scalar(select(ConsentRecord).where(ConsentRecord.lead_id == lead_id))
        assert record is not None
        record.captured_at -= consent_age
    async with resources.unit_of_work() as s:
        await privacy.erase(s, privacy.person_hashes(hash_key, payload["contact"]["email"], None), "admin")
    return lead_id


async def consent_of(session: AsyncSession, lead_id: uuid.UUID) -> ConsentRecord:
    found = await session.scalar(
        select(ConsentRecord).where(ConsentRecord.lead_id == lead_id).execution_options(populate_existing=True)
    )
    assert found is not None
    return found


def evidence(consent: ConsentRecord) -> tuple[str | None, ...]:
    return tuple(getattr(consent, column) for column in KEPT)


class TestErasure:
    async def test_a_young_record_keeps_its_evidence_until_it_is_five_years_old(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        lead_id = await erased_lead(client, resources, key, settings, timedelta(days=30))
        consent = await consent_of(session, lead_id)
        assert evidence(consent) == tuple(EVIDENCE.values())
        assert consent.evidence_kept_until == consent.captured_at + timedelta(days=1827)

        # A day before it is due, nothing goes; once due, the evidence goes and the consent stays.
        due = consent.evidence_kept_until
        assert await tasks.clear_consent_evidence_due(resources, due - timedelta(days=1), "retention") == 0
        assert evidence(await consent_of(session, lead_id)) == tuple(EVIDENCE.values())
        assert await tasks.clear_consent_evidence_due(resources, due, "retention") == 1
        cleared = await consent_of(session, lead_id)
        assert evidence(cleared) == (None,) * 4 and cleared.evidence_kept_until is None
        # A vendor's words go with the evidence (they may name the person); which text it was stays.
        assert cleared.text is None and cleared.text_sha256 == sha256(VENDOR_TEXT.encode()).hexdigest()
        [entry] = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "privacy.consent_evidence_cleared")
        )
        assert (entry.actor, entry.data) == ("retention", {"records": 1})
        assert await tasks.clear_consent_evidence_due(resources, due, "retention") == 0  # nothing twice

    async def test_a_record_five_years_old_loses_its_evidence_at_once(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        lead_id = await erased_lead(client, resources, key, settings, timedelta(days=1827))
        consent = await consent_of(session, lead_id)
        assert evidence(consent) == (None,) * 4 and consent.evidence_kept_until is None
        assert consent.text is None and consent.text_sha256 == sha256(VENDOR_TEXT.encode()).hexdigest()


def hashes_of(settings: Settings, email: str) -> list[tuple[str, str]]:
    return privacy.person_hashes(settings.security.pii_hash_key.get_secret_value(), email, None)


async def export(
    session: AsyncSession, settings: Settings, email: str | None = None, phone: str | None = None
) -> dict[str, Any]:
    """A person's data exported, as staff ask for it by e-mail address or phone number."""
    asked = privacy.data_subject(settings.security.pii_hash_key.get_secret_value(), email, phone)
    return await privacy.export(session, asked.hashes, "admin", asked.phone_extension)


class TestFoundByTheNumber:
    """A complaint about a call names the number called (or the address written to): an export by
    it lists the consent records given for it, those of erased people too, until their evidence goes."""

    async def test_intake_keeps_the_leads_hashes_with_its_consent(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str
    ) -> None:
        lead_id = await helpers.submitted_and_processed(client, resources, key, colleague("Ana", "101"))
        lead, consent = await session.get(Lead, lead_id), await consent_of(session, lead_id)
        assert lead is not None and lead.phone_hash is not None and lead.email_hash is not None
        kept = (consent.phone_hash, consent.email_hash, consent.phone_extension)
        assert kept == (lead.phone_hash, lead.email_hash, "101")

    async def test_an_export_by_the_number_or_the_address_lists_an_erased_persons_consent(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        payload = lead_payload()
        lead_id = await erased_lead(client, resources, key, settings, timedelta(days=30), payload)
        contact = payload["contact"]
        for asked in ({"phone": contact["phone"]}, {"email": contact["email"]}):
            exported = await export(session, settings, **asked)
            assert exported["leads"] == []  # the lead's data is gone
            [record] = exported["consent_records"]
            assert (record["lead_id"], record["lead_anonymised"]) == (lead_id, True)
            assert tuple(record[column] for column in KEPT) == tuple(EVIDENCE.values())
            assert record["text"].startswith("I agree") and "phone_hash" not in record

    async def test_a_record_of_a_lead_not_erased_is_listed_as_such(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        payload = lead_payload()
        lead_id = await helpers.submitted_and_processed(client, resources, key, payload)
        exported = await export(session, settings, phone=payload["contact"]["phone"])
        [record] = exported["consent_records"]
        assert (record["lead_id"], record["lead_anonymised"]) == (lead_id, False)
        assert record["id"] == exported["leads"][0]["consent"]["id"]

    async def test_a_record_stored_without_the_hashes_takes_its_leads_when_the_lead_is_erased(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        """As a pod of the release before schema 0020 stores it, during the rollout."""
        payload = lead_payload()
        lead_id = await helpers.submitted_and_processed(client, resources, key, payload)
        async with resources.unit_of_work() as s:
            record = await s.scalar(select(ConsentRecord).where(ConsentRecord.lead_id == lead_id))
            assert record is not None
            record.phone_hash = record.email_hash = None
        async with resources.unit_of_work() as s:
            await privacy.erase(s, hashes_of(settings, payload["contact"]["email"]), "admin")
        exported = await export(session, settings, phone=payload["contact"]["phone"])
        assert [(record["lead_id"], record["lead_anonymised"]) for record in exported["consent_records"]] == [
            (lead_id, True)
        ]

    async def test_once_its_evidence_goes_the_record_is_found_no_more(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        payload = lead_payload()
        lead_id = await erased_lead(client, resources, key, settings, timedelta(days=30), payload)
        due = (await consent_of(session, lead_id)).evidence_kept_until
        assert due is not None and await tasks.clear_consent_evidence_due(resources, due, "retention") == 1
        cleared = await consent_of(session, lead_id)
        assert (cleared.phone_hash, cleared.email_hash, cleared.phone_extension) == (None, None, None)
        exported = await export(session, settings, phone=payload["contact"]["phone"])
        assert exported["consent_records"] == []

    async def test_a_record_is_found_by_the_very_extension_it_was_given_with(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        """As an export takes a lead: a colleague's consent at another extension of the switchboard,
        or one given with the main number, is theirs, and stays out of the person's export."""
        ana = await erased_lead(client, resources, key, settings, timedelta(days=30), colleague("Ana", "101"))
        bob = await helpers.submitted_and_processed(client, resources, key, colleague("Bob", "202"))
        for asked, found in (("ext. 101", [(ana, True)]), ("ext. 202", [(bob, False)]), ("", [])):
            exported = await export(session, settings, phone=f"{SWITCHBOARD} {asked}")
            records = [(record["lead_id"], record["lead_anonymised"]) for record in exported["consent_records"]]
            assert records == found, asked


def test_the_rule_counts_five_years_with_their_leap_days() -> None:
    captured_at = datetime.fromisoformat("2024-02-29T12:00:00+00:00")
    assert rules.consent_evidence_kept_until(captured_at, captured_at) == captured_at + timedelta(days=1827)
    five_years_on = datetime.fromisoformat("2029-03-01T12:00:00+00:00")
    assert rules.consent_evidence_kept_until(captured_at, five_years_on) is None


@pytest.mark.usefixtures("worker")
async def test_the_hourly_task_clears_what_is_due_whatever_the_retention(
    client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
) -> None:
    assert settings.privacy.retention_days == 0  # the purge is off; the evidence still goes when due
    lead_id = await erased_lead(client, resources, key, settings, timedelta(days=30))
    async with resources.unit_of_work() as s:
        record = await s.scalar(select(ConsentRecord).where(ConsentRecord.lead_id == lead_id))
        assert record is not None
        record.evidence_kept_until = utcnow() - timedelta(minutes=1)
    assert tasks.clear_expired_consent_evidence() == 1
    assert evidence(await consent_of(session, lead_id)) == (None,) * 4
    schedule = create_celery(settings).conf.beat_schedule
    expected = {"task": tasks.CONSENT_JOB, "schedule": 3600.0, "options": {"expires": 3600.0}}
    assert schedule["clear-expired-consent-evidence"] == expected

"""A vendor's consent text may name the person and the number called (TCPA one-to-one wording): on
both databases it goes with the consent's evidence, whether the hourly job clears that or an
erasure of a record five years old does; its SHA-256 stays, saying which text was agreed to. The
quote form's own text names nobody and stays."""

from __future__ import annotations

from datetime import timedelta
from hashlib import sha256

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance.consent import CONSENT_TEXT
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.privacy import rules, tasks
from tests.conftest import lead_payload
from tests.privacy.test_consent_evidence import consent_of, erased_lead

NAMING = "I, Zebulon Quixote, agree to be called at (512) 555-0142 by licensed agents about insurance quotes."


def consenting_with(text: str) -> dict[str, object]:
    payload = lead_payload()
    payload["consent"]["text"] = text
    return payload


class TestWhenTheEvidenceGoes:
    async def test_a_vendors_text_is_kept_with_the_evidence_then_goes_with_it(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        lead_id = await erased_lead(client, resources, key, settings, timedelta(days=30), consenting_with(NAMING))
        consent = await consent_of(session, lead_id)
        # Five years, as the rest of the evidence: a complaint about a call is answered with the words.
        assert consent.text == NAMING and consent.evidence_kept_until is not None

        assert await tasks.clear_consent_evidence_due(resources, consent.evidence_kept_until, "retention") == 1

        cleared = await consent_of(session, lead_id)
        assert cleared.text is None and cleared.text_sha256 == sha256(NAMING.encode()).hexdigest()

    async def test_an_erasure_of_a_record_five_years_old_takes_a_vendors_text_at_once(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        lead_id = await erased_lead(client, resources, key, settings, timedelta(days=1827), consenting_with(NAMING))
        consent = await consent_of(session, lead_id)
        assert consent.text is None and consent.text_sha256 == sha256(NAMING.encode()).hexdigest()

    async def test_the_quote_forms_text_stays(
        self, client: AsyncClient, resources: Resources, session: AsyncSession, key: str, settings: Settings
    ) -> None:
        payload = consenting_with(CONSENT_TEXT)
        lead_id = await erased_lead(client, resources, key, settings, timedelta(days=1827), payload)
        consent = await consent_of(session, lead_id)
        assert consent.ip_address is None and consent.text == CONSENT_TEXT


def test_only_the_quote_forms_texts_are_kept() -> None:
    assert rules.consent_text_kept(sha256(CONSENT_TEXT.encode()).hexdigest())
    assert not rules.consent_text_kept(sha256(NAMING.encode()).hexdigest())

"""Who counts as opted out in the performance report: a lead barred only because the agency's
imported list names its person is not, whether the list named the lead's own number or address or
another lead linked the listed entry to them; nor is one whose opt-out an admin took off the list as
listed by mistake, until the person opts out again. On both databases."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.compliance import service
from leadgen.compliance import tasks as compliance_tasks
from leadgen.compliance.rules import OPT_OUT_REASONS
from leadgen.core.resources import Resources
from leadgen.core.security import keyed_hash
from leadgen.core.settings import Settings
from leadgen.leads.normalize import email_key
from leadgen.models import AuditEntry, DoNotContact, LeadEvent, OutboxEvent
from tests import helpers
from tests.conftest import lead_payload

PERFORMANCE = "/api/v1/reports/performance"
OPT_OUTS, REMOVALS = "/api/v1/opt-outs", "/api/v1/opt-outs/removals"
EMAIL = "pat.linked@example.com"


@pytest.fixture
async def admin(client: AsyncClient, session: AsyncSession) -> dict[str, str]:
    """An admin's Authorization header, with an agent in TX to offer the leads to."""
    await helpers.agent(session, ["TX"], name="Ana")
    user = await helpers.user(session, Role.ADMIN)
    await session.commit()
    return await helpers.bearer(client, user)


async def _lead(
    client: AsyncClient, resources: Resources, key: str, campaign: str, phone: str, email: str = EMAIL
) -> uuid.UUID:
    payload = lead_payload(campaign=campaign)
    payload["contact"] |= {"phone": phone, "email": email}
    return await helpers.submitted_and_processed(client, resources, key, payload)


async def _opted_out(data_client: AsyncClient, headers: dict[str, str]) -> dict[str | None, int]:
    """The report's opt-outs by campaign."""
    answer = await data_client.get(PERFORMANCE, params={"by": "campaign"}, headers=headers)
    assert answer.status_code == 200, answer.text
    return {row["key"]: row["opted_out"] for row in answer.json()["rows"]}


async def _events(session: AsyncSession, lead_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    """The lead's opt-out events and their withdrawals, oldest first."""
    query = (
        select(LeadEvent.name, LeadEvent.data)
        .where(LeadEvent.lead_id == lead_id, LeadEvent.name.in_(("lead.opted_out", "lead.opt_out_withdrawn")))
        .order_by(LeadEvent.created_at)
    )
    return [(name, data) for name, data in await session.execute(query)]


def _added_count(via: str) -> float:
    return REGISTRY.get_sample_value("leadgen_do_not_contact_added_total", {"via": via}) or 0.0


def _email_hash(settings: Settings, email: str = EMAIL) -> str:
    return keyed_hash(settings.security.pii_hash_key.get_secret_value(), "email", email_key(email))


@pytest.mark.usefixtures("worker")
class TestLinkedThroughTheImportedList:
    async def test_a_lead_whose_address_a_lead_gave_with_an_imported_number_is_not_counted(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
        key: str,
        admin: dict[str, str],
    ) -> None:
        """Lead A gives the address E; the agency's list names 512-555-2222, which lead B then gives
        with E. E joins the list, and A is barred by it, but nobody revoked consent."""
        first = await _lead(client, resources, key, "A", "512-555-1111")
        secret = settings.security.pii_hash_key.get_secret_value()
        await service.import_list(resources, ["512-555-2222"], secret, "old CRM list", "test")
        before = _added_count("linked-import")
        second = await _lead(client, resources, key, "B", "512-555-2222")

        assert compliance_tasks.bar_linked(str(second)) == 1
        assert await _events(session, first) == [("lead.opted_out", {"via": "linked-import"})]
        reason = await session.scalar(
            select(DoNotContact.reason).where(DoNotContact.value_hash == _email_hash(settings))
        )
        assert reason == "gave it with a number or address on the agency's own list"
        assert _added_count("linked-import") == before + 1
        audit = await session.scalar(select(AuditEntry.data).where(AuditEntry.actor == "pipeline"))
        assert audit == {"via": "linked-import"}
        assert await _opted_out(data_client, admin) == {"A": 0, "B": 0}

        # A third lead gives E, listed through the import, with a number of its own: still the agency's list.
        third = await _lead(client, resources, key, "C", "512-555-4444")
        assert compliance_tasks.bar_linked(str(third)) == 0  # A and B are barred already
        assert _added_count("linked-import") == before + 2
        assert await _opted_out(data_client, admin) == {"A": 0, "B": 0, "C": 0}

    async def test_an_entry_the_person_listed_among_those_matched_makes_it_an_opt_out(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
        key: str,
        admin: dict[str, str],
    ) -> None:
        """The switchboard 512-555-2222 is on the agency's list, and the person at its extension 12
        told staff not to write to desk@example.com. Lead D gives both: its extension joins the list
        as the person's (one of the entries it matched was theirs). Lead B then gives the extension
        with the address E of lead A: the person's opt-out follows them to E, and A counts."""
        secret = settings.security.pii_hash_key.get_secret_value()
        assert (await client.post(OPT_OUTS, json={"email": "desk@example.com"}, headers=admin)).status_code == 200
        await service.import_list(resources, ["512-555-2222"], secret, "old CRM list", "test")
        first = await _lead(client, resources, key, "A", "512-555-1111")
        await _lead(client, resources, key, "D", "512-555-2222 ext. 12", "desk@example.com")
        second = await _lead(client, resources, key, "B", "512-555-2222 ext. 12")

        assert compliance_tasks.bar_linked(str(second)) == 1
        assert await _events(session, first) == [("lead.opted_out", {"via": "linked"})]
        assert await _opted_out(data_client, admin) == {"A": 1, "B": 0, "D": 0}

    async def test_an_event_of_the_release_before_bars_as_it_did(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        session: AsyncSession,
        resources: Resources,
        settings: Settings,
        key: str,
        admin: dict[str, str],
    ) -> None:
        """Listed by a screening of the release before, which told no imported list apart."""
        first = await _lead(client, resources, key, "A", "512-555-1111")
        listed = _email_hash(settings)
        session.add(DoNotContact(value_hash=listed, kind="email", reason=OPT_OUT_REASONS["linked"]))
        session.add(OutboxEvent(topic="person.linked", key="earlier-lead", payload={"hashes": [listed], "numbers": []}))
        await session.commit()

        assert compliance_tasks.bar_linked("earlier-lead") == 1
        assert await _events(session, first) == [("lead.opted_out", {"via": "linked"})]
        assert await _opted_out(data_client, admin) == {"A": 1}


class TestTakenOffTheList:
    async def test_an_opt_out_listed_by_mistake_is_withdrawn_until_the_person_opts_out_again(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        session: AsyncSession,
        resources: Resources,
        key: str,
        admin: dict[str, str],
    ) -> None:
        lead = await _lead(client, resources, key, "A", "512-555-1111")
        person = {"email": EMAIL, "phone": "512-555-1111"}
        assert (await client.post(OPT_OUTS, json=person, headers=admin)).status_code == 200
        assert await _opted_out(data_client, admin) == {"A": 1}

        removal = await client.post(REMOVALS, json=person | {"reason": "listed_by_mistake"}, headers=admin)
        assert removal.json() == {"removed": 2}
        withdrawn = ("lead.opt_out_withdrawn", {"reason": "listed_by_mistake"})
        assert await _events(session, lead) == [("lead.opted_out", {"via": "staff"}), withdrawn]
        entry = await session.scalar(select(AuditEntry.data).where(AuditEntry.action == "person.opt_out_removed"))
        assert entry is not None and entry["leads"] == 1
        assert await _opted_out(data_client, admin) == {"A": 0}
        again = await client.post(REMOVALS, json=person | {"reason": "listed_by_mistake"}, headers=admin)
        assert again.json() == {"removed": 0}
        assert len(await _events(session, lead)) == 2  # withdrawn once

        # The person then asks not to be contacted: a real opt-out, counted.
        assert (await client.post(OPT_OUTS, json=person, headers=admin)).status_code == 200
        assert (await _events(session, lead))[-1] == ("lead.opted_out", {"via": "staff"})
        assert await _opted_out(data_client, admin) == {"A": 1}

    async def test_a_new_written_consent_keeps_the_opt_out_counted(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        session: AsyncSession,
        resources: Resources,
        key: str,
        admin: dict[str, str],
    ) -> None:
        """The person did opt out, then consented again: what the source's lead led to stands."""
        lead = await _lead(client, resources, key, "A", "512-555-1111")
        person = {"email": EMAIL, "phone": "512-555-1111"}
        assert (await client.post(OPT_OUTS, json=person, headers=admin)).status_code == 200

        removal = await client.post(REMOVALS, json=person | {"reason": "new_written_consent"}, headers=admin)
        assert removal.json() == {"removed": 2}
        assert await _events(session, lead) == [("lead.opted_out", {"via": "staff"})]
        assert await _opted_out(data_client, admin) == {"A": 1}

    async def test_a_lead_the_list_still_bars_keeps_its_opt_out(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        session: AsyncSession,
        resources: Resources,
        key: str,
        admin: dict[str, str],
    ) -> None:
        """Only the address was a mistake: the number the person listed still bars the lead."""
        lead = await _lead(client, resources, key, "A", "512-555-1111")
        person = {"email": EMAIL, "phone": "512-555-1111"}
        assert (await client.post(OPT_OUTS, json=person, headers=admin)).status_code == 200

        removal = await client.post(REMOVALS, json={"email": EMAIL, "reason": "listed_by_mistake"}, headers=admin)
        assert removal.json() == {"removed": 1}
        assert await _events(session, lead) == [("lead.opted_out", {"via": "staff"})]
        assert await _opted_out(data_client, admin) == {"A": 1}

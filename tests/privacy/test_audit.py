"""Whose data a request read or erased: the audit entries of exports and erasures name the leads, and
a person's export shows the exports of their data before it."""

from __future__ import annotations

import uuid

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.models import AuditEntry, LeadEvent
from tests import helpers
from tests.conftest import lead_payload
from tests.privacy.test_retention import person

EXPORT = "/api/v1/privacy/export"
ERASE = "/api/v1/privacy/erase"


async def audited(session: AsyncSession, action: str) -> list[AuditEntry]:
    return list(
        await session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.created_at))
    )


async def events(session: AsyncSession, lead_id: uuid.UUID) -> list[str]:
    return list(await session.scalars(select(LeadEvent.name).where(LeadEvent.lead_id == lead_id)))


class TestExport:
    async def test_each_export_names_the_leads_it_handed_out_and_is_no_activity_of_theirs(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        admin_headers: dict[str, str],
    ) -> None:
        first, second = person(), person()
        first_leads = [
            await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=first)),
            # The same person from another phone: found by the e-mail address too.
            await helpers.submitted_and_processed(
                client, resources, key, lead_payload(contact=first | {"phone": person()["phone"]})
            ),
        ]
        second_lead = await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=second))
        events_before = await events(session, first_leads[0])

        for asked in (first, second):
            assert (
                await data_client.post(EXPORT, json={"email": asked["email"]}, headers=admin_headers)
            ).status_code == 200

        exports = await audited(session, "privacy.exported")
        assert [(entry.subject_type, entry.subject_id) for entry in exports] == [("person", None)] * 2
        assert [entry.data for entry in exports] == [
            {"lead_ids": [str(lead_id) for lead_id in first_leads]},
            {"lead_ids": [str(second_lead)]},
        ]
        # An audit entry, not a lead event: the retention purge counts events as the person's activity.
        assert await events(session, first_leads[0]) == events_before

    async def test_a_persons_export_shows_the_earlier_exports_of_their_data_and_no_one_elses(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        admin_headers: dict[str, str],
    ) -> None:
        first, second = person(), person()
        await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=first))
        await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=second))
        for asked in (first, second):
            assert (
                await data_client.post(EXPORT, json={"email": asked["email"]}, headers=admin_headers)
            ).status_code == 200

        of_first, _ = await audited(session, "privacy.exported")

        again = (await data_client.post(EXPORT, json={"email": first["email"]}, headers=admin_headers)).json()

        shown = [entry for entry in again["leads"][0]["audit"] if entry["action"] == "privacy.exported"]
        assert [(entry["actor"], entry["data"]) for entry in shown] == [(of_first.actor, of_first.data)]


class TestErase:
    async def test_an_erasure_names_the_leads_it_anonymised(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        admin_headers: dict[str, str],
    ) -> None:
        gone = person()
        lead_id = await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=gone))
        erased = (await data_client.post(ERASE, json={"email": gone["email"]}, headers=admin_headers)).json()
        assert erased["anonymised_leads"] == [str(lead_id)]
        [entry] = await audited(session, "privacy.erased")
        assert (entry.subject_type, entry.subject_id, entry.data) == ("person", None, {"lead_ids": [str(lead_id)]})

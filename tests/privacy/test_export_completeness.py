"""What a person's export finds, on both databases: their own do-not-contact entries, those an
erasure made at the extension asked about too; and the inbox answers that showed their lead, picked
out of the agent's whole inbox history by the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.leads.visibility import CONTACT_DETAILS_VIEWED
from leadgen.models import Agent, Assignment, AuditEntry
from tests import helpers
from tests.conftest import lead_payload
from tests.privacy.test_retention import person

EXPORT = "/api/v1/privacy/export"
ERASE = "/api/v1/privacy/erase"
# Other leads the agent's inbox showed, each answer a page of them, as the dashboard reads it.
UNRELATED_READS = 40


class TestDoNotContact:
    async def test_an_export_by_number_and_extension_shows_the_entry_its_erasure_made(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        resources: Resources,
        admin_headers: dict[str, str],
    ) -> None:
        contact = person() | {"phone": "(512) 555-0100 ext. 42"}
        await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=contact))
        asked = {"phone": contact["phone"]}
        assert (await data_client.post(ERASE, json=asked, headers=admin_headers)).status_code == 200

        exported = (await data_client.post(EXPORT, json=asked, headers=admin_headers)).json()

        assert exported["leads"] == []  # anonymised: no lead gives the number at its extension now
        # The address too, which the erasure listed from the lead: its consent record still holds it.
        assert sorted((entry["kind"], entry["reason"]) for entry in exported["do_not_contact"]) == [
            ("email", "erasure request"),
            ("ext", "erasure request"),
        ]


@pytest.fixture
def audit_loads() -> Iterator[list[AuditEntry]]:
    """Every audit entry loaded from the database meanwhile, by any session."""
    loaded: list[AuditEntry] = []

    def count(entry: AuditEntry, _context: Any) -> None:
        loaded.append(entry)

    event.listen(AuditEntry, "load", count)
    yield loaded
    event.remove(AuditEntry, "load", count)


def read_by(agent: Agent | uuid.UUID, lead_ids: list[uuid.UUID], at: datetime) -> AuditEntry:
    """An inbox answer of ``agent`` that showed these leads' contact details."""
    agent_id = agent.id if isinstance(agent, Agent) else agent
    data = {"lead_ids": [str(lead_id) for lead_id in lead_ids]}
    return AuditEntry(
        actor="user:agent",
        action=CONTACT_DETAILS_VIEWED,
        subject_type="agent",
        subject_id=str(agent_id),
        data=data,
        created_at=at,
    )


class TestInboxReads:
    async def test_only_the_agents_answers_since_the_offer_that_showed_the_lead_are_read(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        admin_headers: dict[str, str],
        audit_loads: list[AuditEntry],
    ) -> None:
        agent = await helpers.agent(session, ["TX"])
        await session.commit()
        theirs, neighbours = person(), person()
        lead_id = await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=theirs))
        other = await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=neighbours))
        offered_at = await session.scalar(select(Assignment.created_at).where(Assignment.lead_id == lead_id))
        assert offered_at is not None
        later = offered_at + timedelta(minutes=5)
        shown_with_another = read_by(agent, [other, lead_id], later)
        session.add_all(
            [
                shown_with_another,
                *(read_by(agent, [other, uuid.uuid4()], later) for _ in range(UNRELATED_READS)),
                read_by(uuid.uuid4(), [lead_id], later),  # an agent never offered it
                read_by(agent, [lead_id], offered_at - timedelta(minutes=5)),  # before it was offered
            ]
        )
        await session.commit()
        audit_loads.clear()

        exported = (await data_client.post(EXPORT, json={"email": theirs["email"]}, headers=admin_headers)).json()

        [lead] = exported["leads"]
        reads = [entry for entry in lead["audit"] if entry["action"] == CONTACT_DETAILS_VIEWED]
        assert [entry["data"] for entry in reads] == [shown_with_another.data]
        # The database picked it out: the agent's other answers were never loaded.
        assert [entry.id for entry in audit_loads] == [shown_with_another.id]

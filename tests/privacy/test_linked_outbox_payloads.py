"""A ``person.linked`` outbox event, keyed by its lead's id, lists the person's keyed hashes until a
worker bars their leads by them, and no longer: once done it would tie the lead to the person after
an erasure or the retention purge anonymised it. On both databases."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance import repository as dnc
from leadgen.compliance import tasks as compliance_tasks
from leadgen.core.resources import Resources
from leadgen.models import Lead, OutboxEvent
from leadgen.models.base import utcnow
from tests import helpers
from tests.conftest import lead_payload
from tests.privacy.test_retention import person

ERASE = "/api/v1/privacy/erase"


async def linked_events(session: AsyncSession, lead_id: uuid.UUID) -> list[OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.topic == "person.linked", OutboxEvent.key == str(lead_id))
    return list(await session.scalars(query.execution_options(populate_existing=True)))


async def read(session: AsyncSession, lead_id: uuid.UUID) -> Lead:
    found = await session.scalar(select(Lead).where(Lead.id == lead_id).execution_options(populate_existing=True))
    assert found is not None
    return found


@pytest.fixture
async def linked(client: AsyncClient, key: str, resources: Resources, admin_headers: dict[str, str]) -> dict[str, Any]:
    """A person who told staff not to call their home number, with a lead from their work number
    and a later one from home, both with their e-mail address: the later lead's screening put the
    address on the list (event ``person.linked``), by which a worker is to bar the earlier lead."""
    contact = person()
    home, work = contact["phone"], person()["phone"]
    assert (await client.post("/api/v1/opt-outs", json={"phone": home}, headers=admin_headers)).status_code == 200
    earlier = await helpers.submitted_and_processed(
        client, resources, key, lead_payload(contact=contact | {"phone": work})
    )
    later = await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=contact))
    return {"home": home, "earlier": earlier, "later": later}


@pytest.mark.usefixtures("worker")
class TestLinkedEvents:
    async def test_the_worker_forgets_what_was_listed_as_it_bars_the_persons_leads(
        self, session: AsyncSession, linked: dict[str, Any]
    ) -> None:
        [waiting] = await linked_events(session, linked["later"])
        assert waiting.processed_at is None and waiting.payload["hashes"]

        assert compliance_tasks.bar_linked(str(linked["later"])) == 1

        assert await dnc.contact_barred(session, await read(session, linked["earlier"])) == "do-not-contact"
        [done] = await linked_events(session, linked["later"])
        assert done.processed_at is not None and done.payload == {}
        assert compliance_tasks.bar_linked(str(linked["later"])) == 0  # a second delivery does nothing

    async def test_an_erasure_clears_what_a_processed_event_of_its_leads_kept(
        self, data_client: AsyncClient, session: AsyncSession, linked: dict[str, Any], admin_headers: dict[str, str]
    ) -> None:
        # Processed by a worker of the release before, which kept the payload.
        kept = {"hashes": ["a" * 64], "numbers": []}
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.topic == "person.linked", OutboxEvent.key == str(linked["later"]))
            .values(processed_at=utcnow(), payload=kept)
        )
        await session.commit()

        asked = {"phone": linked["home"]}
        erased = (await data_client.post(ERASE, json=asked, headers=admin_headers)).json()

        assert erased["anonymised_leads"] == [str(linked["later"])]
        [done] = await linked_events(session, linked["later"])
        assert done.payload == {}

    async def test_an_event_not_processed_at_the_erasure_still_bars_the_persons_other_leads_then_forgets(
        self, data_client: AsyncClient, session: AsyncSession, linked: dict[str, Any], admin_headers: dict[str, str]
    ) -> None:
        asked = {"phone": linked["home"]}
        erased = (await data_client.post(ERASE, json=asked, headers=admin_headers)).json()
        # The earlier lead shares only the address with the number asked about: left for staff.
        assert erased == {"anonymised_leads": [str(linked["later"])], "linked_leads": [str(linked["earlier"])]}
        [waiting] = await linked_events(session, linked["later"])
        assert waiting.processed_at is None and waiting.payload["hashes"]  # the worker's work is still to do

        assert compliance_tasks.bar_linked(str(linked["later"])) == 1

        assert await dnc.contact_barred(session, await read(session, linked["earlier"])) == "do-not-contact"
        [done] = await linked_events(session, linked["later"])
        assert done.processed_at is not None and done.payload == {}

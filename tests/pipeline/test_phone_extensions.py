"""A phone number's extension: kept beside the number, shown to the agent who takes the lead, told
apart by dedupe (two people at one switchboard), ignored by an opt-out (it lists the number, which
bars every extension), listed by an erasure (which bars the person at it, not their colleagues),
and erased with the number."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import phonenumbers
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.compliance import repository as dnc
from leadgen.compliance import tasks as compliance_tasks
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.leads.lifecycle import LeadStatus, Line
from leadgen.leads.normalize import parsed_phone
from leadgen.leads.schemas import Contact
from leadgen.models import Agent, Lead
from leadgen.models.base import utcnow
from leadgen.privacy import service as privacy
from tests import helpers
from tests.api.test_quote_requests import quote_request_payload
from tests.conftest import lead_payload
from tests.pipeline.test_screening import run, submit

SWITCHBOARD = "(512) 555-0100"
LEADS = "/api/v1/leads"


def colleague(first_name: str, extension: str | None, **overrides: Any) -> dict[str, Any]:
    """A commercial lead of Acme Roofing from its switchboard: the person's own name and e-mail."""
    payload = lead_payload(
        line="commercial",
        details={
            "legal_name": "Acme Roofing LLC",
            "entity_type": "llc",
            "years_in_business": 5,
            "employees": 12,
            "coverages": ["general_liability"],
        },
        **overrides,
    )
    phone = f"{SWITCHBOARD} ext. {extension}" if extension else SWITCHBOARD
    payload["contact"].update(first_name=first_name, email=f"{first_name.lower()}@acme-roofing.com", phone=phone)
    return payload


@pytest.fixture
async def commercial_agent(session: AsyncSession) -> Agent:
    agent = await helpers.agent(session, ["TX"], [Line.COMMERCIAL])
    await session.commit()
    return agent


async def read(session: AsyncSession, lead_id: uuid.UUID) -> Lead:
    lead = await session.get(Lead, lead_id, populate_existing=True)
    assert lead is not None
    return lead


def test_the_extension_is_read_from_the_number_in_ascii_digits() -> None:
    fullwidth = "512 555 0100 ext \uff10\uff11\uff10\uff11"
    for written in ("(512) 555-0100 ext. 0101", "512-555-0100 x0101", "+1 512 555 0100 #0101", fullwidth):
        number = parsed_phone(written)
        assert number is not None and (number.e164, number.extension) == ("+15125550100", "0101"), written
    number = parsed_phone(SWITCHBOARD)
    assert number is not None and number.extension is None


def test_a_number_with_an_extension_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parse = phonenumbers.parse
    calls: list[str] = []

    def counted(raw: str, region: str) -> phonenumbers.PhoneNumber:
        calls.append(raw)
        return parse(raw, region)

    monkeypatch.setattr(phonenumbers, "parse", counted)
    contact = Contact.model_validate(colleague("Ana", "101")["contact"])
    assert (contact.phone, contact.phone_extension, calls) == ("+15125550100", "101", [f"{SWITCHBOARD} ext. 101"])


@pytest.mark.usefixtures("commercial_agent")
class TestDedupe:
    async def test_two_people_at_one_switchboard_are_both_routed_with_their_extensions(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources
    ) -> None:
        ana = await run(resources, await submit(client, key, colleague("Ana", "101")))
        bob = await run(resources, await submit(client, key, colleague("Bob", "202")))
        assert (ana.status, ana.phone, ana.phone_extension) == (LeadStatus.ROUTED, "+15125550100", "101")
        assert (bob.status, bob.phone, bob.phone_extension) == (LeadStatus.ROUTED, "+15125550100", "202")
        assert bob.duplicate_of_id is None and bob.phone_hash == ana.phone_hash  # one number, one hash

    async def test_a_colleague_still_waiting_for_the_pipeline_is_no_original_either(
        self, client: AsyncClient, key: str, resources: Resources
    ) -> None:
        # Ana is received first but screened last: Bob finds her by her hashes, not in the graph.
        ana_id = await submit(client, key, colleague("Ana", "101"))
        bob = await run(resources, await submit(client, key, colleague("Bob", "202")))
        ana = await run(resources, ana_id)
        assert (bob.status, ana.status) == (LeadStatus.ROUTED, LeadStatus.ROUTED)

    @pytest.mark.parametrize(
        ("first", "again"),
        [("101", "101"), ("101", None), (None, "101")],
        ids=["the same extension", "the main number after the extension", "the extension after the main number"],
    )
    async def test_the_same_number_without_two_different_extensions_is_still_a_duplicate(
        self, client: AsyncClient, key: str, resources: Resources, first: str | None, again: str | None
    ) -> None:
        # Another e-mail address the second time: the phone alone makes them one person.
        original = await run(resources, await submit(client, key, colleague("Ana", first)))
        repeat_payload = colleague("Ana", again)
        repeat_payload["contact"]["email"] = "ana.r@acme-roofing.com"
        repeat = await run(resources, await submit(client, key, repeat_payload))
        assert original.status == LeadStatus.ROUTED
        assert (repeat.status, repeat.duplicate_of_id) == (LeadStatus.DUPLICATE, original.id)

    async def test_one_e_mail_address_is_one_person_whatever_the_extensions(
        self, client: AsyncClient, key: str, resources: Resources
    ) -> None:
        original = await run(resources, await submit(client, key, colleague("Ana", "101")))
        repeat = await run(resources, await submit(client, key, colleague("Ana", "202")))
        assert (repeat.status, repeat.duplicate_of_id) == (LeadStatus.DUPLICATE, original.id)


class TestVendorRetries:
    async def test_another_extension_under_a_sent_id_is_another_persons_lead_and_refused(
        self, client: AsyncClient, key: str
    ) -> None:
        ana = colleague("Ana", "101", external_id="acme-1")
        assert (await client.post(LEADS, json=ana, headers={"X-API-Key": key})).status_code == 202
        bob = colleague("Bob", "202", external_id="acme-1")
        refused = await client.post(LEADS, json=bob, headers={"X-API-Key": key})
        assert refused.status_code == 409 and "another person's lead" in refused.text
        assert (await client.post(LEADS, json=ana, headers={"X-API-Key": key})).status_code == 200  # a retry


class TestIntake:
    async def test_an_extension_of_more_than_ten_digits_is_refused_on_the_phone(
        self, client: AsyncClient, key: str
    ) -> None:
        answer = await client.post(LEADS, json=colleague("Ana", "12345678901"), headers={"X-API-Key": key})
        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {"field": "contact.phone", "reason": "Value error, an extension has at most 10 digits"}
        ]

    async def test_the_quote_form_keeps_the_extension(
        self, client: AsyncClient, settings: Settings, session: AsyncSession
    ) -> None:
        payload = quote_request_payload()
        payload["contact"]["phone"] = "512-555-0100 x 77"
        answer = await client.post(
            "/api/v1/quote-requests", json=payload, headers=helpers.vouched_as_frontend(settings)
        )
        assert answer.status_code == 202, answer.text
        lead = await read(session, uuid.UUID(answer.json()["id"]))
        assert (lead.phone, lead.phone_extension) == ("+15125550100", "77")


@pytest.mark.usefixtures("commercial_agent")
class TestDoNotContact:
    @pytest.mark.parametrize("listed", [SWITCHBOARD, f"{SWITCHBOARD} ext. 101"], ids=["main number", "extension"])
    async def test_a_listed_number_bars_every_extension_of_it(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, listed: str
    ) -> None:
        manager = await helpers.user(session, Role.MANAGER)
        await session.commit()
        staff = await helpers.bearer(client, manager)
        assert (await client.post("/api/v1/opt-outs", json={"phone": listed}, headers=staff)).status_code == 200
        bob = await run(resources, await submit(client, key, colleague("Bob", "202")))
        assert (bob.status, bob.status_reason) == (LeadStatus.REJECTED, "on the do-not-contact list")


class TestShown:
    async def test_the_agent_sees_the_extension_with_the_number_once_they_accept(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, commercial_agent: Agent
    ) -> None:
        user = await helpers.user(session, Role.AGENT, commercial_agent.id)
        await session.commit()
        headers = await helpers.bearer(client, user)
        await run(resources, await submit(client, key, colleague("Ana", "101")))

        [pending] = (await client.get("/api/v1/assignments", headers=headers)).json()
        assert (pending["status"], pending["phone"], pending["phone_extension"]) == ("PENDING", None, None)
        accept = f"/api/v1/assignments/{pending['assignment_id']}/accept"
        assert (await client.post(accept, headers=headers)).status_code == 200
        [accepted] = (await client.get("/api/v1/assignments", headers=headers)).json()
        assert (accepted["phone"], accepted["phone_extension"]) == ("+15125550100", "101")


@pytest.mark.usefixtures("commercial_agent")
class TestPrivacy:
    async def test_an_export_holds_the_extension_and_an_erasure_clears_it(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, settings: Settings
    ) -> None:
        ana = await run(resources, await submit(client, key, colleague("Ana", "101")))
        bob = await run(resources, await submit(client, key, colleague("Bob", "202")))
        hashes = privacy.person_hashes(settings.security.pii_hash_key.get_secret_value(), "ana@acme-roofing.com", None)

        exported = await privacy.export(session, hashes, "test")
        assert [entry["lead"]["phone_extension"] for entry in exported["leads"]] == ["101"]
        erased = await privacy.erase(session, hashes, "test")
        await session.commit()

        assert [lead.id for lead in erased.anonymised] == [ana.id] and erased.linked == [bob.id]
        ana = await read(session, ana.id)
        assert (ana.phone, ana.phone_extension) == (None, None)
        assert (await read(session, bob.id)).phone_extension == "202"  # a colleague is left for staff

    async def test_the_retention_purge_clears_it(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources
    ) -> None:
        ana = await run(resources, await submit(client, key, colleague("Ana", "101")))
        purged = await privacy.purge_person(session, ana.id, utcnow() + timedelta(days=1))
        await session.commit()
        assert [lead.id for lead in purged] == [ana.id]
        assert (await read(session, ana.id)).phone_extension is None

    async def test_an_export_by_the_number_and_extension_leaves_a_colleagues_lead_for_staff(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        resources: Resources,
        admin_headers: dict[str, str],
    ) -> None:
        ana = await run(resources, await submit(client, key, colleague("Ana", "101")))
        bob = await run(resources, await submit(client, key, colleague("Bob", "202")))
        asked = {"phone": f"{SWITCHBOARD} ext. 101"}
        exported = (await data_client.post("/api/v1/privacy/export", json=asked, headers=admin_headers)).json()
        assert [entry["lead"]["id"] for entry in exported["leads"]] == [str(ana.id)]
        assert exported["linked_leads"] == [str(bob.id)]

    @pytest.mark.parametrize(
        ("asked", "exported", "linked"),
        [(f"{SWITCHBOARD} ext. 101", ["Ana"], ["Bob", "Carla"]), (SWITCHBOARD, ["Carla"], ["Ana", "Bob"])],
        ids=["an extension", "the main number"],
    )
    async def test_a_request_takes_only_the_leads_of_the_very_extension_it_gives(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        resources: Resources,
        admin_headers: dict[str, str],
        asked: str,
        exported: list[str],
        linked: list[str],
    ) -> None:
        """Unlike dedupe, for which the main number reaches every extension: what an export hands out
        must be the person's beyond doubt, so a lead of the main number asked about with an
        extension, or one of an extension asked about with the main number, is left to staff."""
        leads = {
            name: await run(resources, await submit(client, key, colleague(name, extension)))
            for name, extension in (("Ana", "101"), ("Bob", "202"), ("Carla", None))
        }
        answer = (await data_client.post("/api/v1/privacy/export", json={"phone": asked}, headers=admin_headers)).json()
        assert sorted(entry["lead"]["first_name"] for entry in answer["leads"]) == exported
        assert answer["linked_leads"] == sorted(str(leads[name].id) for name in linked)

    async def test_an_erasure_by_the_number_and_extension_leaves_a_colleagues_lead_for_staff(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        admin_headers: dict[str, str],
    ) -> None:
        ana = await run(resources, await submit(client, key, colleague("Ana", "101")))
        bob = await run(resources, await submit(client, key, colleague("Bob", "202")))
        asked = {"phone": f"{SWITCHBOARD} ext. 101"}
        erased = (await data_client.post("/api/v1/privacy/erase", json=asked, headers=admin_headers)).json()
        assert erased == {"anonymised_leads": [str(ana.id)], "linked_leads": [str(bob.id)]}
        assert (await read(session, ana.id)).anonymised_at is not None
        kept = await read(session, bob.id)
        assert (kept.anonymised_at, kept.email, kept.phone_extension) == (None, "bob@acme-roofing.com", "202")


@pytest.mark.usefixtures("commercial_agent")
class TestErasureListing:
    """An erasure lists the person's number at their extension: a colleague at another extension of
    the switchboard is someone else, and stays contactable."""

    @pytest.mark.parametrize(
        "asked", [{"email": "ana@acme-roofing.com"}, {"phone": f"{SWITCHBOARD} ext. 101"}], ids=["e-mail", "extension"]
    )
    async def test_erasing_a_colleague_bars_only_their_extension(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        session: AsyncSession,
        resources: Resources,
        admin_headers: dict[str, str],
        asked: dict[str, str],
    ) -> None:
        ana = await run(resources, await submit(client, key, colleague("Ana", "101")))
        bob = await run(resources, await submit(client, key, colleague("Bob", "202")))
        erased = (await data_client.post("/api/v1/privacy/erase", json=asked, headers=admin_headers)).json()
        assert erased["anonymised_leads"] == [str(ana.id)]

        # Ana again, from her extension under another address: barred, and that address with her.
        again = colleague("Ana", "101")
        again["contact"]["email"] = "ana.r@acme-roofing.com"
        ana_again = await run(resources, await submit(client, key, again))
        assert (ana_again.status, ana_again.status_reason) == (LeadStatus.REJECTED, "on the do-not-contact list")
        # Neither her erasure nor her new lead barred the colleagues of the switchboard.
        assert await dnc.contact_barred(session, await read(session, bob.id)) is None
        carla = await run(resources, await submit(client, key, colleague("Carla", "303")))
        assert carla.status == LeadStatus.ROUTED

        exported = await data_client.post(
            "/api/v1/privacy/export", json={"email": "ana.r@acme-roofing.com"}, headers=admin_headers
        )
        listed = {(entry["kind"], entry["reason"]) for entry in exported.json()["do_not_contact"]}
        assert listed == {("ext", "erasure request"), ("email", "gave it with a number or address already listed")}

    async def test_erasing_a_lead_of_the_main_number_bars_every_extension(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        resources: Resources,
        admin_headers: dict[str, str],
    ) -> None:
        await run(resources, await submit(client, key, colleague("Carla", None)))
        asked = {"email": "carla@acme-roofing.com"}
        assert (await data_client.post("/api/v1/privacy/erase", json=asked, headers=admin_headers)).status_code == 200
        bob = await run(resources, await submit(client, key, colleague("Bob", "202")))
        assert (bob.status, bob.status_reason) == (LeadStatus.REJECTED, "on the do-not-contact list")

    async def test_an_opt_out_of_a_colleagues_extension_still_bars_every_extension(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, admin_headers: dict[str, str]
    ) -> None:
        ana = await run(resources, await submit(client, key, colleague("Ana", "101")))
        bob = await run(resources, await submit(client, key, colleague("Bob", "202")))
        assert (await client.post(f"{LEADS}/{ana.id}/opt-out", headers=admin_headers)).status_code == 200
        assert await dnc.contact_barred(session, await read(session, bob.id)) == "do-not-contact"

    @pytest.mark.usefixtures("worker")
    async def test_a_listed_address_given_at_an_extension_bars_that_extensions_leads_alone(
        self, client: AsyncClient, key: str, session: AsyncSession, resources: Resources, admin_headers: dict[str, str]
    ) -> None:
        ana = await run(resources, await submit(client, key, colleague("Ana", "101")))
        bob = await run(resources, await submit(client, key, colleague("Bob", "202")))
        listed = {"email": "bob.h@acme-roofing.com"}
        assert (await client.post("/api/v1/opt-outs", json=listed, headers=admin_headers)).status_code == 200
        again = colleague("Bob", "202")
        again["contact"]["email"] = listed["email"]
        bob_again = await run(resources, await submit(client, key, again))
        assert bob_again.status == LeadStatus.DUPLICATE
        # His number at his extension joined the list, and a worker bars his earlier lead by it.
        assert compliance_tasks.bar_linked(str(bob_again.id)) == 1
        assert await dnc.contact_barred(session, await read(session, bob.id)) == "do-not-contact"
        assert await dnc.contact_barred(session, await read(session, ana.id)) is None

    async def test_an_erased_person_taken_off_the_list_by_their_number_and_extension_may_be_contacted_again(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        key: str,
        resources: Resources,
        admin_headers: dict[str, str],
    ) -> None:
        await run(resources, await submit(client, key, colleague("Ana", "101")))
        asked = {"phone": f"{SWITCHBOARD} ext. 101"}
        assert (await data_client.post("/api/v1/privacy/erase", json=asked, headers=admin_headers)).status_code == 200
        removal = {**asked, "reason": "new_written_consent"}
        removed = await client.post("/api/v1/opt-outs/removals", json=removal, headers=admin_headers)
        assert removed.json() == {"removed": 1}
        again = colleague("Ana", "101")
        again["contact"]["email"] = "ana.r@acme-roofing.com"
        assert (await run(resources, await submit(client, key, again))).status == LeadStatus.ROUTED

"""Opt-outs through the api: a reply to a text, an e-mail's unsubscribe link, staff and the agent.

The SMS provider's requests are signed with Twilio's own library, as the provider signs them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from prometheus_client import REGISTRY
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from twilio.request_validator import RequestValidator
from typer.testing import CliRunner

from leadgen.auth.roles import Role
from leadgen.cli.main import app
from leadgen.compliance import repository as dnc
from leadgen.compliance import service
from leadgen.compliance import tasks as compliance_tasks
from leadgen.compliance.links import opt_out_token
from leadgen.compliance.rules import OPT_OUT_REASONS
from leadgen.core.resources import Resources
from leadgen.core.security import keyed_hash
from leadgen.core.settings import Settings, get_settings
from leadgen.leads.normalize import email_key, phone_e164
from leadgen.models import Assignment, AuditEntry, DoNotContact, LeadEvent, OutboxEvent
from leadgen.models.base import utcnow
from leadgen.targets import api, data_service
from tests import helpers
from tests.conftest import lead_payload, started

AUTH_TOKEN = "sms-auth-token-of-the-tests"
WEBHOOK = "http://test/api/v1/opt-outs/sms"


@pytest.fixture
def sms_env(settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # The provider's Messages API is never called here: the api only receives replies.
    for key, value in {
        "LEADGEN_SMS_ACCOUNT_SID": "AC-tests",
        "LEADGEN_SMS_AUTH_TOKEN": AUTH_TOKEN,
        "LEADGEN_SMS_FROM_NUMBER": "+15125559999",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


@pytest.fixture
async def client(sms_env: None, settings: Settings) -> AsyncIterator[AsyncClient]:
    async for c in started(api.create_app(settings)):
        yield c


@pytest.fixture
async def world(client: AsyncClient, session: AsyncSession, resources: Resources, settings: Settings) -> dict[str, Any]:
    """A TX agent with a user, an admin, and one lead offered to the agent."""
    agent = await helpers.agent(session, ["TX"], name="Only")
    agent_user = await helpers.user(session, Role.AGENT, agent.id)
    other = await helpers.agent(session, ["CA"], name="Elsewhere")
    other_user = await helpers.user(session, Role.AGENT, other.id)
    admin = await helpers.user(session, Role.ADMIN)
    key = await helpers.api_key(session)
    await session.commit()
    payload = lead_payload()
    lead_id = await helpers.submitted_and_processed(client, resources, key, payload)
    return {
        "lead_id": lead_id,
        "contact": payload["contact"],
        "agent": await helpers.bearer(client, agent_user),
        "other": await helpers.bearer(client, other_user),
        "admin": await helpers.bearer(client, admin),
    }


def _signed(params: dict[str, str], url: str = WEBHOOK, token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def _e164(contact: dict[str, Any]) -> str:
    phone = phone_e164(contact["phone"])
    assert phone is not None
    return phone


async def _listed(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(select(DoNotContact.value_hash, DoNotContact.reason))
    return {value_hash: reason for value_hash, reason in rows}


async def _opt_out_events(session: AsyncSession, lead_id: uuid.UUID) -> list[dict[str, Any]]:
    query = select(LeadEvent.data).where(LeadEvent.lead_id == lead_id, LeadEvent.name == "lead.opted_out")
    return list(await session.scalars(query))


def _added_count(via: str) -> float:
    return REGISTRY.get_sample_value("leadgen_do_not_contact_added_total", {"via": via}) or 0.0


def _hash(settings: Settings, kind: str, value: str) -> str:
    return keyed_hash(settings.security.pii_hash_key.get_secret_value(), kind, value)


class TestTextReply:
    async def test_stop_lists_the_person_and_withdraws_the_offer(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession, settings: Settings
    ) -> None:
        form = {"From": _e164(world["contact"]), "To": "+15125559999", "Body": "Stop", "MessageSid": "SM1"}
        counted = _added_count("sms-reply")
        response = await client.post("/api/v1/opt-outs/sms", data=form, headers=_signed(form))
        assert response.status_code == 200, response.text
        assert _added_count("sms-reply") == counted + 2  # the number and the e-mail address
        assert response.headers["content-type"].startswith("application/xml")
        assert "<Response/>" in response.text

        # The e-mail address given with the number goes on the list too.
        reason = "replied to a text asking to stop"
        assert await _listed(session) == {
            _hash(settings, "phone", form["From"]): reason,
            _hash(settings, "email", email_key(world["contact"]["email"])): reason,
        }
        assert await _opt_out_events(session, world["lead_id"]) == [{"via": "sms-reply"}]
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "person.opted_out"))
        assert audit is not None and audit.actor == "sms-provider" and audit.data == {"via": "sms-reply", "leads": 1}

        lead = (await client.get(f"/api/v1/leads/{world['lead_id']}", headers=world["admin"])).json()
        assert lead["do_not_contact"] is True
        assert (lead["status"], lead["status_reason"]) == ("UNASSIGNED", "the person is on the do-not-contact list")
        assert {"assignment.withdrawn", "lead.unassigned"} <= {e["name"] for e in lead["events"]}
        queued = await session.scalars(select(OutboxEvent.key).where(OutboxEvent.topic == "lead.outcome"))
        assert list(queued) == [str(world["lead_id"])]  # the vector's payload is brought up to date
        inbox = (await client.get("/api/v1/assignments", headers=world["agent"])).json()
        assert [(item["status"], item["do_not_contact"]) for item in inbox] == [("WITHDRAWN", True)]
        accepted = await client.post(f"/api/v1/assignments/{inbox[0]['assignment_id']}/accept", headers=world["agent"])
        assert accepted.status_code == 409

    async def test_the_providers_own_opt_out_mark_is_honoured(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession
    ) -> None:
        form = {"From": _e164(world["contact"]), "Body": "Arrêtez", "OptOutType": "STOP"}
        assert (await client.post("/api/v1/opt-outs/sms", data=form, headers=_signed(form))).status_code == 200
        assert len(await _listed(session)) == 2

    async def test_every_lead_of_the_person_is_barred(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession, resources: Resources
    ) -> None:
        """A second lead with another phone but the same e-mail address is the same person."""
        key = await helpers.api_key(session, "second-vendor")
        await session.commit()
        contact = {**world["contact"], "phone": "214-555-0188"}
        payload = lead_payload(contact=contact)  # a duplicate of the first: a lead of the person all the same
        second = await helpers.submitted_and_processed(client, resources, key, payload)
        form = {"From": _e164(world["contact"]), "Body": "STOP"}
        response = await client.post("/api/v1/opt-outs/sms", data=form, headers=_signed(form))
        assert response.status_code == 200
        for lead_id in (world["lead_id"], second):
            lead = (await client.get(f"/api/v1/leads/{lead_id}", headers=world["admin"])).json()
            assert lead["do_not_contact"] is True, lead_id
            assert await _opt_out_events(session, lead_id) == [{"via": "sms-reply"}]

    async def test_a_header_that_is_not_ascii_is_a_wrong_signature(
        self, client: AsyncClient, world: dict[str, Any]
    ) -> None:
        form = {"From": _e164(world["contact"]), "Body": "STOP"}
        headers = {b"X-Twilio-Signature": "sïgnature".encode("latin-1")}
        assert (await client.post("/api/v1/opt-outs/sms", data=form, headers=headers)).status_code == 403

    async def test_a_second_stop_changes_nothing(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession
    ) -> None:
        form = {"From": _e164(world["contact"]), "Body": "STOP"}
        for _ in range(2):
            assert (await client.post("/api/v1/opt-outs/sms", data=form, headers=_signed(form))).status_code == 200
        assert len(await _listed(session)) == 2
        assert len(await _opt_out_events(session, world["lead_id"])) == 1

    async def test_other_replies_list_nobody(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession
    ) -> None:
        form = {"From": _e164(world["contact"]), "Body": "What time will the agent call?"}
        response = await client.post("/api/v1/opt-outs/sms", data=form, headers=_signed(form))
        assert response.status_code == 200
        assert await _listed(session) == {}
        lead = (await client.get(f"/api/v1/leads/{world['lead_id']}", headers=world["admin"])).json()
        assert lead["do_not_contact"] is False

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
            _signed({"From": "+15125550100", "Body": "STOP"}, token="someone-elses-token"),
            _signed({"From": "+15125550100", "Body": "STOP"}, url="https://elsewhere.example/hook"),
        ],
        ids=["unsigned", "garbage", "other-token", "other-url"],
    )
    async def test_unsigned_or_wrongly_signed_is_403_and_lists_nobody(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession, headers: dict[str, str]
    ) -> None:
        response = await client.post(
            "/api/v1/opt-outs/sms", data={"From": "+15125550100", "Body": "STOP"}, headers=headers
        )
        assert response.status_code == 403
        assert "X-Twilio-Signature" in response.json()["detail"]
        assert await _listed(session) == {}

    async def test_a_form_changed_after_signing_is_403(self, client: AsyncClient, world: dict[str, Any]) -> None:
        signed = _signed({"From": "+15125550100", "Body": "hello"})
        response = await client.post(
            "/api/v1/opt-outs/sms", data={"From": _e164(world["contact"]), "Body": "hello"}, headers=signed
        )
        assert response.status_code == 403

    async def test_the_signature_is_checked_over_the_configured_public_url(
        self, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, session: AsyncSession
    ) -> None:
        public = "https://app.example.com/api/v1/opt-outs/sms"
        monkeypatch.setenv("LEADGEN_SMS_REPLY_WEBHOOK_URL", public)
        get_settings.cache_clear()
        form = {"From": _e164(world["contact"]), "Body": "STOP"}
        async for behind_a_proxy in started(api.create_app(get_settings())):
            direct = await behind_a_proxy.post("/api/v1/opt-outs/sms", data=form, headers=_signed(form))
            assert direct.status_code == 403
            response = await behind_a_proxy.post("/api/v1/opt-outs/sms", data=form, headers=_signed(form, public))
            assert response.status_code == 200, response.text
        assert len(await _listed(session)) == 2

    async def test_no_sender_is_422(self, client: AsyncClient, world: dict[str, Any]) -> None:
        form = {"Body": "STOP"}
        response = await client.post("/api/v1/opt-outs/sms", data=form, headers=_signed(form))
        assert response.status_code == 422
        assert response.json()["errors"] == [{"field": "From", "reason": "required"}]

    async def test_without_sms_configured_there_is_no_webhook(self, settings: Settings) -> None:
        assert not settings.sms.enabled
        async for plain in started(api.create_app(settings)):
            form = {"From": "+15125550100", "Body": "STOP"}
            assert (await plain.post("/api/v1/opt-outs/sms", data=form, headers=_signed(form))).status_code == 404


class TestEmailLink:
    async def test_the_link_lists_the_persons_email_and_phone(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession, settings: Settings
    ) -> None:
        token = opt_out_token(settings.security.pii_hash_key.get_secret_value(), world["lead_id"])
        for _ in range(2):  # a mail client's one-click post, then the person on the page: harmless
            response = await client.post(f"/api/v1/opt-outs/email/{token}", data={"List-Unsubscribe": "One-Click"})
            assert response.status_code == 200, response.text
        contact = world["contact"]
        reason = "used the unsubscribe link of an e-mail"
        assert await _listed(session) == {
            _hash(settings, "email", email_key(contact["email"])): reason,
            _hash(settings, "phone", _e164(contact)): reason,
        }
        assert await _opt_out_events(session, world["lead_id"]) == [{"via": "email-link"}]

    @pytest.mark.parametrize("kind", ["other-key", "unknown-lead", "garbage"])
    async def test_a_link_we_did_not_make_is_404(
        self, kind: str, client: AsyncClient, world: dict[str, Any], session: AsyncSession, settings: Settings
    ) -> None:
        token = {
            "other-key": opt_out_token("another-key-" * 4, world["lead_id"]),
            "unknown-lead": opt_out_token(settings.security.pii_hash_key.get_secret_value(), uuid.uuid4()),
            "garbage": "abc.def",
        }[kind]
        response = await client.post(f"/api/v1/opt-outs/email/{token}")
        assert response.status_code == 404
        assert await _listed(session) == {}


class TestErasedPerson:
    async def test_their_old_link_answers_but_lists_nobody_else(
        self,
        client: AsyncClient,
        world: dict[str, Any],
        session: AsyncSession,
        settings: Settings,
        resources: Resources,
    ) -> None:
        key = await helpers.api_key(session, "other-vendor")
        await session.commit()
        other = lead_payload()  # somebody else entirely
        other_id = await helpers.submitted_and_processed(client, resources, key, other)
        async for data in started(data_service.create_app(settings)):
            erased = await data.post(
                "/api/v1/privacy/erase", json={"email": world["contact"]["email"]}, headers=world["admin"]
            )
            assert erased.status_code == 200, erased.text
        listed = await _listed(session)
        token = opt_out_token(settings.security.pii_hash_key.get_secret_value(), world["lead_id"])
        assert (await client.post(f"/api/v1/opt-outs/email/{token}")).status_code == 200
        staff = await client.post(f"/api/v1/leads/{world['lead_id']}/opt-out", headers=world["admin"])
        assert staff.json() == {"leads": []}
        assert await _listed(session) == listed
        lead = (await client.get(f"/api/v1/leads/{other_id}", headers=world["admin"])).json()
        assert lead["do_not_contact"] is False and lead["status"] == "ROUTED"

    async def test_nothing_given_lists_nobody(self, session: AsyncSession, world: dict[str, Any]) -> None:
        assert await service.opt_out(session, [], "staff", "test") == []
        assert await _listed(session) == {}


async def test_a_lead_that_gives_a_listed_number_with_a_new_address_lists_the_address_too(
    client: AsyncClient, session: AsyncSession, resources: Resources, settings: Settings, key: str
) -> None:
    """The person asked staff not to be called; a vendor then sends their request with that number
    and their e-mail address (rejected), and a week later the same address with a work phone: the
    opt-out followed them to the address, so that lead is rejected too, not offered to an agent."""
    await helpers.agent(session, ["TX"])
    manager = await helpers.user(session, Role.MANAGER)
    await session.commit()
    staff = await helpers.bearer(client, manager)
    assert (await client.post("/api/v1/opt-outs", json={"phone": HOME}, headers=staff)).status_code == 200
    linked_before = _added_count("linked")
    first = await helpers.submitted_and_processed(client, resources, key, _request_from(HOME))
    later = await helpers.submitted_and_processed(client, resources, key, _request_from(WORK))
    for lead_id in (first, later):
        lead = (await client.get(f"/api/v1/leads/{lead_id}", headers=staff)).json()
        assert (lead["status"], lead["status_reason"]) == ("REJECTED", "on the do-not-contact list")
    # The address joined the list with the first lead; the work phone with the second.
    listed = await _listed(session)
    for kind, value in (("email", email_key(EMAIL)), ("phone", phone_e164(WORK) or "")):
        assert listed[_hash(settings, kind, value)] == OPT_OUT_REASONS["linked"]
    assert _added_count("linked") == linked_before + 2
    actors = list(await session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "person.opted_out")))
    assert len(actors) == 3 and actors.count("pipeline") == 2  # the manager's, then one per linked lead


class TestLinked:
    """A lead giving a listed phone with an address the list did not know: the address joins it,
    whichever of the person's requests came first, and their leads by it are barred by a worker."""

    @pytest.fixture
    async def listed_home(self, client: AsyncClient, session: AsyncSession) -> dict[str, str]:
        await helpers.agent(session, ["TX"])
        manager = await helpers.user(session, Role.MANAGER)
        await session.commit()
        staff = await helpers.bearer(client, manager)
        assert (await client.post("/api/v1/opt-outs", json={"phone": HOME}, headers=staff)).status_code == 200
        return staff

    @pytest.mark.usefixtures("worker")
    async def test_a_duplicate_giving_a_listed_number_bars_the_lead_already_offered(
        self, client: AsyncClient, session: AsyncSession, resources: Resources, key: str, listed_home: dict[str, str]
    ) -> None:
        work = await helpers.submitted_and_processed(client, resources, key, _request_from(WORK))
        home = await helpers.submitted_and_processed(client, resources, key, _request_from(HOME))
        home_lead = (await client.get(f"/api/v1/leads/{home}", headers=listed_home)).json()
        assert (home_lead["status"], home_lead["duplicate_of_id"]) == ("DUPLICATE", str(work))
        assert compliance_tasks.bar_linked(str(home)) == 1
        work_lead = (await client.get(f"/api/v1/leads/{work}", headers=listed_home)).json()
        assert (work_lead["status"], work_lead["do_not_contact"]) == ("UNASSIGNED", True)
        offers = await session.scalars(select(Assignment.status).where(Assignment.lead_id == work))
        assert list(offers) == ["WITHDRAWN"]
        assert [event["via"] for event in await _opt_out_events(session, work)] == ["linked"]
        assert compliance_tasks.bar_linked(str(home)) == 0  # a second delivery does nothing

    async def test_a_test_lead_lists_nothing(
        self, client: AsyncClient, session: AsyncSession, resources: Resources, key: str, listed_home: dict[str, str]
    ) -> None:
        before = await _listed(session)
        lead_id = await helpers.submitted_and_processed(client, resources, key, _request_from(HOME) | {"test": True})
        assert (await client.get(f"/api/v1/leads/{lead_id}", headers=listed_home)).json()["status"] == "REJECTED"
        assert await _listed(session) == before


HOME, WORK, EMAIL = "512-555-0877", "512-555-0878", "robin.quill@example.com"


def _request_from(phone: str) -> dict[str, Any]:
    return lead_payload(contact={**lead_payload()["contact"], "phone": phone, "email": EMAIL})


class TestStaffAndAgent:
    async def test_staff_record_a_person_by_phone(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession
    ) -> None:
        person = {"phone": world["contact"]["phone"]}
        response = await client.post("/api/v1/opt-outs", json=person, headers=world["admin"])
        assert response.status_code == 200, response.text
        assert response.json() == {"leads": [str(world["lead_id"])]}
        assert list((await _listed(session)).values()) == ["told staff not to be contacted"] * 2

    @pytest.mark.parametrize(
        ("person", "field"), [({"phone": "12"}, "phone"), ({}, "email"), ({"email": "not-an-address"}, "email")]
    )
    async def test_staff_get_field_errors_and_nothing_is_listed(
        self,
        client: AsyncClient,
        world: dict[str, Any],
        session: AsyncSession,
        person: dict[str, str],
        field: str,
    ) -> None:
        response = await client.post("/api/v1/opt-outs", json=person, headers=world["admin"])
        assert response.status_code == 422
        assert field in {e["field"] for e in response.json()["errors"]}
        assert await _listed(session) == {}

    async def test_agents_cannot_list_anyone_they_like(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession
    ) -> None:
        response = await client.post("/api/v1/opt-outs", json={"phone": "512-555-0100"}, headers=world["agent"])
        assert response.status_code == 403
        assert (await client.post("/api/v1/opt-outs", json={"phone": "512-555-0100"})).status_code == 401
        assert await _listed(session) == {}

    async def test_the_agent_working_the_lead_records_it_and_nobody_else_can(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession
    ) -> None:
        path = f"/api/v1/leads/{world['lead_id']}/opt-out"
        offered = await client.post(path, headers=world["agent"])  # offered, not accepted: read, not worked
        assert offered.status_code == 409 and "accept the offer first" in offered.json()["detail"]
        inbox = (await client.get("/api/v1/assignments", headers=world["agent"])).json()
        accept = f"/api/v1/assignments/{inbox[0]['assignment_id']}/accept"
        assert (await client.post(accept, headers=world["agent"])).status_code == 200
        assert (await client.post(path, headers=world["other"])).status_code == 404
        assert await _listed(session) == {}

        response = await client.post(path, headers=world["agent"])
        assert response.status_code == 200, response.text
        assert response.json() == {"leads": [str(world["lead_id"])]}
        assert len(await _listed(session)) == 2  # phone and e-mail
        inbox = (await client.get("/api/v1/assignments", headers=world["agent"])).json()
        assert inbox[0]["do_not_contact"] is True
        entries = await session.scalars(select(AuditEntry).where(AuditEntry.action == "person.opted_out"))
        assert [(e.actor.startswith("user:"), e.data["via"]) for e in entries] == [(True, "agent")]
        lead = (await client.get(f"/api/v1/leads/{world['lead_id']}", headers=world["agent"])).json()
        assert lead["status"] == "ACCEPTED"  # the agent keeps it, to record what became of it
        assert inbox[0]["phone"] is None

    async def test_staff_record_it_on_any_lead_and_an_unknown_lead_is_404(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession
    ) -> None:
        unknown = await client.post(f"/api/v1/leads/{uuid.uuid4()}/opt-out", headers=world["admin"])
        assert unknown.status_code == 404
        response = await client.post(f"/api/v1/leads/{world['lead_id']}/opt-out", headers=world["admin"])
        assert response.status_code == 200
        count = await session.scalar(select(func.count()).select_from(DoNotContact))
        assert count == 2


@pytest.mark.parametrize("backend", ["postgres"])
async def test_two_opt_outs_of_one_person_at_once_both_succeed_and_list_once(
    world: dict[str, Any], resources: Resources, session: AsyncSession, settings: Settings
) -> None:
    """A STOP and a click on the e-mail's link racing each other (PostgreSQL: the production store)."""
    hashes = [("phone", _hash(settings, "phone", _e164(world["contact"])))]

    async def opt_out(via: str) -> list[uuid.UUID]:
        async with resources.unit_of_work() as s:
            return await service.opt_out(s, hashes, via, "test")

    results = await asyncio.gather(opt_out("sms-reply"), opt_out("email-link"))
    assert sorted(len(r) for r in results) == [0, 1]  # one barred the lead, the other found it done
    assert len(await _listed(session)) == 2
    assert len(await _opt_out_events(session, world["lead_id"])) == 1


@pytest.mark.parametrize("backend", ["postgres"])
async def test_stops_from_two_numbers_of_one_person_at_once_do_not_deadlock(
    client: AsyncClient, world: dict[str, Any], resources: Resources, session: AsyncSession, settings: Settings
) -> None:
    """Two leads share an e-mail address; each number texts STOP at the same moment. Each request
    locks the person's two leads, in one order."""
    key = await helpers.api_key(session, "second-vendor")
    await session.commit()
    second = await helpers.submitted_and_processed(
        client, resources, key, lead_payload(contact={**world["contact"], "phone": "214-555-0188"})
    )
    numbers = [_e164(world["contact"]), "+12145550188"]

    async def stop(number: str) -> list[uuid.UUID]:
        async with resources.unit_of_work() as s:
            return await service.opt_out(s, [("phone", _hash(settings, "phone", number))], "sms-reply", "test")

    for _ in range(3):  # the order in which the two reach the database varies
        results = await asyncio.gather(*(stop(number) for number in numbers))
        assert sorted(len(r) for r in results) in ([0, 2], [1, 1], [0, 0])
    for lead_id in (world["lead_id"], second):
        assert len(await _opt_out_events(session, lead_id)) == 1


@pytest.mark.parametrize("backend", ["postgres"])
async def test_listing_a_person_nobody_has_a_lead_of_twice_at_once_lists_once(
    resources: Resources, session: AsyncSession, settings: Settings
) -> None:
    hashes = [("phone", _hash(settings, "phone", "+12145550177"))]

    async def opt_out() -> list[uuid.UUID]:
        async with resources.unit_of_work() as s:
            return await service.opt_out(s, hashes, "staff", "test")

    assert list(await asyncio.gather(opt_out(), opt_out())) == [[], []]
    assert len(await _listed(session)) == 1


class TestSharedLead:
    async def test_only_the_offers_not_yet_answered_are_withdrawn(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession, settings: Settings
    ) -> None:
        inbox = (await client.get("/api/v1/assignments", headers=world["agent"])).json()
        accept = f"/api/v1/assignments/{inbox[0]['assignment_id']}/accept"
        assert (await client.post(accept, headers=world["agent"])).status_code == 200
        second = await helpers.agent(session, ["TX"], name="Second")
        pending = Assignment(
            lead_id=world["lead_id"],
            agent_id=second.id,
            attempt=1,
            slot=1,
            strategy="round_robin",
            expires_at=utcnow() + timedelta(minutes=15),
        )
        session.add(pending)
        await session.commit()
        response = await client.post(
            "/api/v1/opt-outs", json={"phone": world["contact"]["phone"]}, headers=world["admin"]
        )
        assert response.json() == {"leads": [str(world["lead_id"])]}
        statuses = await session.execute(
            select(Assignment.slot, Assignment.status)
            .where(Assignment.lead_id == world["lead_id"])
            .order_by(Assignment.slot)
            .execution_options(populate_existing=True)
        )
        assert list(statuses) == [(0, "ACCEPTED"), (1, "WITHDRAWN")]
        lead = (await client.get(f"/api/v1/leads/{world['lead_id']}", headers=world["admin"])).json()
        assert lead["status"] == "ACCEPTED"  # the agent who took it records what became of it


class TestImportedList:
    async def test_an_agencys_list_bars_the_people_on_it_and_reports_what_it_could_not_read(
        self,
        client: AsyncClient,
        world: dict[str, Any],
        resources: Resources,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        key = settings.security.pii_hash_key.get_secret_value()
        lines = [
            "# exported from the old CRM",
            world["contact"]["phone"],  # 512-555-…: as people type it
            "",
            "someone.else@example.org",
            "not a number",
            "+1 (214) 555-0177",
            "SOMEONE.ELSE@example.org",  # the same address again
        ]
        imported = await service.import_list(resources, lines, key, "old CRM list", "test")
        await session.commit()
        assert (imported.added, imported.already_listed, imported.invalid_lines, imported.leads) == (3, 0, [5], 1)
        lead = (await client.get(f"/api/v1/leads/{world['lead_id']}", headers=world["admin"])).json()
        assert (lead["status"], lead["do_not_contact"]) == ("UNASSIGNED", True)
        assert await _opt_out_events(session, world["lead_id"]) == [{"via": "import"}]
        assert set((await _listed(session)).values()) == {"old CRM list"}

        again = await service.import_list(resources, lines, key, "old CRM list", "test")
        assert (again.added, again.already_listed, again.leads) == (0, 3, 0)
        audit = await session.scalars(select(AuditEntry.data).where(AuditEntry.action == "do_not_contact.imported"))
        assert [(entry["added"], entry["invalid_lines"]) for entry in audit] == [(3, 1), (0, 1)]

    async def test_a_list_longer_than_one_statement_takes(
        self,
        client: AsyncClient,
        world: dict[str, Any],
        resources: Resources,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        lines = [f"person{n}@example.net" for n in range(1200)] + [world["contact"]["phone"]]
        key = settings.security.pii_hash_key.get_secret_value()
        imported = await service.import_list(resources, lines, key, "old CRM list", "test")
        assert (imported.added, imported.leads) == (1201, 1)
        assert len(await _listed(session)) == 1201

    async def test_a_person_listed_before_is_not_barred_again(
        self,
        client: AsyncClient,
        world: dict[str, Any],
        resources: Resources,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        """Their e-mail address was listed already (as erasure lists it); the import adds their
        phone number, and their lead, barred since then, gets no second event."""
        email = _hash(settings, "email", email_key(world["contact"]["email"]))
        assert await dnc.add_many(session, [("email", email)], "listed before")
        await session.commit()  # the import lists in transactions of its own
        key = settings.security.pii_hash_key.get_secret_value()
        imported = await service.import_list(resources, [world["contact"]["phone"]], key, "old CRM list", "test")
        assert (imported.added, imported.leads) == (1, 0)
        assert await _opt_out_events(session, world["lead_id"]) == []

    async def test_a_list_imported_again_locks_no_lead(
        self, world: dict[str, Any], resources: Resources, session: AsyncSession, settings: Settings
    ) -> None:
        """Its people are listed already: locking their leads for the whole import would hold back
        agents and screenings for nothing."""
        key = settings.security.pii_hash_key.get_secret_value()
        people = [world["contact"]["phone"], world["contact"]["email"]]
        assert (await service.import_list(resources, people, key, "old CRM list", "test")).added == 2
        locking: list[str] = []

        def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if "FOR UPDATE" in statement.upper():
                locking.append(statement)

        engine = session.bind
        assert isinstance(engine, AsyncEngine)
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            again = await service.import_list(resources, people, key, "old CRM list", "test")
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert (again.added, again.already_listed, locking) == (0, 2, [])


def test_the_import_command(settings_env: dict[str, str], tmp_path: Path) -> None:
    listed = tmp_path / "dnc.txt"
    listed.write_text("\ufeff512-555-0100\npat@example.com\n12345\n", encoding="utf-8")  # as Excel saves it
    first = CliRunner().invoke(app, ["do-not-contact", "import", str(listed), "--reason", "old CRM"])
    assert first.exit_code == 1, first.output  # the rest was listed; the line it could not read is said
    assert "listed 2 new, 0 already listed; 0 leads barred" in first.stdout
    assert "not understood, so not listed: 1 line (3)" in first.stderr
    assert "12345" not in first.output
    second = CliRunner().invoke(app, ["do-not-contact", "import", str(listed), "--json"])
    assert json.loads(second.stdout) == {"added": 0, "already_listed": 2, "invalid_lines": [3], "leads": 0}
    clean = tmp_path / "clean.txt"
    clean.write_text("# nothing but good lines\n214-555-0177\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["do-not-contact", "import", str(clean)]).exit_code == 0


def test_the_import_command_refuses_what_it_cannot_read(settings_env: dict[str, str], tmp_path: Path) -> None:
    many = tmp_path / "bad.txt"
    many.write_text("\n".join(["not a number"] * 25), encoding="utf-8")
    answer = CliRunner().invoke(app, ["do-not-contact", "import", str(many)])
    assert answer.exit_code == 1
    assert "25 lines (1, 2, 3" in answer.stderr and "20 and 5 more)" in answer.stderr
    utf16 = tmp_path / "unicode.txt"
    utf16.write_text("512-555-0100\n", encoding="utf-16")  # Excel's "Unicode Text"
    for args in (
        [str(utf16)],
        [str(tmp_path)],  # a folder
        [str(tmp_path / "absent.txt")],
        [str(many), "--reason", ""],
    ):
        answer = CliRunner().invoke(app, ["do-not-contact", "import", *args])
        assert answer.exit_code == 2, (args, answer.output)
    assert "is not UTF-8 text" in CliRunner().invoke(app, ["do-not-contact", "import", str(utf16)]).stderr


class TestRemoval:
    async def test_an_admin_takes_a_person_off_the_list_and_their_lead_may_be_offered_again(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession
    ) -> None:
        person = {"phone": world["contact"]["phone"]}
        await client.post("/api/v1/opt-outs", json=person, headers=world["admin"])
        both = {"email": world["contact"]["email"], **person, "reason": "new_written_consent"}
        response = await client.post("/api/v1/opt-outs/removals", json=both, headers=world["admin"])
        assert response.status_code == 200, response.text
        assert response.json() == {"removed": 2}
        assert await _listed(session) == {}
        lead = (await client.get(f"/api/v1/leads/{world['lead_id']}", headers=world["admin"])).json()
        assert (lead["do_not_contact"], lead["status"]) == (False, "UNASSIGNED")
        reopened = await client.post(f"/api/v1/leads/{world['lead_id']}/reopen", json={}, headers=world["admin"])
        assert reopened.status_code == 202, reopened.text
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "person.opt_out_removed"))
        assert entry is not None and entry.data["reason"] == "new_written_consent"
        assert sorted(entry.data["removed"]) == ["email", "phone"]
        again = await client.post("/api/v1/opt-outs/removals", json=both, headers=world["admin"])
        assert again.json() == {"removed": 0}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"phone": "512-555-0100"}, "reason"),
            ({"phone": "512-555-0100", "reason": "because I said so"}, "reason"),
            ({"reason": "listed_by_mistake"}, "email"),
        ],
    )
    async def test_a_reason_from_the_list_and_the_person_are_required(
        self, client: AsyncClient, world: dict[str, Any], session: AsyncSession, body: dict[str, str], field: str
    ) -> None:
        await client.post("/api/v1/opt-outs", json={"phone": world["contact"]["phone"]}, headers=world["admin"])
        response = await client.post("/api/v1/opt-outs/removals", json=body, headers=world["admin"])
        assert response.status_code == 422
        assert field in {e["field"] for e in response.json()["errors"]}
        assert len(await _listed(session)) == 2

    async def test_only_admins(self, client: AsyncClient, world: dict[str, Any], session: AsyncSession) -> None:
        await client.post("/api/v1/opt-outs", json={"phone": world["contact"]["phone"]}, headers=world["admin"])
        body = {"phone": world["contact"]["phone"], "reason": "listed_by_mistake"}
        assert (await client.post("/api/v1/opt-outs/removals", json=body, headers=world["agent"])).status_code == 403
        assert (await client.post("/api/v1/opt-outs/removals", json=body)).status_code == 401
        assert len(await _listed(session)) == 2

"""Agents and admins through the API: sign-in, inbox, outcomes, returns, policies, privacy."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from httpx import AsyncClient
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.core.resources import Resources
from leadgen.core.settings import ConfigError, Settings, get_settings
from leadgen.leads.lifecycle import LeadStatus
from leadgen.models import Assignment, AuditEntry, Lead, LeadEvent
from tests import helpers
from tests.conftest import lead_payload


@pytest.fixture
async def world(
    client: AsyncClient, session: AsyncSession, resources: Resources, settings: Settings
) -> dict[str, object]:
    """Two TX agents with users, an admin, a key, and one lead routed to the first agent."""
    first = await helpers.agent(session, ["TX"], name="First")
    second = await helpers.agent(session, ["TX"], name="Second")
    ids = (first.id, second.id)
    users = {
        "first": await helpers.user(session, Role.AGENT, ids[0]),
        "second": await helpers.user(session, Role.AGENT, ids[1]),
        "admin": await helpers.user(session, Role.ADMIN),
    }
    key = await helpers.api_key(session)
    await session.commit()
    payload = lead_payload()
    lead_id = await helpers.submitted_and_processed(client, resources, key, payload)
    return {"lead_id": lead_id, "users": users, "payload": payload, "key": key}


async def offered_to(client: AsyncClient, world: dict[str, object]) -> tuple[dict[str, str], dict[str, str], str]:
    """(headers of the agent holding the offer, headers of the other agent, assignment id)."""
    users: dict[str, str] = world["users"]  # type: ignore[assignment]
    for me, other in (("first", "second"), ("second", "first")):
        headers = await helpers.bearer(client, users[me])
        inbox = (await client.get("/api/v1/assignments", headers=headers)).json()
        if inbox:
            return headers, await helpers.bearer(client, users[other]), inbox[0]["assignment_id"]
    raise AssertionError("nobody got the offer")


class TestSignIn:
    async def test_wrong_password_is_401(self, client: AsyncClient, world: dict[str, object]) -> None:
        users: dict[str, str] = world["users"]  # type: ignore[assignment]
        response = await client.post(
            "/api/v1/auth/token", data={"username": users["admin"], "password": "nope-nope-nope"}
        )
        assert response.status_code == 401

    async def test_endpoints_need_a_token(self, client: AsyncClient, data_client: AsyncClient) -> None:
        assert (await client.get("/api/v1/leads")).status_code == 401
        assert (await client.get("/api/v1/assignments")).status_code == 401
        assert (await data_client.get("/api/v1/agents")).status_code == 401

    async def test_agent_cannot_use_admin_endpoints(
        self, client: AsyncClient, data_client: AsyncClient, world: dict[str, object]
    ) -> None:
        users: dict[str, str] = world["users"]  # type: ignore[assignment]
        headers = await helpers.bearer(client, users["first"])
        assert (await data_client.get("/api/v1/agents", headers=headers)).status_code == 403


class TestAgentWork:
    async def test_agent_sees_only_own_leads_and_contact_after_accepting(
        self, client: AsyncClient, world: dict[str, object]
    ) -> None:
        mine, theirs, assignment = await offered_to(client, world)
        lead_id = world["lead_id"]
        assert (await client.get(f"/api/v1/leads/{lead_id}", headers=theirs)).status_code == 404
        assert (await client.get("/api/v1/leads", headers=theirs)).json() == []
        offered = (await client.get("/api/v1/assignments", headers=mine)).json()[0]
        assert offered["phone"] is None and offered["lead_status"] == "ROUTED"
        assert (await client.post(f"/api/v1/assignments/{assignment}/accept", headers=theirs)).status_code == 404
        accepted = await client.post(f"/api/v1/assignments/{assignment}/accept", headers=mine)
        assert accepted.json()["status"] == "ACCEPTED"
        taken = (await client.get("/api/v1/assignments", headers=mine)).json()[0]
        assert taken["phone"].startswith("+1") and taken["lead_status"] == "ACCEPTED"
        again = await client.post(f"/api/v1/assignments/{assignment}/accept", headers=mine)
        assert again.status_code == 409

    async def test_an_agent_who_declined_a_lead_no_longer_reads_what_became_of_it(
        self, client: AsyncClient, world: dict[str, object], session: AsyncSession
    ) -> None:
        mine, _, assignment = await offered_to(client, world)
        declined = await client.post(f"/api/v1/assignments/{assignment}/reject", json={"reason": "busy"}, headers=mine)
        assert declined.status_code == 200, declined.text
        # As another agent's sale would leave it.
        await session.execute(update(Lead).where(Lead.id == world["lead_id"]).values(status=LeadStatus.CONVERTED))
        await session.commit()
        assert (await client.get(f"/api/v1/leads/{world['lead_id']}", headers=mine)).status_code == 404
        [past] = [
            o for o in (await client.get("/api/v1/assignments", headers=mine)).json() if o["status"] == "REJECTED"
        ]
        assert past["lead_status"] is None

    async def test_staff_cannot_answer_an_agents_offer(
        self, client: AsyncClient, session: AsyncSession, world: dict[str, object]
    ) -> None:
        """Accepting or declining is the offered agent's own act: staff see the offer, and get the
        404 any other user gets for an offer not theirs, whatever the answer would say."""
        users: dict[str, str] = world["users"]  # type: ignore[assignment]
        manager = await helpers.user(session, Role.MANAGER)
        await session.commit()
        _, _, assignment = await offered_to(client, world)
        for staff in [await helpers.bearer(client, email) for email in (users["admin"], manager)]:
            accepted = await client.post(f"/api/v1/assignments/{assignment}/accept", headers=staff)
            assert accepted.status_code == 404, accepted.text
            body = {"reason": "declined on the agent's behalf"}
            declined = await client.post(f"/api/v1/assignments/{assignment}/reject", json=body, headers=staff)
            assert declined.status_code == 404, declined.text
        lead = (await client.get(f"/api/v1/leads/{world['lead_id']}", headers=staff)).json()
        assert (lead["status"], lead["assignment"]["status"]) == ("ROUTED", "PENDING")
        assert not [e for e in lead["events"] if e["name"] in ("assignment.accepted", "assignment.rejected")]

    async def test_outcomes_follow_the_lifecycle(
        self, client: AsyncClient, world: dict[str, object], session: AsyncSession
    ) -> None:
        mine, _, assignment = await offered_to(client, world)
        lead_id = world["lead_id"]
        await client.post(f"/api/v1/assignments/{assignment}/accept", headers=mine)
        skip = await client.post(f"/api/v1/leads/{lead_id}/outcome", json={"status": "CONVERTED"}, headers=mine)
        assert skip.status_code == 409
        for status in ("CONTACTED", "QUOTED", "CONVERTED"):
            response = await client.post(f"/api/v1/leads/{lead_id}/outcome", json={"status": status}, headers=mine)
            assert response.json() == {"id": str(lead_id), "status": status}
            closed_at = await session.scalar(
                select(Assignment.closed_at)
                .where(Assignment.id == uuid.UUID(str(assignment)))
                .execution_options(populate_existing=True)
            )
            # Only the end of the work takes the lead off the agent's load.
            assert (closed_at is not None) == (status == "CONVERTED")

    async def test_an_accepted_offer_says_until_when_the_lead_may_be_returned(
        self, client: AsyncClient, session: AsyncSession, settings: Settings, world: dict[str, object]
    ) -> None:
        mine, _, assignment = await offered_to(client, world)
        lead_id = world["lead_id"]
        offered = (await client.get(f"/api/v1/leads/{lead_id}", headers=mine)).json()["assignment"]
        assert offered["return_by"] is None  # nothing to return before accepting
        await client.post(f"/api/v1/assignments/{assignment}/accept", headers=mine)
        offer = await session.get(Assignment, uuid.UUID(assignment))
        assert offer is not None and offer.responded_at is not None
        window = timedelta(hours=settings.routing.return_window_hours)
        for reader in (mine, await helpers.bearer(client, world["users"]["admin"])):  # type: ignore[index]
            seen = (await client.get(f"/api/v1/leads/{lead_id}", headers=reader)).json()["assignment"]
            assert datetime.fromisoformat(seen["return_by"]) == offer.responded_at + window

    async def test_return_by_is_given_only_while_the_agent_may_still_return_the_lead(
        self, client: AsyncClient, world: dict[str, object]
    ) -> None:
        """A contacted lead may still be returned; one quoted is kept (the return is refused), so it
        has no date to return it by, for the agent or for staff."""
        mine, _, assignment = await offered_to(client, world)
        lead_id = world["lead_id"]
        admin = await helpers.bearer(client, world["users"]["admin"])  # type: ignore[index]
        await client.post(f"/api/v1/assignments/{assignment}/accept", headers=mine)
        seen: dict[str, list[bool]] = {}
        for status in ("CONTACTED", "QUOTED"):
            recorded = await client.post(f"/api/v1/leads/{lead_id}/outcome", json={"status": status}, headers=mine)
            assert recorded.status_code == 200, recorded.text
            pages = [(await client.get(f"/api/v1/leads/{lead_id}", headers=h)).json() for h in (mine, admin)]
            seen[status] = [page["assignment"]["return_by"] is not None for page in pages]
        assert seen == {"CONTACTED": [True, True], "QUOTED": [False, False]}
        refused = await client.post(f"/api/v1/leads/{lead_id}/return", json={"reason": "fraud"}, headers=mine)
        assert refused.status_code == 409

    async def test_return_inside_window_counts_against_the_source(
        self, client: AsyncClient, data_client: AsyncClient, world: dict[str, object]
    ) -> None:
        mine, _, assignment = await offered_to(client, world)
        lead_id = world["lead_id"]
        await client.post(f"/api/v1/assignments/{assignment}/accept", headers=mine)
        bad = await client.post(f"/api/v1/leads/{lead_id}/return", json={"reason": "because"}, headers=mine)
        assert bad.status_code == 422
        returned = await client.post(f"/api/v1/leads/{lead_id}/return", json={"reason": "wrong_number"}, headers=mine)
        assert returned.json()["status"] == "RETURNED"
        users: dict[str, str] = world["users"]  # type: ignore[assignment]
        admin = await helpers.bearer(client, users["admin"])
        rates = (await data_client.get("/api/v1/reports/returns", headers=admin)).json()["rows"]
        assert rates == [
            {
                "source": "test-vendor",
                "leads_accepted": 1,
                "leads_credited": 1,
                "return_rate": 1.0,
                "offers_accepted": 1,
                "offers_returned": 1,
                "top_reason": "wrong_number",
            }
        ]

    async def test_a_lead_the_agent_reads_but_may_not_work_is_a_conflict_that_says_why(
        self, client: AsyncClient, world: dict[str, object]
    ) -> None:
        """Offered and not yet accepted, or returned: the agent reads the lead, so working it is a
        409 saying why, not a 404 as for a lead they never had."""
        mine, other, assignment = await offered_to(client, world)
        lead_id = world["lead_id"]
        outcome = f"/api/v1/leads/{lead_id}/outcome"
        give_back = f"/api/v1/leads/{lead_id}/return"
        early = await client.post(outcome, json={"status": "CONTACTED"}, headers=mine)
        assert early.status_code == 409 and "accept the offer first" in early.json()["detail"]
        for path, body in ((outcome, {"status": "CONTACTED"}), (give_back, {"reason": "fraud"})):
            assert (await client.post(path, json=body, headers=other)).status_code == 404
        await client.post(f"/api/v1/assignments/{assignment}/accept", headers=mine)
        assert (await client.post(give_back, json={"reason": "fraud"}, headers=mine)).status_code == 200
        for path, body in ((give_back, {"reason": "fraud"}), (outcome, {"status": "CONTACTED"})):
            again = await client.post(path, json=body, headers=mine)
            assert again.status_code == 409, again.text
            assert "you returned the lead (fraud)" in again.json()["detail"]

    async def test_offers_made_and_answered_are_counted_once_committed(
        self, client: AsyncClient, world: dict[str, object]
    ) -> None:
        def answered(answer: str) -> float:
            return REGISTRY.get_sample_value("leadgen_offers_answered_total", {"answer": answer}) or 0.0

        assert (REGISTRY.get_sample_value("leadgen_offers_made_total", {"strategy": "round_robin"}) or 0) >= 1
        before = {answer: answered(answer) for answer in ("accepted", "returned", "rejected")}
        mine, _, assignment = await offered_to(client, world)
        await client.post(f"/api/v1/assignments/{assignment}/accept", headers=mine)
        give_back = f"/api/v1/leads/{world['lead_id']}/return"
        await client.post(give_back, json={"reason": "fraud"}, headers=mine)
        await client.post(give_back, json={"reason": "fraud"}, headers=mine)  # refused: not counted
        after = {answer: answered(answer) - before[answer] for answer in before}
        assert after == {"accepted": 1, "returned": 1, "rejected": 0}


LONGEST_RETURN_WINDOW_HOURS = 24 * 365


class TestTheLongestReturnWindow:
    @pytest.fixture
    def settings(self, settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
        monkeypatch.setenv("LEADGEN_ROUTING_RETURN_WINDOW_HOURS", str(LONGEST_RETURN_WINDOW_HOURS))
        get_settings.cache_clear()
        return get_settings()

    async def test_an_accepted_lead_reads_and_returns_with_it(
        self, client: AsyncClient, session: AsyncSession, world: dict[str, object]
    ) -> None:
        mine, _, assignment = await offered_to(client, world)
        lead_id = world["lead_id"]
        await client.post(f"/api/v1/assignments/{assignment}/accept", headers=mine)
        offer = await session.get(Assignment, uuid.UUID(assignment))
        assert offer is not None and offer.responded_at is not None
        page = await client.get(f"/api/v1/leads/{lead_id}", headers=mine)
        assert page.status_code == 200, page.text
        window = timedelta(hours=LONGEST_RETURN_WINDOW_HOURS)
        assert datetime.fromisoformat(page.json()["assignment"]["return_by"]) == offer.responded_at + window
        returned = await client.post(f"/api/v1/leads/{lead_id}/return", json={"reason": "fraud"}, headers=mine)
        assert returned.status_code == 200, returned.text

    @pytest.mark.parametrize("hours", [LONGEST_RETURN_WINDOW_HOURS + 1, 100_000_000])
    def test_a_longer_one_is_refused_at_start(self, monkeypatch: pytest.MonkeyPatch, hours: int) -> None:
        """A window past a year once passed, and every read of an accepted lead then failed (its
        date to return it by overflowed)."""
        monkeypatch.setenv("LEADGEN_ROUTING_RETURN_WINDOW_HOURS", str(hours))
        get_settings.cache_clear()
        with pytest.raises(ConfigError, match="LEADGEN_ROUTING_RETURN_WINDOW_HOURS"):
            get_settings()


class TestAdmin:
    async def test_policy_upsert_is_audited(
        self, client: AsyncClient, data_client: AsyncClient, world: dict[str, object]
    ) -> None:
        users: dict[str, str] = world["users"]  # type: ignore[assignment]
        admin = await helpers.bearer(client, users["admin"])
        body = {"campaign": "spring-auto", "strategy": "weighted", "max_agents": 2}
        first = (await data_client.put("/api/v1/routing-policies", json=body, headers=admin)).json()
        second = (
            await data_client.put("/api/v1/routing-policies", json={**body, "strategy": "best_match"}, headers=admin)
        ).json()
        assert first["id"] == second["id"] and second["strategy"] == "best_match"
        audit = (await data_client.get("/api/v1/audit", headers=admin)).json()
        assert [e["action"] for e in audit].count("routing_policy.saved") == 2

    async def test_a_return_keeps_its_listed_reason_and_loses_its_typed_detail_when_the_person_is_erased(
        self, client: AsyncClient, data_client: AsyncClient, world: dict[str, object], session: AsyncSession
    ) -> None:
        users: dict[str, str] = world["users"]  # type: ignore[assignment]
        holder, _, offer = await offered_to(client, world)
        assert (await client.post(f"/api/v1/assignments/{offer}/accept", headers=holder)).status_code == 200
        typed = "Dana says she never asked, her neighbour filled it in"
        body = {"reason": "not_interested_never_requested", "detail": typed}
        returned = await client.post(f"/api/v1/leads/{world['lead_id']}/return", json=body, headers=holder)
        assert returned.status_code == 200, returned.text
        admin = await helpers.bearer(client, users["admin"])
        contact = world["payload"]["contact"]  # type: ignore[index]
        erased = await data_client.post("/api/v1/privacy/erase", json={"email": contact["email"]}, headers=admin)
        assert erased.status_code == 200, erased.text
        [logged] = await session.scalars(select(AuditEntry.data).where(AuditEntry.action == "lead.returned"))
        assert logged == {"reason": "not_interested_never_requested"}
        kept = await session.scalar(select(Assignment.reason).where(Assignment.id == uuid.UUID(offer)))
        assert kept == "not_interested_never_requested"  # per-source return rates read it

    async def test_an_outcome_keeps_its_note_until_the_person_is_erased(
        self, client: AsyncClient, data_client: AsyncClient, world: dict[str, object], session: AsyncSession
    ) -> None:
        users: dict[str, str] = world["users"]  # type: ignore[assignment]
        holder, _, offer = await offered_to(client, world)
        assert (await client.post(f"/api/v1/assignments/{offer}/accept", headers=holder)).status_code == 200
        typed = "spoke to Dana, wants a quote after her renewal on the 3rd"
        body = {"status": "CONTACTED", "note": typed}
        recorded = await client.post(f"/api/v1/leads/{world['lead_id']}/outcome", json=body, headers=holder)
        assert recorded.status_code == 200, recorded.text
        history = (await client.get(f"/api/v1/leads/{world['lead_id']}", headers=holder)).json()["events"]
        assert [e["data"]["note"] for e in history if e["name"] == "lead.contacted"] == [typed]
        admin = await helpers.bearer(client, users["admin"])
        contact = world["payload"]["contact"]  # type: ignore[index]
        erased = await data_client.post("/api/v1/privacy/erase", json={"email": contact["email"]}, headers=admin)
        assert erased.status_code == 200, erased.text
        events = await session.scalars(select(LeadEvent.data).where(LeadEvent.lead_id == world["lead_id"]))
        assert all(typed not in str(data) for data in events)

    async def test_erasing_a_person_withdraws_their_offers_so_no_agent_types_more_about_them(
        self, client: AsyncClient, data_client: AsyncClient, world: dict[str, object], session: AsyncSession
    ) -> None:
        users: dict[str, str] = world["users"]  # type: ignore[assignment]
        admin = await helpers.bearer(client, users["admin"])
        holder, _, offer = await offered_to(client, world)
        contact = world["payload"]["contact"]  # type: ignore[index]
        erased = await data_client.post("/api/v1/privacy/erase", json={"email": contact["email"]}, headers=admin)
        assert erased.status_code == 200, erased.text
        typed = "no answer, try her sister Ann at 555-0199"
        declined = await client.post(f"/api/v1/assignments/{offer}/reject", json={"reason": typed}, headers=holder)
        assert declined.status_code == 409
        assert "WITHDRAWN" in declined.json()["detail"]
        lead = (await client.get(f"/api/v1/leads/{world['lead_id']}", headers=admin)).json()
        assert (lead["status"], lead["status_reason"]) == ("UNASSIGNED", "the person's data was erased")
        assert await session.scalar(select(Assignment.reason).where(Assignment.id == uuid.UUID(offer))) is None
        history = await session.scalars(select(LeadEvent.data).where(LeadEvent.lead_id == world["lead_id"]))
        assert all(typed not in str(data) for data in history)

    async def test_leads_sharing_only_another_identifier_are_reported_not_exported_or_erased(
        self,
        client: AsyncClient,
        data_client: AsyncClient,
        world: dict[str, object],
        session: AsyncSession,
        resources: Resources,
    ) -> None:
        """A later request from the same phone with another e-mail may be the person, or a housemate:
        asked about by the first e-mail address, it is listed for staff, who erase it by the phone."""
        users: dict[str, str] = world["users"]  # type: ignore[assignment]
        admin = await helpers.bearer(client, users["admin"])
        contact = world["payload"]["contact"]  # type: ignore[index]
        work = dict(contact, email=f"work-{contact['email']}")
        later = lead_payload(contact=work, external_id="vendor-123")
        second = await helpers.submitted_and_processed(client, resources, str(world["key"]), later)
        read = {"intent": "buy", "urgency": "high", "evidence": ["renewal next week"], "reason": "Renews next week."}
        await session.execute(update(Lead).where(Lead.id == second).values(insights=read))
        await session.commit()
        person = {"email": contact["email"]}
        exported = (await data_client.post("/api/v1/privacy/export", json=person, headers=admin)).json()
        assert [entry["lead"]["email"] for entry in exported["leads"]] == [contact["email"]]
        assert exported["linked_leads"] == [str(second)]
        erased = (await data_client.post("/api/v1/privacy/erase", json=person, headers=admin)).json()
        assert erased == {"anonymised_leads": [str(world["lead_id"])], "linked_leads": [str(second)]}
        kept = await session.scalar(select(Lead).where(Lead.id == second).execution_options(populate_existing=True))
        assert kept is not None and kept.email == work["email"] and kept.anonymised_at is None
        by_phone = {"phone": contact["phone"]}
        erased = (await data_client.post("/api/v1/privacy/erase", json=by_phone, headers=admin)).json()
        assert erased == {"anonymised_leads": [str(second)], "linked_leads": []}
        lead = await session.scalar(select(Lead).where(Lead.id == second).execution_options(populate_existing=True))
        assert lead is not None and lead.email is None and lead.phone is None and lead.external_id is None
        assert lead.insights == {"intent": "buy", "urgency": "high"}  # the labels stay, the words go

    async def test_export_then_erase_a_person(
        self, client: AsyncClient, data_client: AsyncClient, world: dict[str, object], session: AsyncSession
    ) -> None:
        users: dict[str, str] = world["users"]  # type: ignore[assignment]
        admin = await helpers.bearer(client, users["admin"])
        holder, _, offer = await offered_to(client, world)
        typed = "Dana wants a call after 6, her husband handles the car"
        declined = await client.post(f"/api/v1/assignments/{offer}/reject", json={"reason": typed}, headers=holder)
        assert declined.status_code == 200, declined.text
        contact = world["payload"]["contact"]  # type: ignore[index]
        person = {"email": contact["email"]}
        exported = (await data_client.post("/api/v1/privacy/export", json=person, headers=admin)).json()
        assert exported["leads"][0]["lead"]["email"] == contact["email"]
        assert exported["leads"][0]["consent"]["text"].startswith("I agree")
        # What the agent typed about the person is theirs to read: on the offer and in the audit log.
        [declined_offer] = exported["leads"][0]["assignments"]
        assert (declined_offer["status"], declined_offer["reason"]) == ("REJECTED", typed)
        audited = {entry["action"]: entry["data"] for entry in exported["leads"][0]["audit"]}
        assert audited["assignment.rejected"]["reason"] == typed
        assert exported["do_not_contact"] == []
        erased = (await data_client.post("/api/v1/privacy/erase", json=person, headers=admin)).json()
        assert erased == {"anonymised_leads": [str(world["lead_id"])], "linked_leads": []}
        lead = await session.scalar(select(Lead).where(Lead.id == world["lead_id"]))
        assert lead is not None and lead.email is None and lead.phone is None and lead.anonymised_at
        assert lead.line == "auto" and lead.state == "TX"
        # What the person told of their insurance and the score's reasons went; the score and the ZIP's area stay.
        assert (lead.currently_insured, lead.current_carrier, lead.policy_expires_on) == (None, None, None)
        assert lead.zip_code == "787" and lead.score is not None
        assert lead.score_factors is not None and set(lead.score_factors) <= {"model", "probability"}
        # What the agent typed about the person went too: from the offer, its history and the audit log.
        assert await session.scalar(select(Assignment.reason).where(Assignment.id == uuid.UUID(offer))) is None
        history = await session.scalars(select(LeadEvent.data).where(LeadEvent.lead_id == world["lead_id"]))
        logged = await session.scalars(select(AuditEntry.data).where(AuditEntry.action == "assignment.rejected"))
        assert all(typed not in str(data) for data in [*history, *logged])
        after = (await data_client.post("/api/v1/privacy/export", json=person, headers=admin)).json()
        assert after["leads"] == []  # nothing left to find the person by
        listed = {(entry["kind"], entry["reason"]) for entry in after["do_not_contact"]}
        # The number the erasure listed too: the consent record the export returns holds it.
        assert listed == {("email", "erasure request"), ("phone", "erasure request")}
        phone_only = (
            await data_client.post("/api/v1/privacy/export", json={"phone": contact["phone"]}, headers=admin)
        ).json()
        assert {(e["kind"], e["reason"]) for e in phone_only["do_not_contact"]} == listed
        # The same person again is stopped by the do-not-contact list.
        again = await client.post(
            "/api/v1/leads", json=lead_payload(contact=contact), headers={"X-API-Key": str(world["key"])}
        )
        assert again.status_code == 202
        actions = [e["action"] for e in (await data_client.get("/api/v1/audit", headers=admin)).json()]
        assert {"privacy.exported", "privacy.erased"} <= set(actions)
        assert again.json()["status"] == LeadStatus.RECEIVED

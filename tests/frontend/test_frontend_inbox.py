"""The agent inbox and lead detail: offers, accept, decline, and what another agent may see."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from leadgen.frontend import router
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Assignment, Lead, Source
from tests.frontend.stack import (
    ADMIN,
    ANA,
    BEN,
    CALIFORNIA_ZIP,
    TEXAS_ZIP,
    Platform,
    csrf_token,
    run_reroute,
    signed_in,
)


def _assignment_of(page: str) -> str:
    marker = 'action="/inbox/'
    start = page.index(marker) + len(marker)
    return page[start : page.index("/", start)]


class TestInbox:
    async def test_an_offered_lead_is_shown_without_contact_details(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as browser:
            page = (await browser.get("/inbox")).text
        assert f'href="/leads/{lead_id}"' in page
        assert "Auto lead in TX" in page
        assert "badge-pending" in page
        assert ">Accept</button>" in page and ">Decline</button>" in page
        assert "Dana" not in page and "555-0134" not in page

    async def test_accepting_an_offer_shows_the_contact_and_updates_the_lead(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as browser:
            page = (await browser.get("/inbox")).text
            assignment = _assignment_of(page)
            answer = await browser.post(
                f"/inbox/{assignment}/accept", data={"csrf_token": csrf_token(page, f"/inbox/{assignment}/accept")}
            )
            assert answer.status_code == 303
            assert answer.headers["location"] == "/inbox?notice=accepted"
            after = (await browser.get(answer.headers["location"])).text
            assert "Lead accepted." in after
            assert "badge-accepted" in after
            assert "Dana" in after and 'href="tel:+12145550134"' in after
            detail = (await browser.get(f"/leads/{lead_id}")).text
        assert "badge-accepted" in detail
        assert "assignment.accepted" in detail
        lead = await platform.api_get(ANA, f"/api/v1/leads/{lead_id}")
        assert lead["status"] == "ACCEPTED"

    async def test_accepting_from_the_lead_page_returns_to_it(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as browser:
            page = (await browser.get(f"/leads/{lead_id}")).text
            assignment = _assignment_of(page)
            form = {"csrf_token": csrf_token(page, f"/inbox/{assignment}/accept"), "next": f"/leads/{lead_id}"}
            answer = await browser.post(f"/inbox/{assignment}/accept", data=form)
            assert answer.headers["location"] == f"/leads/{lead_id}?notice=accepted"
            assert "Lead accepted." in (await browser.get(answer.headers["location"])).text

    async def test_accepting_twice_explains_why_not(self, platform: Platform) -> None:
        await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as browser:
            page = (await browser.get("/inbox")).text
            assignment = _assignment_of(page)
            form = {"csrf_token": csrf_token(page, f"/inbox/{assignment}/accept")}
            await browser.post(f"/inbox/{assignment}/accept", data=form)
            again = await browser.post(f"/inbox/{assignment}/accept", data=form)
        assert again.status_code == 409
        assert "not PENDING" in again.text
        assert 'role="alert"' in again.text

    async def test_declining_needs_a_reason_shown_next_to_the_field(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as browser:
            page = (await browser.get("/inbox")).text
            assignment = _assignment_of(page)
            form = {"csrf_token": csrf_token(page, f"/inbox/{assignment}/reject"), "reason": "no"}
            answer = await browser.post(f"/inbox/{assignment}/reject", data=form)
        assert answer.status_code == 422
        assert f'id="reason-{assignment}-error"' in answer.text
        assert "at least 3 characters" in answer.text
        assert f'aria-describedby="reason-{assignment}-error"' in answer.text
        assert (await platform.api_get(ANA, f"/api/v1/leads/{lead_id}"))["status"] == "ROUTED"

    async def test_declining_records_the_reason_and_the_lead_moves_on(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as browser:
            page = (await browser.get("/inbox")).text
            assignment = _assignment_of(page)
            form = {"csrf_token": csrf_token(page, f"/inbox/{assignment}/reject"), "reason": "outside my hours"}
            answer = await browser.post(f"/inbox/{assignment}/reject", data=form)
            assert answer.headers["location"] == "/inbox?notice=rejected"
            after = (await browser.get(answer.headers["location"])).text
            assert "Lead declined." in after and ">Accept</button>" not in after
        lead = await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}")
        rejected = [e for e in lead["events"] if e["name"] == "assignment.rejected"]
        assert rejected and rejected[0]["data"]["reason"] == "outside my hours"
        # The worker then offers it again; Ana is the only agent licensed in Texas.
        await run_reroute(platform.settings, lead_id)
        assert (await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}"))["status"] == "UNASSIGNED"

    async def test_a_declined_offer_no_longer_links_to_its_lead(self, platform: Platform) -> None:
        """The lead is no longer the agent's to read: a link would lead to "not found"."""
        declined = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as browser:
            page = (await browser.get("/inbox")).text
            assignment = _assignment_of(page)
            form = {"csrf_token": csrf_token(page, f"/inbox/{assignment}/reject"), "reason": "not my area"}
            await browser.post(f"/inbox/{assignment}/reject", data=form)
            offered = await platform.routed_lead("214-555-0135")
            inbox = (await browser.get("/inbox")).text
            assert (await browser.get(f"/leads/{declined}")).status_code == 404
        card = inbox[inbox.index(f'id="offer-{assignment}"') :]
        assert "Auto lead in TX" in _text(card[: card.index("</li>")])
        assert f'href="/leads/{declined}"' not in inbox and f'href="/leads/{offered}"' in inbox


class TestAnotherAgentsLead:
    async def test_the_lead_page_says_not_found(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, BEN) as browser:
            answer = await browser.get(f"/leads/{lead_id}")
            inbox = (await browser.get("/inbox")).text
        assert answer.status_code == 404
        assert "There is no such item, or it is not yours." in answer.text
        assert "Dana" not in answer.text and "Auto lead in TX" not in answer.text
        assert str(lead_id) not in inbox

    async def test_accepting_it_is_refused_and_changes_nothing(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as ana:
            assignment = _assignment_of((await ana.get("/inbox")).text)
        async with signed_in(platform, BEN) as ben:
            page = (await ben.get("/inbox")).text
            answer = await ben.post(f"/inbox/{assignment}/accept", data={"csrf_token": csrf_token(page, "/logout")})
        assert answer.status_code == 404
        assert "not found" in answer.text
        assert (await platform.api_get(ANA, f"/api/v1/leads/{lead_id}"))["status"] == "ROUTED"

    async def test_each_agent_sees_their_own_offer(self, platform: Platform) -> None:
        texas = await platform.routed_lead("214-555-0134")
        california = await platform.routed_lead("310-555-0188", CALIFORNIA_ZIP)
        async with signed_in(platform, BEN) as browser:
            page = (await browser.get("/inbox")).text
        assert f'href="/leads/{california}"' in page
        assert f'href="/leads/{texas}"' not in page


class TestLeadDetail:
    async def test_shows_status_score_factors_assignment_and_history(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as browser:
            page = (await browser.get(f"/leads/{lead_id}")).text
        lead = await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}")
        assert "badge-routed" in page
        assert f"<strong>{lead['score']}</strong> out of 100" in page
        factors = lead["score_factors"]["factors"]
        assert factors, "the model explains its score"
        for factor in factors:
            assert f"<td>{html.escape(factor['factor'])}</td>" in page
        assert "Ana Agent" in page and "round robin" in page.replace("_", " ")
        for event in ("lead.received", "lead.scored", "lead.routed"):
            assert event in page

    async def test_an_address_that_is_not_a_lead_id_is_not_found(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            answer = await browser.get("/leads/not-a-lead")
        assert answer.status_code == 404
        assert "There is no page at this address." in answer.text


class TestWorkingAnAcceptedLead:
    async def _accepted(self, platform: Platform, browser: httpx.AsyncClient) -> tuple[uuid.UUID, str]:
        """A lead Ana accepted from its page; the page after."""
        lead_id = await platform.routed_lead("214-555-0134")
        page = (await browser.get(f"/leads/{lead_id}")).text
        assert _choices(page, "status") == []  # nothing to record before accepting
        assignment = _assignment_of(page)
        form = {"csrf_token": csrf_token(page, f"/inbox/{assignment}/accept"), "next": f"/leads/{lead_id}"}
        answer = await browser.post(f"/inbox/{assignment}/accept", data=form)
        return lead_id, (await browser.get(answer.headers["location"])).text

    async def test_the_agent_sees_the_persons_calling_hours(
        self, platform: Platform, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with signed_in(platform, ANA) as browser:
            lead_id, _ = await self._accepted(platform, browser)
            # 9:30 on a Monday in Houston is 8:30 in El Paso: Texas calls start at 9 in both.
            monkeypatch.setattr(router, "utcnow", lambda: datetime(2026, 6, 1, 14, 30, tzinfo=UTC))
            early = _text((await browser.get(f"/leads/{lead_id}")).text)
            monkeypatch.setattr(router, "utcnow", lambda: datetime(2026, 6, 1, 16, 0, tzinfo=UTC))
            later = _text((await browser.get(f"/leads/{lead_id}")).text)
        hours = "TX: 9 am to 9 pm, noon to 9 pm on Sundays, in each of the state's time zones, the person's local time."
        assert f"Calling hours: closed until Mon 10:00 CDT (2026-06-01 15:00 UTC). {hours}" in early
        assert f"Calling hours: open now. {hours}" in later
        async with signed_in(platform, ANA) as browser:
            page = (await browser.get(f"/leads/{lead_id}")).text
            action = f"/leads/{lead_id}/outcome"
            await browser.post(action, data={"csrf_token": csrf_token(page, action), "status": "LOST"})
            closed = (await browser.get(f"/leads/{lead_id}")).text
            inbox = (await browser.get("/inbox")).text
        assert "badge-lost" in closed and "Calling hours" not in closed  # nobody is to call about it now
        assert f'href="/leads/{lead_id}"' in inbox and "Calling hours" not in inbox

    async def test_the_agent_offered_a_lead_sees_the_calling_hours_in_the_inbox_and_on_its_page(
        self, platform: Platform, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(router, "utcnow", lambda: datetime(2026, 6, 7, 15, 0, tzinfo=UTC))  # Sunday 10:00
        lead_id = await platform.routed_lead("214-555-0188")
        closed = "Calling hours: closed until Sun 13:00 CDT (2026-06-07 18:00 UTC)."  # noon in El Paso
        async with signed_in(platform, ANA) as browser:
            inbox = _text((await browser.get("/inbox")).text)
            page = _text((await browser.get(f"/leads/{lead_id}")).text)
        assert closed in inbox and closed in page
        async with signed_in(platform, ADMIN) as browser:  # staff are not about to call anyone
            assert "Calling hours" not in (await browser.get(f"/leads/{lead_id}")).text

    async def test_a_number_whose_area_code_a_state_law_claims_brings_that_state_s_hours(
        self, platform: Platform, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A Texas address with an Oklahoma number: Oklahoma presumes the person lives there."""
        monkeypatch.setattr(router, "utcnow", lambda: datetime(2026, 6, 2, 1, 30, tzinfo=UTC))  # Mon 20:30 CDT
        lead_id = await platform.routed_lead("405-555-0142")
        async with signed_in(platform, ANA) as browser:
            page = _text((await browser.get(f"/leads/{lead_id}")).text)
        assert "Calling hours: closed until Tue 10:00 CDT (2026-06-02 15:00 UTC)." in page  # 9 am in El Paso
        assert (
            "TX: 9 am to 9 pm, noon to 9 pm on Sundays, in each of the state's time zones; and OK (the law "
            "presumes it from the phone number's area code): 8 am to 8 pm, the person's local time."
        ) in page

    async def test_the_agent_records_each_outcome_the_lead_may_reach_next(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            lead_id, page = await self._accepted(platform, browser)
            action = f"/leads/{lead_id}/outcome"
            assert _choices(page, "status") == ["CONTACTED", "LOST"]
            contacted = {"csrf_token": csrf_token(page, action), "status": "CONTACTED"}
            answer = await browser.post(action, data=contacted)
            assert answer.status_code == 303 and answer.headers["location"] == f"/leads/{lead_id}?notice=recorded"
            page = (await browser.get(answer.headers["location"])).text
            assert "Outcome recorded." in page and "badge-contacted" in page and "lead.contacted" in page
            assert _choices(page, "status") == ["QUOTED", "LOST"]
            skipped = await browser.post(
                action, data={**contacted, "csrf_token": csrf_token(page, action), "status": "CONVERTED"}
            )
            assert skipped.status_code == 409 and "a lead in CONTACTED cannot become CONVERTED" in skipped.text
        assert (await platform.api_get(ANA, f"/api/v1/leads/{lead_id}"))["status"] == "CONTACTED"

    async def test_the_agent_returns_a_bad_lead_with_a_reason(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            lead_id, page = await self._accepted(platform, browser)
            action = f"/leads/{lead_id}/return"
            assert "wrong_number" in _choices(page, "reason")
            unknown = await browser.post(action, data={"csrf_token": csrf_token(page, action), "reason": "bored"})
            assert unknown.status_code == 422
            form = {"csrf_token": csrf_token(page, action), "reason": "wrong_number", "detail": "number disconnected"}
            answer = await browser.post(action, data=form)
            assert answer.headers["location"] == f"/leads/{lead_id}?notice=returned"
            page = (await browser.get(answer.headers["location"])).text
            assert "Lead returned." in page and "badge-returned" in page
            assert f'action="{action}"' not in page and f'action="/leads/{lead_id}/outcome"' not in page
        assert (await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}"))["status"] == "RETURNED"

    async def test_another_agent_cannot_record_an_outcome(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            lead_id, _ = await self._accepted(platform, browser)
        async with signed_in(platform, BEN) as browser:
            inbox = (await browser.get("/inbox")).text
            answer = await browser.post(
                f"/leads/{lead_id}/outcome", data={"csrf_token": csrf_token(inbox), "status": "LOST"}
            )
        assert answer.status_code == 404
        assert (await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}"))["status"] == "ACCEPTED"


class TestSharedLead:
    """A shared lead Ana and Ben both accepted (Ben is licensed in California, but an offer made is
    an offer): Ana has reached the person, Ben not yet."""

    async def _shared(self, platform: Platform, anas: LeadStatus = LeadStatus.CONTACTED) -> uuid.UUID:
        """The lead, with Ana's outcome ``anas`` (the lead's status too: Ben has recorded nothing)."""
        now = datetime.now(UTC)
        async with platform.api.state.resources.unit_of_work() as session:
            source = Source(name="shared-vendor", kind="api")
            session.add(source)
            await session.flush()
            lead = Lead(
                source_id=source.id,
                line="auto",
                origin="api",
                state="TX",
                zip_code=TEXAS_ZIP,
                exclusive=False,
                status=anas,
            )
            session.add(lead)
            await session.flush()
            takers = [(platform.people.ana_agent_id, anas), (platform.people.ben_agent_id, None)]
            for slot, (agent_id, outcome) in enumerate(takers):
                session.add(
                    Assignment(
                        lead_id=lead.id,
                        agent_id=agent_id,
                        attempt=1,
                        slot=slot,
                        strategy="round_robin",
                        status=AssignmentStatus.ACCEPTED,
                        expires_at=now + timedelta(minutes=15),
                        responded_at=now,
                        outcome=outcome,
                        # As recording the outcome does: a converted or lost lead leaves the agent's load.
                        closed_at=now if outcome in (LeadStatus.CONVERTED, LeadStatus.LOST) else None,
                    )
                )
            return lead.id

    async def test_each_agent_is_offered_their_own_next_outcomes(self, platform: Platform) -> None:
        lead_id = await self._shared(platform)
        action = f"/leads/{lead_id}/outcome"
        async with signed_in(platform, ANA) as browser:
            page = (await browser.get(f"/leads/{lead_id}")).text
            assert _choices(page, "status") == ["QUOTED", "LOST"]
            assert "wrong_number" in _choices(page, "reason")  # a contacted lead may still be returned
        async with signed_in(platform, BEN) as browser:
            page = (await browser.get(f"/leads/{lead_id}")).text
            assert _choices(page, "status") == ["CONTACTED", "LOST"]
            answer = await browser.post(action, data={"csrf_token": csrf_token(page, action), "status": "CONTACTED"})
            assert answer.status_code == 303, answer.text
            page = (await browser.get(f"/leads/{lead_id}")).text
            assert _choices(page, "status") == ["QUOTED", "LOST"]
            assert "Your progress" in _text(page) and "badge-contacted" in page
        async with signed_in(platform, ADMIN) as browser:  # staff record nothing; they see the lead's status
            page = (await browser.get(f"/leads/{lead_id}")).text
            assert _choices(page, "status") == [] and "badge-contacted" in page

    async def test_the_agent_still_working_a_lead_another_converted_is_shown_when_to_call(
        self, platform: Platform
    ) -> None:
        lead_id = await self._shared(platform, anas=LeadStatus.CONVERTED)
        async with signed_in(platform, BEN) as browser:
            inbox = _text((await browser.get("/inbox")).text)
            page = (await browser.get(f"/leads/{lead_id}")).text
        assert "Calling hours" in inbox and "Calling hours" in _text(page)
        assert _choices(page, "status") == ["CONTACTED", "LOST"]
        async with signed_in(platform, ANA) as browser:  # Ana's work on it is done
            assert "Calling hours" not in (await browser.get("/inbox")).text


def _choices(page: str, name: str) -> list[str]:
    """The values a form on the page offers for ``name``: its radio buttons, or its select's options."""
    radios = re.findall(rf'type="radio" name="{name}" value="([^"]+)"', page)
    select = re.search(rf'<select[^>]* name="{name}"[^>]*>(.*?)</select>', page, re.S)
    return radios + (re.findall(r'<option value="([^"]+)"', select.group(1)) if select else [])


def _text(page: str) -> str:
    """The page's words as a reader sees them: no tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split()).replace(" .", ".").replace(" ,", ",")

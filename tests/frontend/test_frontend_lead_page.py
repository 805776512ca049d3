"""The lead page's forms for the agent working a lead and for staff: until when a lead may be
returned, and each refused value shown at its field."""

from __future__ import annotations

import html
import re
import uuid
from datetime import datetime, timedelta

import httpx
from sqlalchemy import update

from leadgen.frontend.pages import _when
from leadgen.models import Assignment, Lead
from leadgen.models.base import utcnow
from tests.frontend.stack import ADMIN, ANA, MANAGER, Platform, csrf_token, signed_in

OUT_OF_AREA_ZIP = "10001"  # New York: no agent is licensed there


async def accepted(platform: Platform, browser: httpx.AsyncClient) -> tuple[uuid.UUID, str]:
    """A lead Ana accepted from its page; the page after."""
    lead_id = await platform.routed_lead("214-555-0134")
    page = (await browser.get(f"/leads/{lead_id}")).text
    marker = 'action="/inbox/'
    start = page.index(marker) + len(marker)
    action = f"/inbox/{page[start : page.index('/', start)]}/accept"
    answer = await browser.post(action, data={"csrf_token": csrf_token(page, action), "next": f"/leads/{lead_id}"})
    return lead_id, (await browser.get(answer.headers["location"])).text


def text(page: str) -> str:
    """The page's words as a reader sees them: no tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


class TestReturnWindow:
    async def test_the_page_says_until_when_the_lead_may_be_returned(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            lead_id, page = await accepted(platform, browser)
        offer = (await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}"))["assignment"]
        assert f"Return by {_when(datetime.fromisoformat(offer['return_by']))}" in text(page)
        assert f'action="/leads/{lead_id}/return"' in page

    async def test_the_return_form_goes_once_the_window_has_passed(self, platform: Platform) -> None:
        hours = platform.settings.routing.return_window_hours
        async with signed_in(platform, ANA) as browser:
            lead_id, _ = await accepted(platform, browser)
            async with platform.api.state.resources.unit_of_work() as session:
                accepted_at = utcnow() - timedelta(hours=hours, minutes=1)
                await session.execute(
                    update(Assignment).where(Assignment.lead_id == lead_id).values(responded_at=accepted_at)
                )
            page = (await browser.get(f"/leads/{lead_id}")).text
        assert f'action="/leads/{lead_id}/return"' not in page
        assert f"Return by {_when(accepted_at + timedelta(hours=hours))} (passed)" in text(page)
        assert f'action="/leads/{lead_id}/outcome"' in page  # the lead is still the agent's to work


class TestRefusedValues:
    async def test_each_refused_value_of_the_agents_forms_is_shown_at_its_field(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            lead_id, page = await accepted(platform, browser)
            for form, sent, field, message in (
                ("outcome", {}, "status", "Input should be 'CONTACTED'"),
                ("outcome", {"status": "CONTACTED", "note": "x" * 1001}, "note", "at most 1000 characters"),
                ("return", {"reason": "bored"}, "reason", "Input should be 'wrong_number'"),
                ("return", {"reason": "other", "detail": "y" * 1001}, "detail", "at most 1000 characters"),
            ):
                action = f"/leads/{lead_id}/{form}"
                refused = await browser.post(action, data={"csrf_token": csrf_token(page, action), **sent})
                assert refused.status_code == 422, sent
                assert_shown_at(refused.text, f"{form}-{field}", message)
        assert (await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}"))["status"] == "ACCEPTED"

    async def test_a_refused_note_of_staff_reopening_a_lead_is_shown_at_its_field(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("212-555-0101", OUT_OF_AREA_ZIP)
        async with signed_in(platform, MANAGER) as browser:
            page = (await browser.get(f"/leads/{lead_id}")).text
            action = f"/leads/{lead_id}/reopen"
            refused = await browser.post(action, data={"csrf_token": csrf_token(page, action), "note": "z" * 1001})
        assert refused.status_code == 422
        assert_shown_at(refused.text, "reopen-note", "at most 1000 characters")
        assert 'value="' + "z" * 1001 + '"' in refused.text  # kept as typed, to shorten
        assert (await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}"))["status"] == "UNASSIGNED"


def assert_shown_at(page: str, field_id: str, message: str) -> None:
    """``message`` beside the input ``field_id``, which is marked invalid and described by it; no
    count of failed fields instead."""
    shown = re.search(rf'<p class="error-message" id="{field_id}-error">(.*?)</p>', page, re.S)
    assert shown is not None and message in html.unescape(shown.group(1)), (field_id, text(page))
    assert re.search(rf'id="{field_id}(-[A-Z]+)?"[^>]* aria-invalid="true"', page), field_id
    assert f'aria-describedby="{field_id}-error"' in page
    assert "failed validation" not in page


class TestWhatTheNotesSay:
    INSIGHT = {
        "intent": "buy_now",
        "urgency": "high",
        "provider": "local",
        "model": "local-rules-v1",
        "evidence": ["'sr-22' -> intent buy_now + urgency high"],
        "reason": "buy_now from 'sr-22'; urgency high from 'today'",
        "fallback_reason": None,
    }

    async def test_staff_read_why_and_the_offered_agent_only_what(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with platform.api.state.resources.unit_of_work() as session:
            await session.execute(update(Lead).where(Lead.id == lead_id).values(insights=self.INSIGHT))
        async with signed_in(platform, MANAGER) as browser:
            staff = text((await browser.get(f"/leads/{lead_id}")).text)
        async with signed_in(platform, ANA) as browser:
            offered = text((await browser.get(f"/leads/{lead_id}")).text)
        assert "From the notes Intent Buy now Urgency High buy_now from 'sr-22'" in staff
        assert "Read by the local rules." in staff
        assert "From the notes Intent Buy now Urgency High read from the lead's notes" in offered
        assert "sr-22" not in offered

    async def test_a_lead_without_notes_has_no_such_section(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, MANAGER) as browser:
            assert "From the notes" not in (await browser.get(f"/leads/{lead_id}")).text

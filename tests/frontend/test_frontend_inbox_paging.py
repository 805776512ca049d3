"""The dashboard inbox: the leads an agent is working stay on it however many offers came since, and
the past offers are paged."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from leadgen.frontend.router import HISTORY_PAGE_SIZE
from leadgen.leads.lifecycle import AssignmentStatus, LeadStatus
from leadgen.models import Assignment, Lead, Source
from leadgen.models.base import utcnow
from tests.frontend.stack import ANA, TEXAS_ZIP, Platform, csrf_token, signed_in

# More timed-out offers than one page holds: the accepted lead, older than all, is on no page of them.
LATER_OFFERS = HISTORY_PAGE_SIZE + 3


async def _later_offers_timed_out(platform: Platform, count: int) -> None:
    """``count`` offers made to Ana after everything else, which she let time out."""
    now = utcnow()
    async with platform.api.state.resources.unit_of_work() as session:
        source = Source(name="busy-vendor", kind="api")
        session.add(source)
        await session.flush()
        for n in range(count):
            lead = Lead(
                source_id=source.id,
                line="home",
                origin="api",
                state="TX",
                zip_code=TEXAS_ZIP,
                status=LeadStatus.UNASSIGNED,
            )
            session.add(lead)
            await session.flush()
            made = now + timedelta(minutes=n + 1)
            session.add(
                Assignment(
                    lead_id=lead.id,
                    agent_id=platform.people.ana_agent_id,
                    attempt=1,
                    strategy="round_robin",
                    status=AssignmentStatus.TIMED_OUT,
                    expires_at=made + timedelta(minutes=15),
                    created_at=made,
                )
            )


def _offers_on(page: str) -> list[str]:
    return re.findall(r'<li class="card" id="offer-([0-9a-f-]+)"', page)


async def test_an_accepted_lead_stays_in_the_inbox_and_past_offers_are_paged(platform: Platform) -> None:
    kept = await platform.routed_lead("214-555-0100")
    async with signed_in(platform, ANA) as browser:
        page = (await browser.get("/inbox")).text
        [offer] = _offers_on(page)
        action = f"/inbox/{offer}/accept"
        assert (await browser.post(action, data={"csrf_token": csrf_token(page, action)})).status_code == 303
        await _later_offers_timed_out(platform, LATER_OFFERS)

        first = (await browser.get("/inbox")).text
        assert 'href="tel:+12145550100"' in first
        working, history = first.split("Recent history")
        assert f'href="/leads/{kept}"' in working and 'href="tel:+12145550100"' in working
        assert len(_offers_on(history)) == HISTORY_PAGE_SIZE and str(kept) not in history
        older = re.search(r'href="/inbox\?before=([0-9a-f-]+)"', first)
        assert older is not None and older.group(1) == _offers_on(history)[-1]

        second = (await browser.get(f"/inbox?before={older.group(1)}")).text
    assert "Older offers</h1>" in second and 'href="/inbox"' in second
    assert len(_offers_on(second)) == LATER_OFFERS - HISTORY_PAGE_SIZE
    assert not set(_offers_on(second)) & set(_offers_on(history))
    assert str(kept) not in second and "?before=" not in second


async def test_a_page_after_an_offer_not_the_agents_is_not_found(platform: Platform) -> None:
    async with signed_in(platform, ANA) as browser:
        answer = await browser.get(f"/inbox?before={uuid.uuid4()}")
    assert answer.status_code == 404

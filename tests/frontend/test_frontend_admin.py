"""What admins and managers see: the list of leads with a status filter, the funnel, the agents."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from leadgen.core.db import create_engine
from leadgen.core.settings import Settings
from leadgen.frontend.pages import _when
from leadgen.models import Lead
from tests.frontend.stack import ADMIN, ANA, MANAGER, Platform, add_agent, csrf_token, run_reopen, signed_in

OUT_OF_AREA_ZIP = "10001"  # New York: no agent is licensed there


class TestLeads:
    async def test_lists_every_lead_newest_first(self, platform: Platform) -> None:
        routed = await platform.routed_lead("214-555-0134")
        unassigned = await platform.routed_lead("212-555-0101", OUT_OF_AREA_ZIP)
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get("/leads")).text
        assert page.index(f'href="/leads/{unassigned}"') < page.index(f'href="/leads/{routed}"')
        assert "badge-routed" in page and "badge-unassigned" in page

    async def test_filters_by_status(self, platform: Platform) -> None:
        routed = await platform.routed_lead("214-555-0134")
        unassigned = await platform.routed_lead("212-555-0101", OUT_OF_AREA_ZIP)
        async with signed_in(platform, MANAGER) as browser:
            page = (await browser.get("/leads?status=UNASSIGNED")).text
            unknown = await browser.get("/leads?status=NONSENSE")
        assert f'href="/leads/{unassigned}"' in page and f'href="/leads/{routed}"' not in page
        assert '<option value="UNASSIGNED" selected>' in page
        assert unknown.status_code == 200 and f'href="/leads/{routed}"' in unknown.text

    async def test_staff_see_any_lead(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get(f"/leads/{lead_id}")).text
        assert "Ana Agent" in page
        assert ">Accept</button>" not in page  # only the offered agent may answer the offer

    async def test_an_empty_list_says_so(self, platform: Platform) -> None:
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get("/leads?status=CONVERTED")).text
        assert "No leads with status CONVERTED." in page


class TestFunnel:
    async def test_counts_leads_by_source_line_and_status(self, platform: Platform) -> None:
        await platform.routed_lead("214-555-0134")
        await platform.routed_lead("214-555-0135")
        await platform.routed_lead("212-555-0101", OUT_OF_AREA_ZIP)
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get("/funnel")).text
        row = page[page.index('<th scope="row">web-form</th>') :]
        row = row[: row.index("</tr>")]
        # columns: Routed, Unassigned, Total (statuses in lifecycle order)
        assert row.count('<td class="num">') == 3
        assert '<td class="num">2</td>' in row and '<td class="num">1</td>' in row and '<td class="num">3</td>' in row
        assert page.index(">Routed</th>") < page.index(">Unassigned</th>")

    async def test_no_leads_yet(self, platform: Platform) -> None:
        async with signed_in(platform, ADMIN) as browser:
            assert "No leads yet." in (await browser.get("/funnel")).text


class TestPerformance:
    async def test_shows_each_sources_leads_and_each_agents_own(self, platform: Platform) -> None:
        await platform.routed_lead("214-555-0134")
        await platform.routed_lead("212-555-0101", OUT_OF_AREA_ZIP)
        async with signed_in(platform, MANAGER) as browser:
            by_source = _row((await browser.get("/performance")).text, "web-form")
            by_agent = _row((await browser.get("/performance?by=agent")).text, "Ana Agent")
            fallback = await browser.get("/performance?by=county")
        # leads, screened out, unassigned, opted out, accepted, contacted, converted, returned, SLA
        # breaches, conversion, minutes to first contact, spend, cost per lead, cost per conversion
        assert by_source == "web-form 2 0 1 0 0 0 0 0 0 n/a n/a $0.00 $0.00 n/a"
        assert by_agent == "Ana Agent 1 0 0 0 0 0 n/a n/a $0.00 n/a n/a"
        assert fallback.status_code == 303 and fallback.headers["location"] == "/performance?by=source"

    async def test_each_agents_row_leads_to_the_agent_and_namesakes_are_told_apart(self, platform: Platform) -> None:
        namesake = await add_agent(platform, await platform.token(ADMIN), "Ana Agent", "TX", "ana.two@agents.example")
        await platform.routed_lead("214-555-0134")
        await platform.routed_lead("214-555-0135")
        async with signed_in(platform, MANAGER) as browser:
            page = (await browser.get("/performance?by=agent")).text
        links = re.findall(
            r'<th scope="row"><a href="/agents/([0-9a-f-]+)">Ana Agent</a> <span class="hint">\(id (\w+)\)', page
        )
        assert len(links) == 2 and str(namesake) in [agent for agent, _ in links], page
        assert all(agent.startswith(short) for agent, short in links)

    async def test_the_leads_without_a_campaign_are_labelled_so(self, platform: Platform) -> None:
        await platform.routed_lead("214-555-0134")  # the quote form names no campaign
        async with signed_in(platform, MANAGER) as browser:
            page = (await browser.get("/performance?by=campaign")).text
        assert _row(page, "<em>No campaign</em>").startswith("No campaign 1 ")

    async def test_a_period_of_days_chosen_on_the_page(self, platform: Platform) -> None:
        await platform.routed_lead("214-555-0134")
        today = datetime.now(UTC).date()
        async with signed_in(platform, ADMIN) as browser:
            this_week = await browser.get(f"/performance?by=line&start={today - timedelta(days=6)}&end={today}")
            last_year = await browser.get("/performance?start=2025-01-01&end=2025-12-31")
            refused = {
                (query, fields): await browser.get(f"/performance?{query}")
                for query, fields in (
                    ("start=2024-01-01&end=2025-12-31", ("start",)),  # 731 days
                    (f"start={today}&end={today - timedelta(days=1)}", ("start",)),
                    (f"start={today + timedelta(days=2)}", ("start",)),
                    ("end=0001-01-05", ("end",)),
                    ("start=yesterday&end=9999-12-31", ("start", "end")),
                    ("end=20250101", ("end",)),
                )
            }
            unknown_grouping = await browser.get("/performance?by=county&start=2025-01-01")
        assert _row(this_week.text, "auto").startswith("auto 1 ")
        assert f'href="/performance?by=source&amp;start={today - timedelta(days=6)}&amp;end={today}"' in this_week.text
        assert last_year.status_code == 200 and "No leads in this period." in last_year.text
        assert "2025-01-01 00:00 UTC" in last_year.text and "until" in last_year.text
        assert "2026-01-01 00:00 UTC" in last_year.text  # the day after the last one included
        problems = [_problem(answer.text) for answer in refused.values()]
        assert problems == [
            "A report covers at most 366 days.",
            "The period must start before it ends.",
            "The period must start before it ends.",
            "A report covers leads received from 2000 to 9998.",
            "Dates are written YYYY-MM-DD, before the year 9999.",
            "Dates are written YYYY-MM-DD, before the year 9999.",
        ]
        for (_, fields), answer in refused.items():
            assert answer.status_code == 422
            assert re.findall(r'name="(start|end)"[^>]*aria-invalid="true"', answer.text) == list(fields)
            assert _row(answer.text, "web-form").startswith("web-form 1 ")  # the last 30 days instead
            assert 'href="/performance?by=line"' in answer.text  # the tabs leave the refused dates out
        assert unknown_grouping.headers["location"] == "/performance?by=source&start=2025-01-01"

    async def test_agents_do_not_see_it(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            assert (await browser.get("/performance")).status_code == 403


def _problem(page: str) -> str:
    """What the page says is wrong with the period asked for."""
    found = re.search(r'id="period-problem"[^>]*>(.*?)</p>', page, re.S)
    assert found is not None
    text = " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())
    return text.removeprefix("Error: ").removesuffix(" Showing the last 30 days instead.")


def _row(page: str, key: str) -> str:
    """The words of the table row whose heading cell is ``key`` (or a link reading ``key``)."""
    heading = re.search(rf'<th scope="row">(<a href="[^"]*">)?{re.escape(key)}(</a>)?</th>', page)
    assert heading, f"no row {key}"
    row = page[heading.start() :]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row[: row.index("</tr>")])).split())


class TestPerformanceInTheAgencysTimeZone:
    @pytest.fixture
    def settings(self, data_dir: Path) -> Settings:
        return Settings(
            common={"data_dir": data_dir, "environment": "development", "timezone": "America/Chicago"},
            db={"url": None},
            redis={"url": None, "sentinels": ""},
        )

    async def test_a_day_runs_from_midnight_to_midnight_there(self, platform: Platform) -> None:
        lead = await platform.routed_lead("214-555-0134")
        # 03:00 UTC on 10 March 2026 is 22:00 on the 9th in Chicago (daylight time since the 8th).
        engine = create_engine(platform.settings, "test")
        async with engine.begin() as conn:
            await conn.execute(
                update(Lead).where(Lead.id == lead).values(received_at=datetime(2026, 3, 10, 3, tzinfo=UTC))
            )
        await engine.dispose()
        async with signed_in(platform, ADMIN) as browser:
            ninth = await browser.get("/performance?start=2026-03-09&end=2026-03-09")
            tenth = await browser.get("/performance?start=2026-03-10&end=2026-03-10")
        assert _row(ninth.text, "web-form").startswith("web-form 1 ")
        assert "No leads in this period." in tenth.text
        assert "From (America/Chicago)" in ninth.text

    async def test_the_period_is_shown_in_the_agencys_time_zone_and_named(self, platform: Platform) -> None:
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get("/performance?start=2026-03-01&end=2026-03-08")).text
        # The clocks went forward on the 8th: the day after it starts at 05:00 UTC, not 06:00.
        assert '<time datetime="2026-03-01T00:00:00-06:00">2026-03-01 00:00 America/Chicago</time>' in page
        assert '<time datetime="2026-03-09T00:00:00-05:00">2026-03-09 00:00 America/Chicago</time>' in page


def test_a_time_labelled_utc_is_shown_in_utc_whatever_its_zone() -> None:
    assert _when(datetime(2026, 3, 1, tzinfo=ZoneInfo("America/Chicago"))) == "2026-03-01 06:00 UTC"


class TestAgents:
    async def test_lists_agents_and_licences(self, platform: Platform) -> None:
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get("/agents")).text
        assert "Ana Agent" in page and "auto in TX" in page
        assert "Ben Agent" in page and "auto in CA" in page


class TestSearch:
    async def test_finds_the_leads_whose_notes_hold_the_words(self, platform: Platform) -> None:
        boat = await platform.vendor_lead("512-555-0142", "also asking about a bass boat for the lake")
        other = await platform.vendor_lead("512-555-0143", "renewal went up, shopping around")
        without_notes = await platform.routed_lead("512-555-0144")
        async with signed_in(platform, ADMIN) as browser:
            empty = (await browser.get("/search")).text
            page = (await browser.get("/search", params={"q": "boat", "line": "auto"})).text
            elsewhere = (await browser.get("/search", params={"q": "boat", "line": "life"})).text
        assert "Search leads" in empty and "Leads whose notes are most about the words first" not in empty
        assert f"/leads/{boat}" in page and "Leads whose notes are most about the words first" in page
        assert f"/leads/{other}" not in page and f"/leads/{without_notes}" not in page
        assert f"/leads/{boat}" not in elsewhere and "No lead's notes hold these words." in elsewhere

    async def test_agents_cannot_search(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            response = await browser.get("/search", params={"q": "quote"})
        assert response.status_code in (303, 403)


class TestReopen:
    async def test_staff_offer_an_unassigned_lead_again_once_an_agent_can_take_it(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("212-555-0101", OUT_OF_AREA_ZIP)
        routed = await platform.routed_lead("214-555-0134")
        action = f"/leads/{lead_id}/reopen"
        async with signed_in(platform, MANAGER) as browser:
            assert f'action="/leads/{routed}/reopen"' not in (await browser.get(f"/leads/{routed}")).text
            page = (await browser.get(f"/leads/{lead_id}")).text
            form = {"csrf_token": csrf_token(page, action), "note": "licensed Nia in New York"}
            answer = await browser.post(action, data=form)
            assert answer.status_code == 303 and answer.headers["location"] == f"/leads/{lead_id}?notice=reopened"
            page = (await browser.get(answer.headers["location"])).text
            assert "Lead reopened." in page and "badge-scored" in page and f'action="{action}"' not in page
            assert "lead.reopened" in page and "licensed Nia in New York" in page
            again = await browser.post(action, data=form)
        assert again.status_code == 409
        assert "only an UNASSIGNED lead can be reopened; this one is SCORED" in html.unescape(again.text)

        await add_agent(platform, await platform.token(ADMIN), "Nia Agent", "NY")
        await run_reopen(platform.settings, lead_id)
        lead = await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}")
        assert lead["status"] == "ROUTED" and lead["assignment"]["agent_name"] == "Nia Agent"

    async def test_agents_cannot_reopen(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("212-555-0101", OUT_OF_AREA_ZIP)
        async with signed_in(platform, ANA) as browser:
            inbox = (await browser.get("/inbox")).text
            answer = await browser.post(f"/leads/{lead_id}/reopen", data={"csrf_token": csrf_token(inbox)})
        assert answer.status_code == 403
        assert (await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}"))["status"] == "UNASSIGNED"

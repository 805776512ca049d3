"""The dashboard's audit log: admins read the data-service's log a page at a time, filtered; the
data-service judges the filters, and nobody else sees the page."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadgen.frontend.staff_admin import AUDIT_PAGE_SIZE
from leadgen.models import AuditEntry
from tests.frontend.stack import ADMIN, ANA, MANAGER, Platform, signed_in

# The entries the tests write, before any the platform writes itself (those are of today).
FIRST = datetime(2020, 11, 20, 9, 0, tzinfo=UTC)
ACTION = "source.updated"


async def _entries(platform: Platform, *entries: dict[str, Any]) -> None:
    """Audit entries written as the services write them, with the fields given."""
    async with platform.data_service.state.resources.unit_of_work() as session:
        for n, fields in enumerate(entries):
            defaults = {
                "actor": "user:a",
                "action": ACTION,
                "subject_type": "source",
                "subject_id": f"s-{n}",
                "data": {"n": n},
                "created_at": FIRST + timedelta(minutes=n),
            }
            session.add(AuditEntry(**(defaults | fields)))


def _rows(page: str) -> list[str]:
    """The ``n`` of each entry on the page, in its order."""
    return re.findall(r'<code class="audit-data">\{&#34;n&#34;: (\d+)\}</code>', page)


def _older(page: str) -> str | None:
    found = re.search(r'<a href="(/audit\?[^"]+)" rel="next">Older entries</a>', page)
    return html.unescape(found.group(1)) if found else None


async def test_an_admin_pages_through_the_log_with_the_filters_kept(platform: Platform) -> None:
    lead = uuid.uuid4()
    await _entries(
        platform,
        *({} for _ in range(AUDIT_PAGE_SIZE + 3)),
        {"action": "lead.viewed", "subject_type": "lead", "subject_id": str(lead)},
        # Before the day filtered on: on no page.
        {"created_at": FIRST - timedelta(days=1)},
    )
    async with signed_in(platform, ADMIN) as browser:
        first = await browser.get("/audit", params={"since": "2020-11-20", "action": ACTION})
        assert first.status_code == 200, first.text
        assert 'href="/audit" aria-current="page"' in first.text
        assert 'value="2020-11-20"' in first.text and f'value="{ACTION}"' in first.text
        assert _rows(first.text) == [str(n) for n in range(AUDIT_PAGE_SIZE + 2, 2, -1)]
        older = _older(first.text)
        assert older is not None
        assert "since=2020-11-20" in older and f"action={ACTION}" in older and "before=" in older

        second = await browser.get(older)
        assert second.status_code == 200, second.text
        assert "Older audit entries</h1>" in second.text and f'value="{ACTION}"' in second.text
        assert _rows(second.text) == ["2", "1", "0"]
        assert _older(second.text) is None
        assert 'href="/audit?since=2020-11-20&amp;action=source.updated">Newest entries</a>' in second.text

        unfiltered = (await browser.get("/audit", params={"until": "2020-11-21"})).text
    assert f'<a href="/leads/{lead}">{lead}</a>' in unfiltered and "<code>lead.viewed</code>" in unfiltered


async def test_filters_nothing_passes_say_so(platform: Platform) -> None:
    async with signed_in(platform, ADMIN) as browser:
        page = await browser.get("/audit", params={"actor": "nobody"})
    assert page.status_code == 200 and "No entries match these filters." in page.text


@pytest.mark.parametrize("email", [ANA, MANAGER])
async def test_only_admins_see_the_log(platform: Platform, email: str) -> None:
    async with signed_in(platform, email) as browser:
        home = (await browser.get("/")).headers["location"]
        assert 'href="/audit"' not in (await browser.get(home)).text
        refused = await browser.get("/audit")
    assert refused.status_code == 403 and "This page is for admins." in refused.text


async def test_a_value_the_data_service_refuses_shows_its_reason_at_the_field(platform: Platform) -> None:
    token = await platform.token(ADMIN)
    async with platform.peer(platform.data_service) as data:
        said = await data.get("/api/v1/audit?since=yesterday", headers={"authorization": f"Bearer {token}"})
    [error] = said.json()["errors"]
    async with signed_in(platform, ADMIN) as browser:
        page = await browser.get("/audit", params={"since": "yesterday", "actor": "user:a"})
        missing = await browser.get("/audit", params={"before": str(uuid.uuid4()), "actor": "user:a"})
    assert page.status_code == 422
    assert f"</span> {html.escape(error['reason'])}</p>" in page.text
    assert 'value="yesterday" aria-invalid="true" aria-describedby="audit-since-error"' in page.text
    assert 'value="user:a"' in page.text and "<table>" not in page.text
    assert missing.status_code == 422 and "Older entries: names no audit entry" in missing.text


async def test_an_entrys_data_is_shown_as_text(platform: Platform) -> None:
    await _entries(platform, {"actor": "<b>user</b>", "data": {"note": "<script>alert(1)</script>"}})
    async with signed_in(platform, ADMIN) as browser:
        page = (await browser.get("/audit", params={"action": ACTION})).text
    assert "<script>alert(1)</script>" not in page and "<b>user</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;user&lt;/b&gt;" in page

"""Opting out in the dashboard: the unsubscribe link of an e-mail, and the agent who hears "stop"."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest

from leadgen.compliance.links import opt_out_token
from leadgen.frontend.session import SESSION_COOKIE
from tests.frontend.stack import ADMIN, ANA, AnsweringOn, Platform, another_frontend, csrf_token, sign_in, signed_in


def _link(platform: Platform, lead_id: uuid.UUID) -> str:
    return f"/unsubscribe/{opt_out_token(platform.settings.security.pii_hash_key.get_secret_value(), lead_id)}"


async def _do_not_contact(platform: Platform, lead_id: uuid.UUID) -> bool:
    return bool((await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}"))["do_not_contact"])


async def _confirmed_while_the_api_answers(platform: Platform, link: str, status: int) -> httpx.Response:
    """The person confirms the link while the api answers its opt-out call with ``status``."""
    token = link.rsplit("/", 1)[1]
    api = AnsweringOn(f"/api/v1/opt-outs/email/{token}", status, httpx.ASGITransport(app=platform.api))
    async with another_frontend(platform, api=api) as frontend:
        transport = httpx.ASGITransport(app=frontend)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
            return await browser.post(link)


class TestUnsubscribeLink:
    async def test_opening_the_link_asks_and_changes_nothing(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        link = _link(platform, lead_id)
        async with platform.browser() as browser:
            page = await browser.get(link)
        assert page.status_code == 200
        assert f'<form method="post" action="{link}">' in page.text
        assert "Stop contacting me</button>" in page.text
        assert not await _do_not_contact(platform, lead_id)

    async def test_confirming_stops_all_contact(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with platform.browser() as browser:
            done = await browser.post(_link(platform, lead_id))
        assert done.status_code == 200
        assert "You will not be contacted again" in done.text
        assert await _do_not_contact(platform, lead_id)

    async def test_a_mail_clients_one_click_post_needs_no_form_token(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with platform.browser() as mail_client:
            done = await mail_client.post(_link(platform, lead_id), data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert await _do_not_contact(platform, lead_id)

    async def test_a_link_we_did_not_make_says_so(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        forged = f"/unsubscribe/{opt_out_token('someone-elses-key-' * 2, lead_id)}"
        async with platform.browser() as browser:
            answer = await browser.post(forged)
        assert answer.status_code == 404
        assert "This link does not work" in answer.text and 'role="alert"' in answer.text
        assert not await _do_not_contact(platform, lead_id)

    @pytest.mark.parametrize("token", ["%2e%2e", "%2e", "not-a-token", "a.b.c"])
    async def test_an_address_that_is_no_link_of_ours_says_so_and_keeps_the_session(
        self, platform: Platform, token: str
    ) -> None:
        """Only a token's shape reaches the api: ``..`` once climbed to ``POST /api/v1/opt-outs``,
        whose 401 signed the browser out."""
        async with signed_in(platform, ADMIN) as browser:
            opened = await browser.get(f"/unsubscribe/{token}")
            confirmed = await browser.post(f"/unsubscribe/{token}")
            still = await browser.get("/leads")
        for answer in (opened, confirmed):
            assert answer.status_code == 404
            assert "This link does not work" in answer.text and 'action="/unsubscribe/' not in answer.text
        assert still.status_code == 200

    async def test_an_api_asking_for_a_sign_in_is_an_invalid_link_not_a_sign_out(self, platform: Platform) -> None:
        """The call carries no user's token, so its 401 says nothing of the browser's session."""
        link = _link(platform, uuid.uuid4())
        token = link.rsplit("/", 1)[1]
        api = AnsweringOn(f"/api/v1/opt-outs/email/{token}", 401, httpx.ASGITransport(app=platform.api))
        async with another_frontend(platform, api=api) as frontend:
            transport = httpx.ASGITransport(app=frontend)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
                assert (await sign_in(browser, ADMIN)).status_code == 303
                answer = await browser.post(link)
                assert answer.status_code == 404 and "This link does not work" in answer.text
                assert SESSION_COOKIE in browser.cookies
                assert (await browser.get("/leads")).status_code == 200

    async def test_a_link_whose_details_the_retention_purge_deleted_says_so(self, platform: Platform) -> None:
        """The api's 410 (tests/privacy/test_retention.py): nothing is held to list, and the page
        says so rather than "you will not be contacted again"."""
        answer = await _confirmed_while_the_api_answers(platform, _link(platform, uuid.uuid4()), 410)
        assert answer.status_code == 410
        assert "We no longer hold these details" in answer.text and "not be contacted again" not in answer.text

    async def test_a_failed_call_logs_the_route_not_the_token(
        self, platform: Platform, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The token opts the person out, and names their lead: it stays out of the logs."""
        caplog.set_level(logging.INFO)
        caplog.set_level(logging.WARNING, logger="httpx")  # as ``configure_logging`` sets it
        link = _link(platform, uuid.uuid4())
        token = link.rsplit("/", 1)[1]
        answer = await _confirmed_while_the_api_answers(platform, link, 503)
        assert answer.status_code == 503
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "POST /api/v1/opt-outs/email/{token} to api answered 503" in logged
        assert token not in logged and token.split(".")[0] not in logged


class TestAgentRecordsIt:
    async def test_the_agent_working_the_lead_records_it_and_sees_do_not_contact(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as browser:
            offered = (await browser.get(f"/leads/{lead_id}")).text
            assert f'action="/leads/{lead_id}/opt-out"' not in offered  # only once the lead is the agent's
            assert "Calling hours:" in offered
            inbox = (await browser.get("/inbox")).text
            start = inbox.index('action="/inbox/') + len('action="/inbox/')
            assignment = inbox[start : inbox.index("/", start)]
            accept = f"/inbox/{assignment}/accept"
            await browser.post(accept, data={"csrf_token": csrf_token(inbox, accept)})

            working = (await browser.get(f"/leads/{lead_id}")).text
            action = f"/leads/{lead_id}/opt-out"
            answer = await browser.post(action, data={"csrf_token": csrf_token(working, action)})
            assert answer.status_code == 303
            assert answer.headers["location"] == f"/leads/{lead_id}?notice=opted-out"
            after = (await browser.get(answer.headers["location"])).text
            inbox_after = (await browser.get("/inbox")).text
        assert "Recorded: nobody will contact this person again." in after
        assert "Do not contact." in after and "Calling hours:" not in after
        assert f'action="{action}"' not in after
        assert "lead.opted_out" in after
        assert "Do not contact." in inbox_after and 'href="tel:' not in inbox_after
        assert await _do_not_contact(platform, lead_id)

    async def test_without_the_form_token_nothing_is_recorded(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ADMIN) as browser:
            answer = await browser.post(f"/leads/{lead_id}/opt-out")
        assert answer.status_code == 403
        assert not await _do_not_contact(platform, lead_id)

    async def test_staff_record_it_on_any_lead(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        action = f"/leads/{lead_id}/opt-out"
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get(f"/leads/{lead_id}")).text
            answer = await browser.post(action, data={"csrf_token": csrf_token(page, action)})
        assert answer.status_code == 303
        assert await _do_not_contact(platform, lead_id)


class TestStaffPage:
    async def test_staff_list_a_person_by_phone_number(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get("/do-not-contact")).text
            assert 'href="/do-not-contact" aria-current="page"' in page
            form = {"csrf_token": csrf_token(page, "/do-not-contact"), "phone": "(214) 555-0134", "email": ""}
            answer = await browser.post("/do-not-contact", data=form)
        assert answer.status_code == 200
        assert "Recorded. 1 lead of theirs is now barred from contact." in answer.text
        assert await _do_not_contact(platform, lead_id)
        lead = await platform.api_get(ADMIN, f"/api/v1/leads/{lead_id}")
        assert lead["status"] == "UNASSIGNED"

    async def test_field_errors_are_shown_at_their_fields_and_nothing_is_listed(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get("/do-not-contact")).text
            token = csrf_token(page, "/do-not-contact")
            empty = await browser.post("/do-not-contact", data={"csrf_token": token, "phone": "", "email": ""})
            bad = await browser.post("/do-not-contact", data={"csrf_token": token, "phone": "12", "email": ""})
        assert empty.status_code == 422
        assert 'id="dnc-phone" name="phone"' in empty.text and 'id="dnc-email-error"' in empty.text
        assert bad.status_code == 422
        assert 'aria-describedby="dnc-phone-error"' in bad.text and 'value="12"' in bad.text
        assert 'id="dnc-email-error"' not in bad.text
        assert not await _do_not_contact(platform, lead_id)

    async def test_agents_have_no_such_page(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            inbox = (await browser.get("/inbox")).text
            answer = await browser.get("/do-not-contact")
        assert 'href="/do-not-contact"' not in inbox
        assert answer.status_code == 403

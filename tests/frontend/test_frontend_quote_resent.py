"""A quote form sent again (a double click, Back and send, a retry after a dropped connection) is the
same request: one lead, one event, the same thank-you; a new page load is a new request."""

from __future__ import annotations

import asyncio
import re

import httpx
from sqlalchemy import func, select

from leadgen.frontend.quote import RESENT_WITH_OTHER_ANSWERS, SEND_AGAIN, SUBMISSION_FIELD
from leadgen.models import Assignment, Lead, LeadEvent, OutboxEvent
from tests.frontend.stack import Platform, another_frontend, run_pipeline
from tests.frontend.test_frontend_quote import AUTO, _QuoteFormPage

THANKS = "/quote/thanks"


async def _page(browser: httpx.AsyncClient) -> dict[str, str]:
    """A fresh load of the quote form: the hidden inputs a browser posts back with the answers."""
    return _QuoteFormPage((await browser.get("/quote?line=auto")).text).hidden


async def _counts(platform: Platform) -> tuple[int, int, int]:
    """Leads, lead events and outbox events stored (an acknowledgement to the person starts from the
    outbox's ``lead.received``)."""
    async with platform.api.state.resources.unit_of_work() as session:
        counted = [
            int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Lead, LeadEvent, OutboxEvent)
        ]
    return counted[0], counted[1], counted[2]


async def _offers(platform: Platform) -> int:
    async with platform.api.state.resources.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(Assignment)) or 0)


async def _makes(platform: Platform) -> list[str]:
    async with platform.api.state.resources.unit_of_work() as session:
        return [lead.details["vehicles"][0]["make"] for lead in (await session.scalars(select(Lead))).all()]


def _thanked(answer: httpx.Response) -> None:
    assert (answer.status_code, answer.headers.get("location")) == (303, THANKS), answer.text


class TestSentAgain:
    async def test_the_same_page_sent_twice_stores_one_lead_and_thanks_both_times(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            hidden = await _page(browser)
            assert re.fullmatch(r"[A-Za-z0-9_-]{43}", hidden[SUBMISSION_FIELD])
            _thanked(await browser.post("/quote", data={**hidden, **AUTO}))
            _thanked(await browser.post("/quote", data={**hidden, **AUTO}))
        assert await _counts(platform) == (1, 1, 1)

    async def test_sent_again_after_the_lead_was_offered_offers_nothing_more(self, platform: Platform) -> None:
        """The agent is not offered the request again, nor the person acknowledged again."""
        async with platform.browser() as browser:
            hidden = await _page(browser)
            _thanked(await browser.post("/quote", data={**hidden, **AUTO}))
            async with platform.api.state.resources.unit_of_work() as session:
                lead = (await session.scalars(select(Lead))).one()
            await run_pipeline(platform.settings, lead.id)
            before = (await _counts(platform), await _offers(platform))
            _thanked(await browser.post("/quote", data={**hidden, **AUTO}))
        assert (await _counts(platform), await _offers(platform)) == before
        assert before[1] == 1  # offered once, to Ana (licensed in Texas)

    async def test_two_sent_at_once_store_one_lead(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            hidden = await _page(browser)
            answers = await asyncio.gather(*(browser.post("/quote", data={**hidden, **AUTO}) for _ in range(2)))
        for answer in answers:
            _thanked(answer)
        assert await _counts(platform) == (1, 1, 1)

    async def test_a_new_page_load_is_a_new_request(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            _thanked(await browser.post("/quote", data={**await _page(browser), **AUTO}))
            _thanked(await browser.post("/quote", data={**await _page(browser), **AUTO}))
        assert (await _counts(platform))[0] == 2

    async def test_other_answers_on_a_sent_page_are_refused_and_change_nothing(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            hidden = await _page(browser)
            _thanked(await browser.post("/quote", data={**hidden, **AUTO}))
            refused = await browser.post("/quote", data={**hidden, **AUTO, "details.vehicles.0.make": "Honda"})
            assert refused.status_code == 409
            assert RESENT_WITH_OTHER_ANSWERS in refused.text.replace("&#39;", "'")
            assert 'value="Honda"' in refused.text  # the answers are kept
            assert await _counts(platform) == (1, 1, 1) and await _makes(platform) == ["Toyota"]
            # The refusal's page is a new form: sending it is the person's choice of a new request.
            again = _QuoteFormPage(refused.text).hidden
            assert again[SUBMISSION_FIELD] != hidden[SUBMISSION_FIELD]
            _thanked(await browser.post("/quote", data={**again, **AUTO, "details.vehicles.0.make": "Honda"}))
        assert sorted(await _makes(platform)) == ["Honda", "Toyota"]

    async def test_a_retry_after_the_answer_was_lost_is_thanked_without_a_second_lead(self, platform: Platform) -> None:
        """The api stored the lead, but its answer never reached the frontend (a dropped
        connection): the form comes back saying to send it again, and that send is the same request."""
        async with another_frontend(platform, api=_AnswerLostOnce(httpx.ASGITransport(app=platform.api))) as frontend:
            transport = httpx.ASGITransport(app=frontend)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
                hidden = await _page(browser)
                lost = await browser.post("/quote", data={**hidden, **AUTO})
                assert lost.status_code == 503 and SEND_AGAIN.split(".")[0] in lost.text
                assert await _counts(platform) == (1, 1, 1)
                shown_again = _QuoteFormPage(lost.text).hidden
                assert shown_again[SUBMISSION_FIELD] == hidden[SUBMISSION_FIELD]
                _thanked(await browser.post("/quote", data={**shown_again, **AUTO}))
        assert await _counts(platform) == (1, 1, 1)


class TestForgedTokens:
    async def test_a_token_that_no_page_issued_is_refused_and_stores_nothing(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            hidden = await _page(browser)
            refused = await browser.post("/quote", data={**hidden, **AUTO, SUBMISSION_FIELD: "'; drop table leads"})
            assert refused.status_code == 400
            assert 'value="Toyota"' in refused.text
            assert await _counts(platform) == (0, 0, 0)
            # The page it shows carries a good token again.
            _thanked(await browser.post("/quote", data={**_QuoteFormPage(refused.text).hidden, **AUTO}))
        assert await _counts(platform) == (1, 1, 1)

    async def test_another_browsers_token_names_a_request_of_its_own(self, platform: Platform) -> None:
        """A script that copies a person's token (it cannot read their page, but say it could) sends
        a request of its own: it neither sees the person's thank-you nor blocks their request."""
        async with platform.browser() as person, platform.browser() as script:
            persons = await _page(person)
            scripts = {**await _page(script), SUBMISSION_FIELD: persons[SUBMISSION_FIELD]}
            _thanked(await script.post("/quote", data={**scripts, **AUTO, "details.vehicles.0.make": "Kia"}))
            _thanked(await person.post("/quote", data={**persons, **AUTO}))
        assert sorted(await _makes(platform)) == ["Kia", "Toyota"]

    async def test_a_page_of_the_previous_release_without_a_token_is_still_taken(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            hidden = {k: v for k, v in (await _page(browser)).items() if k != SUBMISSION_FIELD}
            _thanked(await browser.post("/quote", data={**hidden, **AUTO}))
        assert await _counts(platform) == (1, 1, 1)


class _AnswerLostOnce(httpx.AsyncBaseTransport):
    """The api's transport, except that the first quote request's answer is lost after the api
    handled it: a stand-in for a connection that dropped on its way back."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport
        self._lost = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        if request.url.path == "/api/v1/quote-requests" and not self._lost:
            self._lost = True
            await response.aread()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

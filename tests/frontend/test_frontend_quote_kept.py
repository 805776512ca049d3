"""The quote form keeps what the person typed: when the request could not be sent (the form's token
refused, the api failing or out of reach), when they choose another line, and when they leave out
both ways to reach them."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from leadgen.frontend.csrf import ANON_COOKIE
from leadgen.frontend.quote import FORM_EXPIRED, NOT_SENT, SEND_AGAIN, TRAP_FIELD
from tests.frontend.stack import Platform, another_frontend
from tests.frontend.test_frontend_quote import AUTO, _QuoteFormPage, _stored, _submit

QUOTE_REQUESTS = "/api/v1/quote-requests"
CONSENT_TICKED = re.compile(r'<input type="checkbox" id="consent"[^>]* checked')


class _FailsFirst(httpx.AsyncBaseTransport):
    """The api's transport, except that its first quote request ends as ``failure`` says: with the
    answer it returns, or the error it raises."""

    def __init__(self, platform: Platform, failure: Callable[[httpx.Request], httpx.Response]) -> None:
        self._api = httpx.ASGITransport(app=platform.api)
        self._failure: Callable[[httpx.Request], httpx.Response] | None = failure

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == QUOTE_REQUESTS and self._failure is not None:
            failure, self._failure = self._failure, None
            return failure(request)
        return await self._api.handle_async_request(request)


def _problem(status: int) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        problem = {"type": "about:blank", "title": "Refused", "status": status, "detail": "refused"}
        return httpx.Response(status, json=problem, headers={"content-type": "application/problem+json"})

    return answer


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _timed_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def _kept(answer: httpx.Response, status: int, message: str) -> _QuoteFormPage:
    """The quote form again, with the answers, the reason it was not sent, and a token to send it."""
    assert answer.status_code == status, answer.text
    page = answer.text
    form = _QuoteFormPage(page)
    assert form.hidden["line"] == "auto" and form.hidden["csrf_token"]
    assert NOT_SENT in page and message in page
    for typed in ("Reyes", "dana@example.com", "75201", "Toyota", "Camry", "2019"):
        assert f'value="{typed}"' in page, typed
    return form


class TestTheFormsTokenRefused:
    async def test_a_page_whose_cookie_expired_comes_back_with_the_answers_and_goes_through_again(
        self, platform: Platform
    ) -> None:
        async with platform.browser() as browser:
            page = await browser.get("/quote?line=auto")
            # Past its two hours, or dropped by the browser: the post carries no anonymous cookie.
            browser.cookies.delete(ANON_COOKIE)
            answer = await browser.post("/quote", data={**_QuoteFormPage(page.text).hidden, **AUTO})
            form = _kept(answer, 403, FORM_EXPIRED)
            assert await _stored(platform) == []
            # Not proven to come from the person's page: they tick the consent box again themselves.
            assert not CONSENT_TICKED.search(answer.text)
            again = await browser.post("/quote", data={**form.hidden, **AUTO})
        assert again.status_code == 303, again.text
        assert len(await _stored(platform)) == 1

    async def test_a_forged_token_sends_nothing(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            page = await browser.get("/quote?line=auto")
            hidden = _QuoteFormPage(page.text).hidden
            forged = {**hidden, "csrf_token": hidden["csrf_token"][:-3] + "xyz"}
            answer = await browser.post("/quote", data={**forged, **AUTO})
        _kept(answer, 403, FORM_EXPIRED)
        assert await _stored(platform) == []

    async def test_the_trap_input_is_not_shown_back(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await browser.post("/quote", data={"line": "auto", **AUTO, TRAP_FIELD: "http://spam.example"})
        _kept(answer, 403, FORM_EXPIRED)
        assert "spam.example" not in answer.text
        assert await _stored(platform) == []


class TestTheApiFailing:
    @pytest.mark.parametrize(
        ("failure", "status"),
        [(_problem(503), 503), (_problem(500), 503), (_unreachable, 503), (_timed_out, 503), (_problem(409), 409)],
        ids=["503", "500", "unreachable", "timed-out", "409"],
    )
    async def test_the_form_comes_back_with_the_answers_and_goes_through_again(
        self, platform: Platform, failure: Callable[[httpx.Request], httpx.Response], status: int
    ) -> None:
        async with another_frontend(platform, api=_FailsFirst(platform, failure)) as frontend:
            transport = httpx.ASGITransport(app=frontend)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
                answer = await _submit(browser, "auto", AUTO)
                form = _kept(answer, status, SEND_AGAIN)
                assert CONSENT_TICKED.search(answer.text)  # the person's own post: kept as they sent it
                assert await _stored(platform) == []
                again = await browser.post("/quote", data={**form.hidden, **AUTO})
        assert again.status_code == 303, again.text
        assert len(await _stored(platform)) == 1

    async def test_a_frontend_the_api_does_not_believe_keeps_the_answers(self, platform: Platform) -> None:
        """Its session secret is not the api's (one changed and the other not yet): the api refuses
        its signed address, so its quote request (403)."""
        other = copy.copy(platform.settings)
        other.security = platform.settings.security.model_copy(
            update={"session_secret": SecretStr("a-session-secret-the-api-does-not-share")}
        )
        async with another_frontend(platform, other) as frontend:
            transport = httpx.ASGITransport(app=frontend)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
                answer = await _submit(browser, "auto", AUTO)
        _kept(answer, 403, SEND_AGAIN)
        assert CONSENT_TICKED.search(answer.text)
        assert await _stored(platform) == []

    async def test_nothing_a_person_typed_reaches_the_logs(
        self, platform: Platform, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO)
        async with another_frontend(platform, api=_FailsFirst(platform, _problem(409))) as frontend:
            transport = httpx.ASGITransport(app=frontend)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
                assert (await _submit(browser, "auto", AUTO)).status_code == 409
                browser.cookies.delete(ANON_COOKIE)
                assert (await browser.post("/quote", data={"line": "auto", **AUTO})).status_code == 403
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "refused a quote form" in logged
        for typed in ("Dana", "Reyes", "dana@example.com", "555-0134", "75201", "Toyota"):
            assert typed not in logged


class TestChoosingALine:
    async def test_nothing_sends_the_form_when_a_line_is_chosen(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            page = (await browser.get("/quote?line=auto")).text
        assert "data-autosubmit" not in page
        assert 'method="get"' not in page
        form = page[page.index('<form class="quote-form" method="post" action="/quote"') :]
        # The picker is in the quote form, so its button posts the answers given so far.
        assert form.index('name="line_choice"') < form.index('name="show_questions"') < form.index("</form>")
        # Enter in an input sends the request, as the form's first submit button does: the copy of
        # "Get my quotes" that nobody sees or reaches, not the picker's button.
        first_button = re.search(r"<button[^>]*>[^<]*</button>", form)
        assert first_button is not None
        assert first_button.group(0) == (
            '<button type="submit" class="visually-hidden" tabindex="-1" aria-hidden="true">Get my quotes</button>'
        )

    async def test_the_shared_answers_come_along_to_the_new_lines_questions(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            page = await browser.get("/quote?line=auto")
            posted = {**_QuoteFormPage(page.text).hidden, **AUTO, "line_choice": "home", "show_questions": "yes"}
            answer = await browser.post("/quote", data=posted)
        assert answer.status_code == 200, answer.text
        shown = answer.text
        assert _QuoteFormPage(shown).hidden["line"] == "home"
        assert '<option value="home" selected>' in shown and 'name="details.year_built"' in shown
        for typed in ("Dana", "Reyes", "(214) 555-0134", "dana@example.com", "75201"):
            assert f'value="{typed}"' in shown, typed
        assert "Toyota" not in shown  # the car's answers belong to the car's questions
        assert not CONSENT_TICKED.search(shown)  # ticked on the form the person sends, not before
        assert 'class="error-summary"' not in shown
        assert await _stored(platform) == []

    async def test_a_page_whose_cookie_expired_still_changes_line(self, platform: Platform) -> None:
        """Nothing is sent, so no token is needed; the page comes with a fresh one."""
        async with platform.browser() as browser:
            posted = {"line": "auto", "contact.last_name": "Reyes", "line_choice": "life", "show_questions": "yes"}
            answer = await browser.post("/quote", data=posted)
            assert ANON_COOKIE in browser.cookies
        assert answer.status_code == 200
        assert 'name="details.face_amount"' in answer.text and 'value="Reyes"' in answer.text


class TestPhoneOrEmail:
    async def test_the_group_says_one_is_needed_and_neither_is_called_optional(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            page = (await browser.get("/quote?line=auto")).text
        assert "<legend>How we can reach you: a phone number, an e-mail address, or both</legend>" in page
        for field_id, label in (("f-contact-phone", "Phone number"), ("f-contact-email", "E-mail address")):
            assert f'<label for="{field_id}">{label}</label>' in page

    async def test_without_both_each_says_so(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await _submit(browser, "auto", {**AUTO, "contact.phone": "", "contact.email": ""})
        assert answer.status_code == 422
        page = answer.text
        for field_id in ("f-contact-phone", "f-contact-email"):
            error = page.index(f'id="{field_id}-error"')
            assert "Give a phone number, an e-mail address, or both." in page[error : error + 300]
            tag = page[page.index(f'<input id="{field_id}"') :]
            assert 'aria-invalid="true"' in tag[: tag.index(">")]
        assert await _stored(platform) == []

    async def test_an_email_alone_is_enough(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await _submit(browser, "auto", {**AUTO, "contact.phone": ""})
        assert answer.status_code == 303, answer.text

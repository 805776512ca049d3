"""The Account page: a signed-in user changes their own password; the browser stays signed in,
every other session ends, and each mistake is shown at its field."""

from __future__ import annotations

import httpx

from leadgen.frontend.session import DEVICE_COOKIE, SESSION_COOKIE
from tests.frontend.stack import ANA, MANAGER, PASSWORD, Platform, another_frontend, csrf_token, sign_in, signed_in

NEW_PASSWORD = "a brand new pass phrase"
ACTION = "/account/password"


async def submit(
    browser: httpx.AsyncClient, current: str = PASSWORD, new: str = NEW_PASSWORD, again: str | None = None
) -> httpx.Response:
    page = await browser.get("/account")
    assert page.status_code == 200, page.text
    form = {
        "csrf_token": csrf_token(page.text, ACTION),
        "current_password": current,
        "new_password": new,
        "confirm_password": new if again is None else again,
    }
    return await browser.post(ACTION, data=form)


class TestChangePassword:
    async def test_the_form_changes_the_password_and_keeps_this_browser_signed_in(self, platform: Platform) -> None:
        async with signed_in(platform, MANAGER) as browser, signed_in(platform, MANAGER) as other_browser:
            old_session, old_device = browser.cookies[SESSION_COOKIE], browser.cookies[DEVICE_COOKIE]
            answer = await submit(browser)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/account?notice=password-changed"
            page = await browser.get(answer.headers["location"])
            assert page.status_code == 200
            assert "Password changed. You are signed out everywhere else" in page.text
            assert browser.cookies[SESSION_COOKIE] != old_session
            assert browser.cookies[DEVICE_COOKIE] != old_device  # the old one went with the old password
            assert (await browser.get("/leads")).status_code == 200
            elsewhere = await other_browser.get("/leads")
            assert elsewhere.status_code == 303
            assert elsewhere.headers["location"].startswith("/login?notice=expired")
        async with platform.browser() as browser:
            assert (await sign_in(browser, MANAGER)).status_code == 401
            assert (await sign_in(browser, MANAGER, NEW_PASSWORD)).status_code == 303

    async def test_every_user_has_the_page_in_the_navigation(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            inbox = await browser.get("/inbox")
            assert 'href="/account"' in inbox.text
            page = await browser.get("/account")
            assert 'href="/account" aria-current="page"' in page.text
            assert 'autocomplete="current-password"' in page.text and 'autocomplete="new-password"' in page.text
        async with platform.browser() as stranger:
            answer = await stranger.get("/account")
            assert answer.status_code == 303
            assert answer.headers["location"] == "/login?next=%2Faccount"


class TestMistakes:
    async def test_a_wrong_current_password_is_shown_at_its_field(self, platform: Platform) -> None:
        async with signed_in(platform, MANAGER) as browser:
            answer = await submit(browser, current="not the password at all")
            assert answer.status_code == 403
            assert 'id="account-current_password-error"' in answer.text
            assert "This is not your current password." in answer.text
            assert 'aria-invalid="true" aria-describedby="account-current_password-error"' in answer.text
            assert "not the password at all" not in answer.text and NEW_PASSWORD not in answer.text
            assert (await browser.get("/leads")).status_code == 200  # still signed in, nothing changed

    async def test_a_short_or_unchanged_new_password_is_shown_at_its_field(self, platform: Platform) -> None:
        async with signed_in(platform, MANAGER) as browser:
            for new, message in (
                ("short", "Passwords must be at least 12 characters."),
                (PASSWORD, "The new password must differ from the current one."),
            ):
                answer = await submit(browser, new=new)
                assert answer.status_code == 422
                assert 'id="account-new_password-error"' in answer.text
                assert message in answer.text
                assert 'aria-describedby="account-new_password-hint account-new_password-error"' in answer.text

    async def test_empty_fields_and_a_mistyped_confirmation_never_reach_the_api(self, platform: Platform) -> None:
        async with signed_in(platform, MANAGER) as browser:
            empty = await submit(browser, current="", new="")
            assert empty.status_code == 422
            assert "Enter your current password." in empty.text and "Enter a new password." in empty.text
            mistyped = await submit(browser, again="a brand new pass phrasE")
            assert mistyped.status_code == 422
            assert 'id="account-confirm_password-error"' in mistyped.text
            assert "The two new passwords differ." in mistyped.text
        async with platform.browser() as browser:
            assert (await sign_in(browser, MANAGER)).status_code == 303  # the password is as it was

    async def test_a_form_without_its_token_is_refused(self, platform: Platform) -> None:
        async with signed_in(platform, MANAGER) as browser:
            form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
            answer = await browser.post(ACTION, data=form)
            assert answer.status_code == 403
            assert "Form refused" in answer.text
        async with platform.browser() as browser:
            assert (await sign_in(browser, MANAGER)).status_code == 303

    async def test_wrong_current_passwords_pause_password_changes(self, platform: Platform) -> None:
        async with signed_in(platform, MANAGER) as browser:
            codes = [(await submit(browser, current=f"guess number {n}")).status_code for n in range(5)]
            assert codes == [403] * 5
            paused = await submit(browser)
            assert paused.status_code == 429
            assert "Password changes are paused" in paused.text
            assert "Too many failed sign-ins to this account; try again in " in paused.text


class CheckedBeforeTheChange(httpx.AsyncBaseTransport):
    """The api, except that a second password change answers as the api does to a request whose
    token it checked before the first change was committed: the current password is no longer it."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport
        self._changes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/me/password":
            self._changes += 1
            if self._changes > 1:
                reason = "this is not your current password"
                problem = {
                    "title": "Forbidden",
                    "status": 403,
                    "detail": f"the password was not changed: {reason}",
                    "errors": [{"field": "current_password", "reason": reason}],
                }
                return httpx.Response(403, json=problem, headers={"content-type": "application/problem+json"})
        return await self._transport.handle_async_request(request)


async def pressed_twice(browser: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
    """The button pressed twice: the second request left with the cookie the page was loaded with,
    before the first answer arrived; the browser keeps the first answer's cookie unless the second
    answer sets or clears it."""
    page = await browser.get("/account")
    form = {
        "csrf_token": csrf_token(page.text, ACTION),
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    }
    loaded_with = f"{SESSION_COOKIE}={browser.cookies[SESSION_COOKIE]}"
    first = await browser.post(ACTION, data=form)
    return first, await browser.post(ACTION, data=form, headers={"cookie": loaded_with})


class TestPressedTwice:
    async def test_the_second_request_after_the_first_answer_keeps_the_browser_signed_in(
        self, platform: Platform
    ) -> None:
        """The first change ended the session the second request carries: the api refuses its token."""
        async with signed_in(platform, MANAGER) as browser:
            first, second = await pressed_twice(browser)
            assert (first.status_code, first.headers["location"]) == (303, "/account?notice=password-changed")
            assert (second.status_code, second.headers["location"]) == (303, "/account?notice=password-changed")
            assert (await browser.get("/leads")).status_code == 200
        async with platform.browser() as browser:
            assert (await sign_in(browser, MANAGER, NEW_PASSWORD)).status_code == 303

    async def test_the_second_request_checked_before_the_first_change_keeps_the_browser_signed_in(
        self, platform: Platform
    ) -> None:
        """The api took the second request's token before the first change was committed, then found
        its current password no longer the password: signing in with the new one shows it was changed."""
        api = CheckedBeforeTheChange(httpx.ASGITransport(app=platform.api))
        async with (
            another_frontend(platform, api=api) as frontend,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=frontend), base_url="http://testserver") as browser,
        ):
            assert (await sign_in(browser, MANAGER)).status_code == 303
            first, second = await pressed_twice(browser)
            assert first.status_code == 303
            assert (second.status_code, second.headers["location"]) == (303, "/account?notice=password-changed")
            assert (await browser.get("/leads")).status_code == 200

"""Every state-changing form is refused (403, with a page that says why) without a valid token."""

from __future__ import annotations

import httpx

from leadgen.frontend.csrf import ANON_COOKIE
from leadgen.frontend.quote import FORM_EXPIRED
from tests.frontend.stack import ADMIN, ANA, PASSWORD, Platform, csrf_token, signed_in


def _refused(answer: httpx.Response) -> None:
    assert answer.status_code == 403
    assert "Form refused" in answer.text
    assert "reload the page and try again" in answer.text


class TestSignedInForms:
    async def test_a_form_without_a_token_is_refused(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            _refused(await browser.post("/logout"))
            assert (await browser.get("/inbox")).status_code == 200  # still signed in

    async def test_a_token_from_another_session_is_refused(self, platform: Platform) -> None:
        lead_id = await platform.routed_lead("214-555-0134")
        async with signed_in(platform, ANA) as first, signed_in(platform, ANA) as second:
            page = (await first.get("/inbox")).text
            marker = 'action="/inbox/'
            start = page.index(marker) + len(marker)
            assignment = page[start : page.index("/", start)]
            foreign = csrf_token((await second.get("/inbox")).text, "/logout")
            _refused(await first.post(f"/inbox/{assignment}/accept", data={"csrf_token": foreign}))
        assert (await platform.api_get(ANA, f"/api/v1/leads/{lead_id}"))["status"] == "ROUTED"

    async def test_a_tampered_token_is_refused(self, platform: Platform) -> None:
        async with signed_in(platform, ANA) as browser:
            token = csrf_token((await browser.get("/inbox")).text, "/logout")
            _refused(await browser.post("/logout", data={"csrf_token": token[:-3] + "xyz"}))


class TestAnonymousForms:
    async def test_sign_in_without_the_anonymous_cookie_is_refused(self, platform: Platform) -> None:
        async with platform.browser() as attacker_page, platform.browser() as victim:
            token = csrf_token((await attacker_page.get("/login")).text, "/login")
            answer = await victim.post("/login", data={"csrf_token": token, "email": ANA, "password": PASSWORD})
        _refused(answer)
        assert "cookie is missing or expired" in answer.text

    async def test_a_quote_without_a_token_is_refused_and_shown_again_to_send(self, platform: Platform) -> None:
        """The quote form comes back with the answers and a fresh token (test_frontend_quote_kept)."""
        async with platform.browser() as browser:
            await browser.get("/quote")
            assert ANON_COOKIE in browser.cookies
            answer = await browser.post("/quote", data={"line": "auto", "contact.first_name": "Dana", "consent": "yes"})
        assert answer.status_code == 403
        assert FORM_EXPIRED in answer.text and 'value="Dana"' in answer.text
        assert csrf_token(answer.text, "/quote")
        assert await platform.api_get(ADMIN, "/api/v1/leads") == []

    async def test_the_anonymous_cookie_is_httponly_and_lax(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await browser.get("/quote")
        cookie = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(f"{ANON_COOKIE}=")).lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=7200" in cookie

"""Signing in and out, the session cookie, and role-aware navigation."""

from __future__ import annotations

import copy

import httpx
from fastapi import FastAPI

from leadgen.core.settings import Environment, Settings
from leadgen.frontend import csrf
from leadgen.frontend.session import DEVICE_COOKIE, SESSION_COOKIE, WebSession, signer
from tests.frontend.stack import ADMIN, MANAGER, PASSWORD, Platform, another_frontend, csrf_token, sign_in, signed_in
from tests.frontend.stack import ANA as AGENT


def _cookie_header(answer: httpx.Response, name: str) -> str:
    return next(v for v in answer.headers.get_list("set-cookie") if v.startswith(f"{name}="))


def _flags(answer: httpx.Response, name: str) -> set[str]:
    """The attributes of the cookie's Set-Cookie header, lower-cased, without their values."""
    return {part.split("=")[0].strip().lower() for part in _cookie_header(answer, name).split(";")[1:]}


def _in_production(settings: Settings) -> Settings:
    """The same settings (secrets included, so the platform's api takes the frontend's calls) in production."""
    production = copy.copy(settings)
    production.common = settings.common.model_copy(update={"environment": Environment.PRODUCTION})
    return production


class _BehindTls(httpx.AsyncBaseTransport):
    """A TLS-terminating proxy the app does not take forwarded headers from: the browser's HTTPS
    request reaches the app as plain HTTP."""

    def __init__(self, app: FastAPI) -> None:
        self._app = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http")
        return await self._app.handle_async_request(request)


class TestSignIn:
    async def test_an_agent_lands_in_the_inbox_with_an_httponly_lax_cookie(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await sign_in(browser, AGENT)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/inbox"
            cookie = _cookie_header(answer, SESSION_COOKIE).lower()
            assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
            assert (await browser.get("/inbox")).status_code == 200

    async def test_an_admin_lands_on_the_leads(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await sign_in(browser, ADMIN)
            assert answer.headers["location"] == "/leads"

    async def test_the_cookies_are_secure_over_https(self, platform: Platform) -> None:
        async with platform.browser("https://dashboard.example") as browser:
            answer = await sign_in(browser, AGENT)
            assert answer.status_code == 303
            assert "secure" in _cookie_header(answer, SESSION_COOKIE).lower()
            assert "secure" in _cookie_header(answer, DEVICE_COOKIE).lower()

    async def test_the_browser_keeps_its_device_token_in_a_strict_cookie_for_the_sign_in_form(
        self, platform: Platform
    ) -> None:
        async with platform.browser() as browser:
            answer = await sign_in(browser, AGENT)
            assert answer.status_code == 303
            cookie = _cookie_header(answer, DEVICE_COOKIE).lower()
            assert "httponly" in cookie and "samesite=strict" in cookie and "path=/login" in cookie
            assert f"max-age={400 * 24 * 3600}" in cookie and "secure" not in cookie
            token = browser.cookies[DEVICE_COOKIE]
            # Signing in again from the same browser keeps the device it names.
            browser.cookies.delete(SESSION_COOKIE)
            again = await sign_in(browser, AGENT)
            assert again.status_code == 303
            assert browser.cookies[DEVICE_COOKIE] == token

    async def test_a_wrong_password_is_refused_on_the_form(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await sign_in(browser, AGENT, "not the password at all")
            assert answer.status_code == 401
            assert "Wrong e-mail address or password." in answer.text
            assert 'aria-invalid="true"' in answer.text
            assert 'value="ana@agency.example"' in answer.text
            assert SESSION_COOKIE not in browser.cookies
            assert (await browser.get("/inbox")).status_code == 303

    async def test_an_unknown_user_gets_the_same_answer(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await sign_in(browser, "nobody@agency.example")
            assert answer.status_code == 401
            assert "Wrong e-mail address or password." in answer.text

    async def test_pages_send_strangers_to_sign_in_and_back_afterwards(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await browser.get("/funnel")
            assert answer.status_code == 303
            assert answer.headers["location"] == "/login?next=%2Ffunnel"
            page = await browser.get(answer.headers["location"])
            assert 'name="next" value="/funnel"' in page.text
            form = {
                "csrf_token": csrf_token(page.text, "/login"),
                "email": ADMIN,
                "password": PASSWORD,
                "next": "/funnel",
            }
            assert (await browser.post("/login", data=form)).headers["location"] == "/funnel"

    async def test_the_dashboard_publishes_no_openapi_description(self, platform: Platform) -> None:
        """Pages, not an API, on the public edge: nothing there answers without signing in but the
        sign-in, the quote form and the unsubscribe link."""
        async with platform.browser() as browser:
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert (await browser.get(path)).status_code == 404, path

    async def test_a_next_address_off_the_site_is_ignored(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            page = await browser.get("/login")
            form = {
                "csrf_token": csrf_token(page.text, "/login"),
                "email": ADMIN,
                "password": PASSWORD,
                "next": "//evil.example/",
            }
            assert (await browser.post("/login", data=form)).headers["location"] == "/leads"

    async def test_a_tampered_session_cookie_counts_as_signed_out(self, platform: Platform) -> None:
        async with signed_in(platform, AGENT) as browser:
            value = browser.cookies[SESSION_COOKIE]
            browser.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
            assert (await browser.get("/inbox")).status_code == 303

    async def test_a_token_the_api_no_longer_accepts_ends_the_session(self, platform: Platform) -> None:
        forged = WebSession("not-a-valid-access-token", "agent", None, csrf.new_nonce())
        value = signer(platform.settings, "leadgen.frontend.session").dumps(
            {"t": forged.token, "r": forged.role, "a": "00000000-0000-0000-0000-000000000001", "c": forged.csrf_nonce}
        )
        async with platform.browser() as browser:
            browser.cookies.set(SESSION_COOKIE, value, domain="testserver.local")
            answer = await browser.get("/inbox")
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?notice=expired")
            assert "Max-Age=0" in _cookie_header(answer, SESSION_COOKIE)
            page = await browser.get(answer.headers["location"])
            assert "Your session has ended" in page.text


class TestOutsideDevelopment:
    async def test_cookies_are_secure_and_browsers_keep_to_https_whatever_scheme_the_app_sees(
        self, platform: Platform
    ) -> None:
        async with another_frontend(platform, _in_production(platform.settings)) as frontend:
            transport = _BehindTls(frontend)
            async with httpx.AsyncClient(transport=transport, base_url="https://dashboard.example") as browser:
                page = await browser.get("/login")
                assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
                assert "secure" in _flags(page, csrf.ANON_COOKIE)
                answer = await sign_in(browser, AGENT)
                assert answer.status_code == 303, answer.text
                assert "secure" in _flags(answer, SESSION_COOKIE) and "secure" in _flags(answer, DEVICE_COOKIE)
                inbox = await browser.get("/inbox")
                assert inbox.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
                out = await browser.post("/logout", data={"csrf_token": csrf_token(inbox.text, "/logout")})
                assert "secure" in _flags(out, SESSION_COOKIE)

    async def test_development_sends_no_hsts(self, platform: Platform) -> None:
        """A browser would keep it for the host, localhost included, for a year."""
        async with platform.browser("https://dashboard.example") as browser:
            page = await browser.get("/login")
        assert "strict-transport-security" not in page.headers


class TestSignOut:
    async def test_signing_out_clears_the_session(self, platform: Platform) -> None:
        async with signed_in(platform, AGENT) as browser:
            inbox = await browser.get("/inbox")
            answer = await browser.post("/logout", data={"csrf_token": csrf_token(inbox.text, "/logout")})
            assert answer.status_code == 303
            assert answer.headers["location"] == "/login?notice=signed-out"
            assert SESSION_COOKIE not in browser.cookies
            assert (await browser.get("/inbox")).status_code == 303
            assert "You are signed out." in (await browser.get("/login?notice=signed-out")).text

    async def test_signing_out_keeps_the_browsers_device(self, platform: Platform) -> None:
        async with signed_in(platform, AGENT) as browser:
            device_token = browser.cookies[DEVICE_COOKIE]
            inbox = await browser.get("/inbox")
            await browser.post("/logout", data={"csrf_token": csrf_token(inbox.text, "/logout")})
            assert browser.cookies[DEVICE_COOKIE] == device_token
            assert (await sign_in(browser, AGENT)).status_code == 303
            assert browser.cookies[DEVICE_COOKIE] == device_token  # still trusted, so the same device


class TestNavigation:
    async def test_an_agent_sees_the_inbox_only(self, platform: Platform) -> None:
        async with signed_in(platform, AGENT) as browser:
            page = (await browser.get("/inbox")).text
            assert 'href="/inbox"' in page
            assert 'href="/leads"' not in page and 'href="/funnel"' not in page
            for path in ("/leads", "/funnel", "/agents"):
                refused = await browser.get(path)
                assert refused.status_code == 403
                assert "for admins and managers" in refused.text

    async def test_admins_and_managers_see_leads_funnel_and_agents(self, platform: Platform) -> None:
        for email in (ADMIN, MANAGER):
            async with signed_in(platform, email) as browser:
                page = (await browser.get("/leads")).text
                assert all(f'href="{p}"' in page for p in ("/leads", "/funnel", "/agents"))
                assert 'href="/inbox"' not in page
                refused = await browser.get("/inbox")
                assert refused.status_code == 403
                assert "Only agents have an inbox." in refused.text

    async def test_the_start_page_sends_each_role_home(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            assert (await browser.get("/")).headers["location"] == "/login"
        async with signed_in(platform, AGENT) as browser:
            assert (await browser.get("/")).headers["location"] == "/inbox"

"""The dashboard against the api on PostgreSQL and Redis: failed sign-ins limited per account and
per browser address, and a sign-out that ends the session everywhere, not only in one browser."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from leadgen.auth.repository import user_by_email
from leadgen.auth.roles import Role
from leadgen.auth.service import create_user
from leadgen.core.settings import Settings
from leadgen.frontend.session import SESSION_COOKIE
from leadgen.targets import frontend as frontend_target
from tests.frontend.stack import (
    ADMIN,
    MANAGER,
    PASSWORD,
    AnsweringOn,
    People,
    Platform,
    csrf_token,
    running,
    sign_in,
)

pytestmark = pytest.mark.parametrize("backend", ["postgres"])
NOBODY = People(uuid.UUID(int=0), uuid.UUID(int=0))


def new_address() -> str:
    """A browser address of its own per call (TEST-NET-3): Redis keeps counters between runs."""
    number = uuid.uuid4().int
    return f"203.0.{number % 256}.{(number >> 8) % 254 + 1}"


def server_settings(database_url: str, redis_url: str, data_dir: Path) -> Settings:
    # A hash key of its own keys this test's account counters apart from those of other tests and
    # runs, which Redis keeps for their window (the users' e-mail addresses are the same every time).
    return Settings(
        common={"data_dir": data_dir, "environment": "development"},
        db={"url": database_url},
        redis={"url": redis_url, "sentinels": ""},
        security={"pii_hash_key": f"test-{uuid.uuid4().hex}"},
    )


@asynccontextmanager
async def platform_on(settings: Settings) -> AsyncIterator[Platform]:
    """The api, data-service and frontend on the servers, with an admin and a manager."""
    async with running(settings) as (api, data, frontend):
        async with api.state.resources.unit_of_work() as session:
            await create_user(session, ADMIN, PASSWORD, Role.ADMIN, None, "test")
            await create_user(session, MANAGER, PASSWORD, Role.MANAGER, None, "test")
        yield Platform(settings, api, data, frontend, NOBODY)


@pytest.fixture
async def platform(database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Platform]:
    async with platform_on(server_settings(database_url, redis_url, tmp_path / "data")) as running_platform:
        yield running_platform


def browser_at(platform: Platform, address: str) -> httpx.AsyncClient:
    """A browser connecting to the frontend from ``address``."""
    transport = httpx.ASGITransport(app=platform.frontend, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def api_at(platform: Platform, address: str) -> httpx.AsyncClient:
    """A client of the api itself connecting from ``address``."""
    transport = httpx.ASGITransport(app=platform.api, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://api")


class TestLockout:
    async def test_the_sign_in_page_says_sign_in_is_paused_even_for_the_right_password(
        self, platform: Platform
    ) -> None:
        async with browser_at(platform, new_address()) as browser:
            for _ in range(5):
                wrong = await sign_in(browser, MANAGER, "not the password at all")
                assert wrong.status_code == 401
                assert "Wrong e-mail address or password." in wrong.text
            paused = await sign_in(browser, MANAGER)
            assert paused.status_code == 429
            assert "Sign-in is paused" in paused.text
            assert "Too many failed sign-ins to this account; try again in " in paused.text
            assert 'value="max@agency.example"' in paused.text
            assert SESSION_COOKIE not in browser.cookies

    async def test_the_users_own_browser_signs_in_while_a_stranger_has_the_account_locked(
        self, platform: Platform
    ) -> None:
        async with browser_at(platform, new_address()) as browser:
            assert (await sign_in(browser, MANAGER)).status_code == 303
            browser.cookies.delete(SESSION_COOKIE)  # the session ended; the device cookie stays
            async with browser_at(platform, new_address()) as stranger:
                for _ in range(5):
                    assert (await sign_in(stranger, MANAGER, "not the password at all")).status_code == 401
                assert (await sign_in(stranger, MANAGER)).status_code == 429
            answer = await sign_in(browser, MANAGER)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/leads"

    async def test_the_users_browser_signs_in_after_signing_out_while_a_stranger_has_the_account_locked(
        self, platform: Platform
    ) -> None:
        async with browser_at(platform, new_address()) as browser:
            assert (await sign_in(browser, MANAGER)).status_code == 303
            page = await browser.get("/leads")
            signed_out = await browser.post("/logout", data={"csrf_token": csrf_token(page.text, "/logout")})
            assert signed_out.headers["location"] == "/login?notice=signed-out"
            async with browser_at(platform, new_address()) as stranger:
                for _ in range(5):
                    assert (await sign_in(stranger, MANAGER, "not the password at all")).status_code == 401
                assert (await sign_in(stranger, MANAGER)).status_code == 429
            answer = await sign_in(browser, MANAGER)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/leads"

    async def test_each_browser_is_counted_at_its_own_address(self, platform: Platform) -> None:
        """The api sees every browser through the frontend; it counts them apart only because the
        frontend passes on each browser's address."""
        async with browser_at(platform, new_address()) as guesser:
            for _ in range(20):
                assert (await sign_in(guesser, f"{uuid.uuid4().hex[:10]}@agency.example")).status_code == 401
            refused = await sign_in(guesser, ADMIN)
            assert refused.status_code == 429
            assert "Too many failed sign-ins from this address" in refused.text
        async with browser_at(platform, new_address()) as colleague:
            answer = await sign_in(colleague, ADMIN)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/leads"


class TestSignOut:
    async def test_a_copy_of_the_cookie_opens_nothing_once_signed_out(self, platform: Platform) -> None:
        async with browser_at(platform, new_address()) as browser, browser_at(platform, new_address()) as thief:
            await sign_in(browser, ADMIN)
            thief.cookies.set(SESSION_COOKIE, browser.cookies[SESSION_COOKIE])
            assert (await thief.get("/leads")).status_code == 200
            page = await browser.get("/leads")
            answer = await browser.post("/logout", data={"csrf_token": csrf_token(page.text, "/logout")})
            assert answer.headers["location"] == "/login?notice=signed-out"
            assert SESSION_COOKIE not in browser.cookies
            stolen = await thief.get("/leads")
            assert stolen.status_code == 303
            assert stolen.headers["location"].startswith("/login?notice=expired")

    async def test_a_user_deactivated_meanwhile_is_sent_to_sign_in(self, platform: Platform) -> None:
        async with browser_at(platform, new_address()) as browser:
            await sign_in(browser, MANAGER)
            assert (await browser.get("/leads")).status_code == 200
            async with platform.api.state.resources.unit_of_work() as session:
                manager = await user_by_email(session, MANAGER)
            assert manager is not None
            async with api_at(platform, new_address()) as api:
                signed_in = await api.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD})
                admin = {"authorization": f"Bearer {signed_in.json()['access_token']}"}
                changed = await api.patch(f"/api/v1/auth/users/{manager.id}", json={"active": False}, headers=admin)
            assert changed.status_code == 200
            answer = await browser.get("/leads")
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?notice=expired")

    async def test_the_browser_is_signed_out_even_when_the_api_cannot_be_told(self, platform: Platform) -> None:
        transports: dict[str, httpx.AsyncBaseTransport] = {
            "api": _FailingOn("/api/v1/auth/logout", httpx.ASGITransport(app=platform.api)),
            "data-service": httpx.ASGITransport(app=platform.data_service),
        }
        frontend = frontend_target.create_app(platform.settings, transports=transports)
        async with frontend.router.lifespan_context(frontend):
            transport = httpx.ASGITransport(app=frontend, client=(new_address(), 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
                await sign_in(browser, ADMIN)
                page = await browser.get("/leads")
                answer = await browser.post("/logout", data={"csrf_token": csrf_token(page.text, "/logout")})
                assert answer.headers["location"] == "/login?notice=signed-out-here"
                assert SESSION_COOKIE not in browser.cookies
                notice = await browser.get(answer.headers["location"])
                assert "signed out of this browser, but the server could not be told" in notice.text

    @pytest.mark.parametrize("status", [404, 403, 429])
    async def test_the_browser_is_signed_out_whatever_the_api_answers(self, platform: Platform, status: int) -> None:
        """An api of the release before, mid-rollout, may not know the sign-out (404); whatever it
        refuses with, the cookie goes and the notice says the session may be open elsewhere."""
        transports: dict[str, httpx.AsyncBaseTransport] = {
            "api": AnsweringOn("/api/v1/auth/logout", status, httpx.ASGITransport(app=platform.api)),
            "data-service": httpx.ASGITransport(app=platform.data_service),
        }
        frontend = frontend_target.create_app(platform.settings, transports=transports)
        async with frontend.router.lifespan_context(frontend):
            transport = httpx.ASGITransport(app=frontend, client=(new_address(), 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
                await sign_in(browser, ADMIN)
                page = await browser.get("/leads")
                answer = await browser.post("/logout", data={"csrf_token": csrf_token(page.text, "/logout")})
                assert answer.status_code == 303
                assert answer.headers["location"] == "/login?notice=signed-out-here"
                assert SESSION_COOKIE not in browser.cookies
                after = await browser.get("/leads")
                assert after.status_code == 303 and after.headers["location"].startswith("/login")


class _FailingOn(httpx.AsyncBaseTransport):
    """A peer's transport, except that one path cannot be reached."""

    def __init__(self, path: str, transport: httpx.AsyncBaseTransport) -> None:
        self._path = path
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self._path:
            raise httpx.ConnectError("connection refused", request=request)
        return await self._transport.handle_async_request(request)

"""A real browser against real servers: the quote form, then the agent accepting the lead.

Debian's Chromium (``apt-get install chromium``) driven by Playwright; no browser is downloaded.
Skipped when /usr/bin/chromium is missing, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from pathlib import Path
from typing import Literal

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import select

from leadgen.core import security
from leadgen.core.settings import Settings
from leadgen.frontend.quote import CONSENT_TEXT
from leadgen.models import Lead
from leadgen.targets import api as api_target
from leadgen.targets import data_service as data_target
from leadgen.targets import frontend as frontend_target
from tests.conftest import IN_CI
from tests.frontend.stack import ANA, MANAGER, PASSWORD, embedded_settings, run_pipeline

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() and not IN_CI, reason="needs Debian's chromium at /usr/bin/chromium"),
]


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: pytest owns the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _serving(apps: list[tuple[FastAPI, int]], lifespan: Literal["on", "off"] = "on") -> AsyncIterator[None]:
    """The apps on their ports; ``lifespan="off"`` for apps whose lifespan a fixture already runs."""
    servers = [
        _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan=lifespan))
        for app, port in apps
    ]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    try:
        for _ in range(200):
            if all(server.started for server in servers):
                break
            await asyncio.sleep(0.05)
        assert all(server.started for server in servers), "the servers did not start"
        yield
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def live_settings(data_dir: Path) -> tuple[Settings, int]:
    api_port, data_port, frontend_port = _free_port(), _free_port(), _free_port()
    services = {"api_url": f"http://127.0.0.1:{api_port}", "data_service_url": f"http://127.0.0.1:{data_port}"}
    return embedded_settings(data_dir, services=services), frontend_port


async def test_a_quote_reaches_the_agent_who_accepts_it(live_settings: tuple[Settings, int]) -> None:
    from playwright.async_api import async_playwright, expect

    settings, frontend_port = live_settings
    expect.set_options(timeout=20_000)  # generous: CI machines run this beside heavier suites
    api = api_target.create_app(settings)
    data = data_target.create_app(settings)
    frontend = frontend_target.create_app(settings)
    ports = [
        int(str(settings.services.api_url).rstrip("/").rsplit(":", 1)[1]),
        int(str(settings.services.data_service_url).rstrip("/").rsplit(":", 1)[1]),
        frontend_port,
    ]
    site = f"http://127.0.0.1:{frontend_port}"
    async with _serving(list(zip([api, data, frontend], ports, strict=True))), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            visitor = await browser.new_page()
            await visitor.goto(f"{site}/quote")
            loaded: list[str] = []
            visitor.on("load", lambda page: loaded.append(page.url))
            await visitor.get_by_label("Last name", exact=True).fill("Reyes")
            # Choosing a line changes nothing by itself (WCAG 3.2.2): arrow keys on the closed
            # select move through the lines without leaving the page.
            picker = visitor.get_by_label("What would you like to insure?", exact=True)
            await picker.focus()
            await visitor.keyboard.press("ArrowDown")
            await expect(picker).to_have_value("home")
            await visitor.wait_for_timeout(300)
            assert loaded == []
            await expect(visitor.get_by_label("Make", exact=True)).to_be_visible()
            # Its button shows the line's questions, with the answers already given; and back again.
            await visitor.get_by_role("button", name="Show the questions").click()
            await expect(visitor.get_by_label("Year built", exact=True)).to_be_visible()
            await expect(visitor.get_by_label("Last name", exact=True)).to_have_value("Reyes")
            await visitor.get_by_label("What would you like to insure?", exact=True).select_option("auto")
            await visitor.get_by_role("button", name="Show the questions").click()
            await expect(visitor.get_by_label("Make", exact=True)).to_be_visible()
            await expect(visitor.get_by_label("Last name", exact=True)).to_have_value("Reyes")
            unlabelled = await visitor.evaluate(
                """() => [...document.querySelectorAll('form.quote-form input:not([type=hidden]), select')]
                        .filter(el => el.labels.length === 0).map(el => el.name)"""
            )
            assert unlabelled == []

            await visitor.get_by_label("First name", exact=True).fill("Dana")
            await visitor.get_by_label("Phone number", exact=True).fill("214 555 0134")
            await visitor.get_by_label("ZIP code", exact=True).fill("75201")
            await visitor.get_by_label("Age when first licensed", exact=True).fill("17")
            await visitor.get_by_label("Year", exact=True).fill("2019")
            await visitor.get_by_label("Make", exact=True).fill("Toyota")
            await visitor.get_by_label("Model", exact=True).fill("Camry")
            # Enter sends the request (not the line picker's button, which comes first).
            await visitor.get_by_label("Model", exact=True).press("Enter")
            # Without consent the form comes back, saying so next to the box.
            await expect(visitor.locator("#consent-error")).to_contain_text("tick the box")
            await expect(visitor.get_by_label("First name", exact=True)).to_have_value("Dana")
            await visitor.get_by_label(CONSENT_TEXT, exact=True).check()
            await visitor.get_by_role("button", name="Get my quotes").click()
            await expect(visitor.get_by_role("heading", level=1)).to_have_text("Thank you, your request is on its way")

            async with api.state.resources.unit_of_work() as session:
                lead = (await session.scalars(select(Lead))).one()
            await run_pipeline(settings, lead.id)

            agent = await (await browser.new_context()).new_page()
            await agent.goto(f"{site}/inbox")
            await expect(agent).to_have_url(f"{site}/login?next=%2Finbox")
            await agent.get_by_label("E-mail address", exact=True).fill(ANA)
            await agent.get_by_label("Password", exact=True).fill(PASSWORD)
            await agent.get_by_role("button", name="Sign in").click()
            await expect(agent).to_have_url(f"{site}/inbox")
            await expect(agent.get_by_role("link", name="Auto lead in TX")).to_be_visible()
            await agent.get_by_role("button", name="Accept").click()
            notice = agent.get_by_role("status")
            await expect(notice).to_have_text("Lead accepted. The contact details are in your inbox.")
            await expect(agent.get_by_role("link", name="+12145550134")).to_be_visible()

            await agent.get_by_role("link", name="Auto lead in TX").click()
            await expect(agent.get_by_role("heading", name="History")).to_be_visible()
            await expect(agent.get_by_text("assignment.accepted")).to_be_visible()
            await agent.get_by_role("button", name="Sign out").click()
            await expect(agent).to_have_url(f"{site}/login?notice=signed-out")
        finally:
            await browser.close()


async def test_change_password_pressed_twice_keeps_the_user_signed_in(
    live_settings: tuple[Settings, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second click while the first is on its way: static/forms.js sends the form once."""
    from argon2 import PasswordHasher
    from playwright.async_api import async_playwright, expect

    # The cost deployed: the first change is still being checked when the second click comes.
    monkeypatch.setattr(security, "_hasher", PasswordHasher())
    settings, frontend_port = live_settings
    apps = [api_target.create_app(settings), data_target.create_app(settings), frontend_target.create_app(settings)]
    ports = [
        int(str(settings.services.api_url).rstrip("/").rsplit(":", 1)[1]),
        int(str(settings.services.data_service_url).rstrip("/").rsplit(":", 1)[1]),
        frontend_port,
    ]
    site = f"http://127.0.0.1:{frontend_port}"
    new_password = "a brand new pass phrase"
    posted: list[str] = []

    @apps[2].middleware("http")
    async def count_posts(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method == "POST":
            posted.append(request.url.path)
        return await call_next(request)

    async with _serving(list(zip(apps, ports, strict=True))), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{site}/login")
            await page.get_by_label("E-mail address", exact=True).fill(MANAGER)
            await page.get_by_label("Password", exact=True).fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(f"{site}/leads")
            await page.goto(f"{site}/account")
            await page.get_by_label("Current password", exact=True).fill(PASSWORD)
            await page.get_by_label("New password", exact=True).fill(new_password)
            await page.get_by_label("New password again", exact=True).fill(new_password)
            box = await page.get_by_role("button", name="Change password").bounding_box()
            assert box is not None
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            await page.mouse.click(x, y)
            await page.wait_for_timeout(80)
            await page.mouse.click(x, y)
            await expect(page).to_have_url(f"{site}/account?notice=password-changed", timeout=20_000)
            await page.goto(f"{site}/leads")
            await expect(page).to_have_url(f"{site}/leads")
            assert posted == ["/login", "/account/password"]
        finally:
            await browser.close()

"""Debian's Chromium sending one filled-in quote form again after Back: the same request, one lead;
a new visit to the form is a new request (see test_frontend_browser for the set-up)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from sqlalchemy import select

from leadgen.core.settings import Settings
from leadgen.frontend.quote import CONSENT_TEXT, RESENT_WITH_OTHER_ANSWERS
from leadgen.models import Lead
from leadgen.targets import api as api_target
from leadgen.targets import data_service as data_target
from leadgen.targets import frontend as frontend_target
from tests.frontend.test_frontend_browser import CHROMIUM, CHROMIUM_ARGS, _serving
from tests.frontend.test_frontend_browser import live_settings as live_settings  # the fixture
from tests.frontend.test_frontend_browser import pytestmark as pytestmark  # slow; needs chromium

THANKS = "Thank you, your request is on its way"


async def test_back_and_send_again_is_the_same_request_and_a_new_visit_a_new_one(
    live_settings: tuple[Settings, int],
) -> None:
    from playwright.async_api import Page, async_playwright, expect

    settings, frontend_port = live_settings
    expect.set_options(timeout=20_000)  # generous: CI machines run this beside heavier suites
    api = api_target.create_app(settings)
    apps = [api, data_target.create_app(settings), frontend_target.create_app(settings)]
    ports = [
        int(str(settings.services.api_url).rstrip("/").rsplit(":", 1)[1]),
        int(str(settings.services.data_service_url).rstrip("/").rsplit(":", 1)[1]),
        frontend_port,
    ]
    asked: list[str] = []

    @apps[2].middleware("http")
    async def note_pages(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path.startswith("/quote"):
            asked.append(f"{request.method} {request.url.path}")
        return await call_next(request)

    async def makes() -> list[str]:
        async with api.state.resources.unit_of_work() as session:
            return sorted(lead.details["vehicles"][0]["make"] for lead in (await session.scalars(select(Lead))).all())

    async def fill_in(page: Page, make: str) -> None:
        await page.get_by_label("First name", exact=True).fill("Dana")
        await page.get_by_label("Last name", exact=True).fill("Reyes")
        await page.get_by_label("Phone number", exact=True).fill("214 555 0134")
        await page.get_by_label("ZIP code", exact=True).fill("75201")
        await page.get_by_label("Age when first licensed", exact=True).fill("17")
        await page.get_by_label("Year", exact=True).fill("2019")
        await page.get_by_label("Make", exact=True).fill(make)
        await page.get_by_label("Model", exact=True).fill("Camry")
        await page.get_by_label(CONSENT_TEXT, exact=True).check()

    site = f"http://127.0.0.1:{frontend_port}"
    async with _serving(list(zip(apps, ports, strict=True))), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            visitor = await browser.new_page()
            await visitor.goto(f"{site}/quote")
            await fill_in(visitor, "Toyota")
            await visitor.get_by_role("button", name="Get my quotes").click()
            await expect(visitor.get_by_role("heading", level=1)).to_have_text(THANKS)

            # Back loads the form again (it is not cached); the browser puts the answers back.
            await visitor.go_back()
            await expect(visitor.get_by_label("Make", exact=True)).to_have_value("Toyota")
            await expect(visitor.get_by_label(CONSENT_TEXT, exact=True)).to_be_checked()
            await visitor.get_by_role("button", name="Get my quotes").click()
            await expect(visitor.get_by_role("heading", level=1)).to_have_text(THANKS)
            assert asked == ["GET /quote", "POST /quote", "GET /quote/thanks"] * 2
            assert await makes() == ["Toyota"]

            # Back again, another answer: refused, saying so; the page shown then is a new form.
            await visitor.go_back()
            await visitor.get_by_label("Make", exact=True).fill("Honda")
            await visitor.get_by_role("button", name="Get my quotes").click()
            await expect(visitor.get_by_role("alert")).to_contain_text(RESENT_WITH_OTHER_ANSWERS)
            await expect(visitor.get_by_label("Make", exact=True)).to_have_value("Honda")
            assert await makes() == ["Toyota"]

            # A new visit to the form is a new request.
            await visitor.goto(f"{site}/quote")
            await fill_in(visitor, "Kia")
            await visitor.get_by_role("button", name="Get my quotes").click()
            await expect(visitor.get_by_role("heading", level=1)).to_have_text(THANKS)
            assert await makes() == ["Kia", "Toyota"]
        finally:
            await browser.close()

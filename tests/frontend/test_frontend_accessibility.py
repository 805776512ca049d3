"""Accessibility (WCAG 2.2 AA) of the pages people use, in a real browser against the real stack.

axe-core checks each page as it is shown, errors included; the checks after it cover what axe
cannot see (error summary focus, errors tied to their inputs, autocomplete, headings, titles).
axe-core comes from tools/axe (package.json and its lock file pin it), installed with ``npm ci``
on first use, as tools/crd-validate is; no browser or script is fetched from a CDN at test time.
Debian's Chromium (``apt-get install chromium``) is driven by Playwright; skipped when it is
missing, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI

from leadgen.frontend.quote import LINES
from tests.conftest import IN_CI
from tests.frontend.stack import ADMIN, ANA, PASSWORD, Platform
from tests.frontend.test_frontend_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _serving
from tests.npm_tools import ensure_npm_tool

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
AXE_TOOL = REPO / "tools" / "axe"
AXE_SCRIPT = AXE_TOOL / "node_modules" / "axe-core" / "axe.min.js"
# The rules of WCAG 2.0, 2.1 and 2.2 at levels A and AA, plus axe's best practices (landmarks,
# one h1, heading order), which the pages follow too.
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    }
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() and not IN_CI, reason="needs Debian's chromium at /usr/bin/chromium"),
]


def ensure_axe() -> Path:
    ensure_npm_tool(AXE_TOOL)
    return AXE_SCRIPT


@contextlib.asynccontextmanager
async def _serving_frontend(app: FastAPI) -> AsyncIterator[str]:
    """The platform's frontend on a local port (its lifespan already runs in the fixture)."""
    port = _free_port()
    async with _serving([(app, port)], lifespan="off"):
        yield f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def _chromium() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def axe_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as shown: one line per rule and element. The pages' CSP
    (script-src 'self') refuses an injected script, so the tests open them with ``bypass_csp``."""
    await page.add_script_tag(path=str(ensure_axe()))
    result: dict[str, Any] = await page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    return [
        f"{page.url} {v['id']} ({v['impact']}): {' '.join(map(str, node['target']))}"
        for v in result["violations"]
        for node in v["nodes"]
    ]


async def page_facts(page: Page) -> dict[str, Any]:
    """What axe does not judge: the title, the language, the headings' levels, errors and inputs."""
    facts: dict[str, Any] = await page.evaluate(
        """() => ({
            title: document.title,
            lang: document.documentElement.lang,
            headings: [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')]
                .map(h => [Number(h.tagName[1]), h.textContent.trim()]),
            untied: [...document.querySelectorAll('.error-message[id]')]
                .filter(m => !document.querySelector(`[aria-describedby~="${m.id}"]`)).map(m => m.id),
            unmarked: [...document.querySelectorAll('[aria-describedby]')]
                .filter(el => el.getAttribute('aria-describedby').split(' ').some(id => id.endsWith('-error')))
                .filter(el => ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName))
                .filter(el => el.getAttribute('aria-invalid') !== 'true')
                .map(el => el.id),
        })"""
    )
    return facts


def heading_skips(headings: list[list[Any]]) -> list[str]:
    """Headings that go down more than one level at once (h2 then h4), or a page not opened by one h1."""
    levels = [int(level) for level, _ in headings]
    skips = [f"h{b} {text!r} after h{a}" for a, (b, text) in zip(levels, headings[1:], strict=False) if b > a + 1]
    if levels[:1] != [1] or levels.count(1) != 1:
        skips.append(f"not one h1 first: {headings}")
    return skips


async def check_page(page: Page, where: str, found: list[str], titles: dict[str, str]) -> None:
    """axe's violations and the hand checks of the page shown, added to ``found``."""
    found.extend(await axe_violations(page))
    facts = await page_facts(page)
    if facts["lang"] != "en":
        found.append(f"{where}: <html lang> is {facts['lang']!r}")
    found.extend(f"{where}: {skip}" for skip in heading_skips(facts["headings"]))
    found.extend(f"{where}: error {error_id} is tied to no input" for error_id in facts["untied"])
    found.extend(f"{where}: {input_id} is described by an error but not aria-invalid" for input_id in facts["unmarked"])
    titles[where] = facts["title"]


# One Tab stop: what has the focus, whether it comes after the previous stop in the document, and
# its focus ring's width and contrast against what is behind it (WCAG 2.4.7, 1.4.11).
FOCUS_STOP = """form => {
    const el = document.activeElement;
    const rgb = c => (c.match(/[0-9.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => [r, g, b].map(v => v / 255)
        .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    let behind = el.parentElement;
    while (behind && (rgb(getComputedStyle(behind).backgroundColor)[3] === 0)) { behind = behind.parentElement; }
    const backdrop = rgb(behind ? getComputedStyle(behind).backgroundColor : 'rgb(255,255,255)');
    const style = getComputedStyle(el);
    const ring = style.outlineStyle === 'none' ? 0 : parseFloat(style.outlineWidth);
    const [hi, lo] = [luminance(rgb(style.outlineColor)), luminance(backdrop)].sort((a, b) => b - a);
    window.__stops = window.__stops || [];
    // A date input's day, month and year are Tab stops of one element.
    if (window.__stops[window.__stops.length - 1] === el) { return {same: true}; }
    const after = !window.__stops.length
        || !!(window.__stops[window.__stops.length - 1].compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING);
    window.__stops.push(el);
    return {name: el.id || el.name || el.textContent.trim().slice(0, 30) || el.tagName,
            inForm: !!el.closest(form), after, ring, contrast: (hi + 0.05) / (lo + 0.05)};
}"""


async def keyboard_walk(page: Page, where: str, form: str, found: list[str]) -> None:
    """Tab from the top of the page through ``form``: every visible control of it is reached, in
    the document's order, each with a focus ring at least 2px wide and of 3:1 contrast."""
    await page.evaluate("() => { window.__stops = []; document.activeElement && document.activeElement.blur(); }")
    controls: list[str] = await page.evaluate(
        """form => [...document.querySelector(form).querySelectorAll('input, select, button, textarea, a[href]')]
            .filter(el => el.type !== 'hidden' && el.tabIndex >= 0 && el.getClientRects().length)
            .map(el => el.id || el.name || el.textContent.trim().slice(0, 30) || el.tagName)""",
        form,
    )
    reached: list[str] = []
    for _ in range(200):
        await page.keyboard.press("Tab")
        stop: dict[str, Any] = await page.evaluate(FOCUS_STOP, form)
        if stop.get("same"):
            continue
        if not stop["after"]:
            break  # back at the top
        if stop["ring"] < 2 or stop["contrast"] < 3:
            found.append(f"{where}: {stop['name']} has a focus ring of {stop['ring']}px at {stop['contrast']:.2f}:1")
        if stop["inForm"]:
            reached.append(stop["name"])
    if reached != controls:
        found.append(f"{where}: Tab reaches {reached}, the form has {controls}")


async def check_reflow(page: Page, where: str, found: list[str]) -> None:
    """At 320 CSS pixels wide (400% zoom) the page does not scroll sideways (WCAG 1.4.10); a wide
    table scrolls inside its own region instead."""
    size = page.viewport_size
    await page.set_viewport_size({"width": 320, "height": 640})
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        found.append(f"{where} at 320px wide: {overflow}px to scroll sideways")
    if size is not None:
        await page.set_viewport_size(size)


async def sign_in(page: Page, site: str, email: str) -> None:
    await page.goto(f"{site}/login")
    await page.get_by_label("E-mail address", exact=True).fill(email)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/login" not in url)


async def test_the_quote_form_and_sign_in_have_no_violations(platform: Platform) -> None:
    found: list[str] = []
    titles: dict[str, str] = {}
    async with _serving_frontend(platform.frontend) as site, _chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        for line in LINES:
            await page.goto(f"{site}/quote")
            await page.get_by_label("What would you like to insure?", exact=True).select_option(line)
            await page.get_by_role("button", name="Show the questions").click()
            await check_page(page, f"quote {line}", found, titles)
            # Sent empty: every error shown, and the summary that lists them has the focus.
            await page.get_by_role("button", name="Get my quotes").click()
            await page.locator(".error-summary").wait_for()
            await check_page(page, f"quote {line} with errors", found, titles)
            focused = await page.evaluate("document.activeElement.classList.contains('error-summary')")
            if not focused:
                found.append(f"quote {line} with errors: the error summary does not have the focus")
            # Every input of the person's own details says what it is to autofill (WCAG 1.3.5).
            missing = await page.evaluate(
                """() => [...document.querySelectorAll('input[name^="contact."]')]
                        .filter(el => !el.getAttribute('autocomplete')).map(el => el.name)"""
            )
            found.extend(f"quote {line}: {name} has no autocomplete" for name in missing)
            # Each link of the summary leads to an input, which takes the focus (a group's first box).
            unfocusable = await page.evaluate(
                """() => [...document.querySelectorAll('.error-summary a')].map(a => a.getAttribute('href'))
                        .filter(href => !document.querySelector(href).matches('input, select, textarea'))"""
            )
            found.extend(f"quote {line}: the summary's link {href} leads to no input" for href in unfocusable)
            await keyboard_walk(page, f"quote {line} with errors", "form.quote-form", found)
            await check_reflow(page, f"quote {line} with errors", found)

        await page.goto(f"{site}/quote/thanks")
        await check_page(page, "quote sent", found, titles)

        await page.goto(f"{site}/login")
        await check_page(page, "sign-in", found, titles)
        await check_reflow(page, "sign-in", found)
        await keyboard_walk(page, "sign-in", "form[action='/login']", found)
        await page.get_by_label("E-mail address", exact=True).fill(ANA)
        await page.get_by_label("Password", exact=True).fill("not the password")
        await page.get_by_role("button", name="Sign in").click()
        await page.locator(".error-message").first.wait_for()
        await check_page(page, "sign-in refused", found, titles)
    assert found == [], "\n".join(found)
    assert titles["sign-in"] == "Sign in · Leadgen"
    assert titles["quote auto"] == "Get insurance quotes · Leadgen"
    # A page sent back with errors says so first, in its title (read when the page loads).
    assert titles["quote auto with errors"] == "Error: Get insurance quotes · Leadgen"
    assert titles["sign-in refused"] == "Error: Sign in · Leadgen"


async def test_the_agents_inbox_and_lead_page_have_no_violations(platform: Platform) -> None:
    lead_id = await platform.routed_lead("+12145550134")
    found: list[str] = []
    titles: dict[str, str] = {}
    async with _serving_frontend(platform.frontend) as site, _chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await sign_in(page, site, ANA)
        await page.goto(f"{site}/inbox")
        await check_page(page, "inbox with an offer", found, titles)
        await keyboard_walk(page, "inbox with an offer", ".offer-actions", found)
        # The server's refusals as a browser that does not check forms itself gets them.
        await page.evaluate("() => document.querySelectorAll('form').forEach(f => { f.noValidate = true; })")
        await page.get_by_label("Reason for declining").fill("no")
        await page.get_by_role("button", name="Decline").click()
        await page.locator(".reject-form .error-message").wait_for()
        await check_page(page, "inbox, decline refused", found, titles)
        await page.get_by_role("button", name="Accept").click()
        await page.get_by_role("status").wait_for()
        await check_page(page, "inbox, accepted", found, titles)
        await page.goto(f"{site}/leads/{lead_id}")
        await check_page(page, "lead with outcome and return forms", found, titles)
        await keyboard_walk(page, "lead, return form", "form.return-form", found)
        await page.evaluate("() => document.querySelectorAll('form').forEach(f => { f.noValidate = true; })")
        await page.get_by_role("button", name="Record").click()  # no outcome chosen
        await page.locator(".outcome-form .error-message").wait_for()
        await check_page(page, "lead, outcome refused", found, titles)
    assert found == [], "\n".join(found)
    assert titles["inbox, decline refused"] == "Error: Inbox · Leadgen"
    assert titles["lead, outcome refused"].startswith(f"Error: Lead {str(lead_id)[:8]}")
    assert titles["inbox with an offer"] == "Inbox · Leadgen"
    assert titles["lead with outcome and return forms"].startswith(f"Lead {str(lead_id)[:8]}")


ADMIN_PAGES = [
    "/leads",
    "/leads/{lead}",
    "/funnel",
    "/performance",
    "/agents",
    "/agents/{agent}",
    "/audit",
    "/search",
    "/do-not-contact",
    "/account",
]


async def test_the_admin_pages_have_no_violations(platform: Platform) -> None:
    lead_id = await platform.routed_lead("+12145550135")
    found: list[str] = []
    titles: dict[str, str] = {}
    async with _serving_frontend(platform.frontend) as site, _chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await sign_in(page, site, ADMIN)
        for path in ADMIN_PAGES:
            await page.goto(site + path.format(agent=platform.people.ana_agent_id, lead=lead_id))
            await check_page(page, path, found, titles)
            await check_reflow(page, path, found)
        # Each page's title says which page it is.
        assert len(set(titles.values())) == len(ADMIN_PAGES), titles
        # The admin forms with what they refuse shown.
        for path in ("/audit?since=not-a-moment", "/performance?start=2026-13-40"):
            await page.goto(site + path)
            await page.locator(".error-message").first.wait_for()
            await check_page(page, path, found, titles)
        await page.goto(f"{site}/account")
        await page.get_by_role("button", name="Change password").click()
        await page.locator(".error-message").first.wait_for()
        await check_page(page, "account, change refused", found, titles)
    assert found == [], "\n".join(found)
    assert titles["/audit?since=not-a-moment"] == "Error: Audit log · Leadgen"
    assert titles["/performance?start=2026-13-40"] == "Error: Performance · Leadgen"
    assert titles["account, change refused"].startswith("Error: ")

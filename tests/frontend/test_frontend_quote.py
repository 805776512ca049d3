"""The public quote form: per-line questions, consent, errors next to fields, and success."""

from __future__ import annotations

import hashlib
import html
import logging
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from leadgen.frontend.quote import CONSENT_TEXT, SEND_AGAIN, TRAP_FIELD, TRAPPED
from leadgen.frontend.session import SESSION_COOKIE
from leadgen.models import ConsentRecord, Lead
from tests.frontend.stack import (
    ADMIN,
    ANA,
    PASSWORD,
    AnsweringOn,
    Platform,
    another_frontend,
    csrf_token,
    embedded_settings,
    running,
    sign_in,
)

AUTO = {
    "contact.first_name": "Dana",
    "contact.last_name": "Reyes",
    "contact.phone": "(214) 555-0134",
    "contact.email": "dana@example.com",
    "contact.address.zip": "75201",
    "details.drivers.0.age_first_licensed": "17",
    "details.vehicles.0.year": "2019",
    "details.vehicles.0.make": "Toyota",
    "details.vehicles.0.model": "Camry",
    "details.vehicles.0.use": "commute",
    "details.coverage_tier": "premium",
    "consent": "yes",
}


class _QuoteFormPage(HTMLParser):
    """What a browser reads of the quote form: its hidden inputs, which it posts back, the words
    of the consent checkbox's label, and the trap input with the attributes of what holds it."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.consent_text = ""
        self.trap: dict[str, str | None] = {}
        self.trap_holder: dict[str, str | None] = {}
        self._holder: dict[str, str | None] = {}
        self._in_form = self._in_consent_label = False
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self._in_form = attributes.get("method") == "post" and attributes.get("action") == "/quote"
        elif self._in_form and tag == "div":
            self._holder = attributes
        elif self._in_form and tag == "input" and attributes.get("name") == TRAP_FIELD:
            self.trap, self.trap_holder = attributes, self._holder
        elif self._in_form and tag == "input" and attributes.get("type") == "hidden":
            self.hidden[attributes["name"] or ""] = attributes["value"] or ""
        elif self._in_form and tag == "label" and attributes.get("for") == "consent":
            self._in_consent_label = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "label":
            self._in_consent_label = False

    def handle_data(self, data: str) -> None:
        if self._in_consent_label:
            self.consent_text += data


async def _submit(browser: httpx.AsyncClient, line: str, fields: dict[str, Any]) -> httpx.Response:
    """Fill in the form of the line and post it as a browser does, with the page's hidden inputs."""
    page = await browser.get(f"/quote?line={line}")
    return await browser.post("/quote", data={**_QuoteFormPage(page.text).hidden, **fields})


async def _stored(platform: Platform) -> list[tuple[Lead, ConsentRecord | None]]:
    async with platform.api.state.resources.unit_of_work() as session:
        leads = (await session.scalars(select(Lead))).all()
        consents = {c.lead_id: c for c in (await session.scalars(select(ConsentRecord))).all()}
    return [(lead, consents.get(lead.id)) for lead in leads]


class TestForm:
    async def test_shows_the_exact_consent_text_and_the_chosen_line(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            page = (await browser.get("/quote?line=home")).text
        assert html.escape(CONSENT_TEXT, quote=False) in page
        assert 'name="details.year_built"' in page and 'name="details.vehicles.0.year"' not in page
        assert '<option value="home" selected>' in page
        assert '<label for="f-contact-address-zip">' in page

    async def test_an_unknown_line_falls_back_to_auto(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            page = (await browser.get("/quote?line=pets")).text
        assert 'name="details.vehicles.0.year"' in page


class TestZipOfTwoStates:
    """A ZIP that serves two states (Fort Campbell's 42223: Kentucky and Tennessee): the api asks for
    the state, and the form has the input to answer it with."""

    async def test_the_state_asked_for_is_answered_on_the_form_and_stored(self, platform: Platform) -> None:
        at_fort_campbell = {**AUTO, "contact.address.zip": "42223"}
        async with platform.browser() as browser:
            asked = await _submit(browser, "auto", at_fort_campbell)
            assert asked.status_code == 422, asked.text
            assert 'aria-invalid="true"' in asked.text.split('id="f-contact-address-state"')[1].split(">")[0]
            assert "serves more than one state: give the state, KY or TN" in asked.text
            assert '<option value="TN">Tennessee</option>' in asked.text
            answered = await _submit(browser, "auto", {**at_fort_campbell, "contact.address.state": "TN"})
        assert answered.status_code == 303, answered.text
        [(lead, _)] = await _stored(platform)
        assert (lead.zip_code, lead.state) == ("42223", "TN")

    async def test_a_zip_of_one_state_needs_no_state(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answered = await _submit(browser, "auto", {**AUTO, "contact.address.state": ""})
        assert answered.status_code == 303, answered.text
        [(lead, _)] = await _stored(platform)
        assert lead.state == "TX"


class TestConsentTextShown:
    """The page names the consent text it shows by its SHA-256, and the api records that text."""

    async def test_the_form_sends_the_digest_of_the_text_it_shows(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            form = _QuoteFormPage((await browser.get("/quote?line=life")).text)
        assert form.consent_text == CONSENT_TEXT
        assert form.hidden["consent_text_sha256"] == hashlib.sha256(form.consent_text.encode()).hexdigest()

    async def test_the_text_the_page_showed_is_recorded_with_its_digest(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            page = await browser.get("/quote?line=auto")
            form = _QuoteFormPage(page.text)
            answer = await browser.post("/quote", data={**form.hidden, **AUTO})
        assert answer.status_code == 303, answer.text
        [(_, consent)] = await _stored(platform)
        assert consent is not None
        assert (consent.text, consent.text_sha256) == (form.consent_text, form.hidden["consent_text_sha256"])

    async def test_a_page_of_the_previous_release_without_the_digest_is_recorded_with_the_current_text(
        self, platform: Platform
    ) -> None:
        async with platform.browser() as browser:
            page = await browser.get("/quote?line=auto")
            previous = {"csrf_token": csrf_token(page.text, "/quote"), "line": "auto"}
            answer = await browser.post("/quote", data={**previous, **AUTO})
        assert answer.status_code == 303, answer.text
        [(_, consent)] = await _stored(platform)
        assert consent is not None and consent.text == CONSENT_TEXT

    async def test_a_digest_the_api_does_not_know_is_refused_and_nothing_is_stored(self, platform: Platform) -> None:
        unknown = hashlib.sha256(b"Words nobody was shown.").hexdigest()
        async with platform.browser() as browser:
            page = await browser.get("/quote?line=auto")
            posted = {**_QuoteFormPage(page.text).hidden, "consent_text_sha256": unknown, **AUTO}
            answer = await browser.post("/quote", data=posted)
        assert answer.status_code == 422
        assert "not the SHA-256 of a consent text this api knows" in answer.text
        assert await _stored(platform) == []


class TestTrap:
    """An input no person fills in: scripts that fill in every input give themselves away."""

    async def test_no_person_sees_reaches_or_fills_it(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            form = _QuoteFormPage((await browser.get("/quote?line=auto")).text)
        assert form.trap["type"] == "text" and form.trap["value"] == ""
        assert (form.trap["tabindex"], form.trap["autocomplete"]) == ("-1", "off")
        assert (form.trap_holder.get("class"), form.trap_holder.get("aria-hidden")) == ("trap", "true")
        assert TRAP_FIELD not in form.hidden

    async def test_a_request_with_it_filled_in_is_refused_and_nothing_is_stored(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await _submit(browser, "auto", {**AUTO, TRAP_FIELD: "http://spam.example"})
            assert answer.status_code == 422
            assert 'class="error-summary"' in answer.text and TRAPPED in answer.text
            assert 'value="Reyes"' in answer.text and "spam.example" not in answer.text  # the trap is empty again
            assert await _stored(platform) == []
            # Someone whose browser filled it in sends the form back as shown, and it goes through.
            again = await browser.post("/quote", data={**_QuoteFormPage(answer.text).hidden, **AUTO})
        assert again.status_code == 303, again.text
        assert len(await _stored(platform)) == 1


class TestValidation:
    async def test_missing_answers_and_consent_are_shown_next_to_the_fields(self, platform: Platform) -> None:
        fields = {**AUTO, "contact.first_name": "", "details.vehicles.0.make": ""}
        del fields["consent"]
        async with platform.browser() as browser:
            answer = await _submit(browser, "auto", fields)
        assert answer.status_code == 422
        page = answer.text
        assert 'id="f-contact-first_name-error"' in page and 'id="f-details-vehicles-0-make-error"' in page
        assert 'id="consent-error"' in page and "tick the box" in page
        assert 'class="error-summary"' in page and 'href="#f-contact-first_name"' in page
        assert 'value="Reyes"' in page  # what was typed is kept
        assert await _stored(platform) == []

    async def test_the_apis_field_errors_are_shown_next_to_the_fields(self, platform: Platform) -> None:
        fields = {**AUTO, "contact.address.zip": "00000", "contact.phone": "12345", "details.vehicles.0.year": "1800"}
        async with platform.browser() as browser:
            answer = await _submit(browser, "auto", fields)
        assert answer.status_code == 422
        page = answer.text
        for field_id, message in (
            ("f-contact-address-zip", "not a US ZIP code"),
            ("f-contact-phone", "not a valid US phone number"),
            ("f-details-vehicles-0-year", "greater than or equal to 1950"),
        ):
            error = page.index(f'id="{field_id}-error"')
            assert message in page[error : error + 300], field_id
            assert (
                f'aria-describedby="{field_id}-hint {field_id}-error"' in page
                or f'aria-describedby="{field_id}-error"' in page
            )
        assert await _stored(platform) == []

    async def test_a_foreign_number_is_refused_next_to_the_phone(self, platform: Platform) -> None:
        fields = {**AUTO, "contact.phone": "+44 20 7946 0958"}
        async with platform.browser() as browser:
            answer = await _submit(browser, "auto", fields)
        assert answer.status_code == 422
        error = answer.text.index('id="f-contact-phone-error"')
        assert "not a US phone number" in answer.text[error : error + 300]
        assert await _stored(platform) == []


class TestSuccess:
    async def test_an_auto_quote_is_stored_with_the_consent_shown(self, platform: Platform) -> None:
        async with platform.browser() as browser:
            answer = await _submit(browser, "auto", AUTO)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/quote/thanks"
            thanks = await browser.get("/quote/thanks")
        assert "Thank you" in thanks.text
        [(lead, consent)] = await _stored(platform)
        assert (lead.line, lead.state, lead.phone, lead.origin) == ("auto", "TX", "+12145550134", "web")
        assert lead.details["vehicles"][0] == {
            "year": 2019,
            "make": "Toyota",
            "model": "Camry",
            "use": "commute",
            "annual_mileage": None,
        }
        assert lead.details["coverage_tier"] == "premium"
        assert lead.details["drivers"][0]["sr22_required"] is False
        assert consent is not None
        assert consent.text == CONSENT_TEXT
        assert consent.ip_address == "127.0.0.1"
        assert consent.page_url == lead.landing_page == platform.settings.services.dashboard_link("/quote")

    async def test_a_business_quote_carries_the_chosen_coverages(self, platform: Platform) -> None:
        fields: dict[str, str | list[str]] = {
            key: value for key, value in AUTO.items() if key.startswith("contact.") or key == "consent"
        }
        fields.update(
            {
                "details.legal_name": "Reyes Bakery LLC",
                "details.entity_type": "llc",
                "details.years_in_business": "4",
                "details.employees": "12",
                "details.coverages": ["general_liability", "workers_comp"],
            }
        )
        async with platform.browser() as browser:
            answer = await _submit(browser, "commercial", fields)
        assert answer.status_code == 303, answer.text
        [(lead, _)] = await _stored(platform)
        assert lead.line == "commercial"
        assert lead.details["coverages"] == ["general_liability", "workers_comp"]

    async def test_a_health_quote_lists_the_household(self, platform: Platform) -> None:
        fields = {key: value for key, value in AUTO.items() if key.startswith("contact.") or key == "consent"}
        fields.update(
            {"details.household.0.age": "41", "details.household.1.age": "39", "details.medicare_interest": "yes"}
        )
        async with platform.browser() as browser:
            answer = await _submit(browser, "health", fields)
        assert answer.status_code == 303, answer.text
        [(lead, _)] = await _stored(platform)
        assert lead.details["household"] == [{"relationship": "self", "age": 41}, {"relationship": "spouse", "age": 39}]
        assert lead.details["medicare_interest"] is True


class TestLimits:
    async def test_too_many_quotes_from_one_address_are_refused_kindly(self, data_dir: Path) -> None:
        settings = embedded_settings(data_dir, intake={"public_rate_limit": "1/minute"})
        async with running(settings) as (_, _, frontend):
            transport = httpx.ASGITransport(app=frontend)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
                first = await _submit(browser, "auto", AUTO)
                second = await _submit(browser, "auto", {**AUTO, "contact.phone": "214-555-0135"})
        assert first.status_code == 303
        assert second.status_code == 429
        assert "too many quote requests from this address" in second.text
        assert 'value="214-555-0135"' in second.text


class TestSignedInVisitor:
    async def test_an_api_asking_for_a_sign_in_does_not_sign_the_browser_out(self, platform: Platform) -> None:
        """The form is posted without the user's token, so a 401 to it says nothing of their session."""
        api = AnsweringOn("/api/v1/quote-requests", 401, httpx.ASGITransport(app=platform.api))
        async with another_frontend(platform, api=api) as frontend:
            transport = httpx.ASGITransport(app=frontend)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
                assert (await sign_in(browser, ADMIN)).status_code == 303
                answer = await _submit(browser, "auto", AUTO)
                assert answer.status_code == 401 and SEND_AGAIN in answer.text and 'value="Reyes"' in answer.text
                assert SESSION_COOKIE in browser.cookies
                assert (await browser.get("/leads")).status_code == 200


class TestPrivacy:
    async def test_nothing_a_person_typed_reaches_the_logs(
        self, platform: Platform, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO)
        async with platform.browser() as browser:
            await _submit(browser, "auto", {**AUTO, "contact.address.zip": "00000"})
            await _submit(browser, "auto", AUTO)
            await sign_in(browser, ANA, "a wrong password")
            await sign_in(browser, ANA)
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "POST /quote" in logged  # the request log is there
        for typed in ("Dana", "Reyes", "dana@example.com", "555-0134", "5550134", ANA, PASSWORD, "wrong password"):
            assert typed not in logged

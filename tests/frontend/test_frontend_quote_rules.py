"""The quote form's pure parts: the payload built from the inputs, and where api errors land."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from leadgen.compliance.consent import consent_text_sha256
from leadgen.frontend.client import FieldError
from leadgen.frontend.quote import (
    CONSENT_TEXT_SHA256,
    LINES,
    TRAP_FIELD,
    FormField,
    line_form,
    missing_required,
    payload,
    place_errors,
    submitted_values,
    trapped,
)
from leadgen.leads.schemas import QuoteRequestCreate

USER_AGENT = "Mozilla/5.0"
QUOTE_REQUEST: TypeAdapter[Any] = TypeAdapter(QuoteRequestCreate)
# What a person may type into inputs of each kind, by the input's last name where it matters.
_SAMPLES = {"email": "dana@example.com", "tel": "214-555-0134", "date": "1980-04-02", "checkbox": "yes"}
_NUMBERS = {"year": "2019", "year_built": "1990", "zip": "75201", "age": "41", "age_first_licensed": "17"}
# A renewal date and a health cover's start are taken within years of today (``leads.schemas``).
_DATES = {
    "policy_expires_on": (datetime.now(UTC).date() + timedelta(days=30)).isoformat(),
    "coverage_start": (datetime.now(UTC).date() + timedelta(days=30)).isoformat(),
}


def _sample(f: FormField) -> str | list[str]:
    """A value the api takes for the input."""
    leaf = f.name.rpartition(".")[2]
    if f.name == "contact.address.state":
        return "TX"  # the sample ZIP's
    if f.choices:
        first = next(value for value, _ in f.choices if value)
        return [first] if f.kind == "checkboxes" else first
    if leaf in _NUMBERS:
        return _NUMBERS[leaf]
    if leaf in _DATES:
        return _DATES[leaf]
    if f.kind == "number":
        return str(f.minimum or 1)
    return _SAMPLES.get(f.kind, "Dana")


class TestPayload:
    def test_inputs_become_the_nested_request_with_lists_and_the_consent_box(self) -> None:
        values = {
            "contact.first_name": "Dana",
            "contact.address.zip": "75201",
            "contact.email": "",
            "details.drivers.0.age_first_licensed": "17",
            "details.vehicles.0.year": "2019",
            "consent": "yes",
        }
        body = payload(LINES["auto"], values, USER_AGENT)
        assert body["contact"] == {"first_name": "Dana", "address": {"zip": "75201"}}
        assert body["details"]["drivers"] == [{"age_first_licensed": "17", "sr22_required": False}]
        assert body["details"]["vehicles"] == [{"year": "2019"}]
        assert (body["line"], body["consent"], body["user_agent"]) == ("auto", True, "Mozilla/5.0")

    def test_the_server_decides_the_consent_record_and_the_rest_of_the_lead(self) -> None:
        """Only what the person entered and whether they ticked the box: the api's quote request
        refuses the consent text, time, address and page, and the lead's origin, flags and ids."""
        body = payload(LINES["auto"], {"consent": "yes"}, USER_AGENT)
        assert set(body) == {"line", "consent", "details", "user_agent"}

    def test_the_digest_the_page_posted_back_is_sent(self) -> None:
        """The digest of the page the person read, which another frontend pod may have rendered."""
        form = LINES["auto"]
        earlier = consent_text_sha256("The words an earlier release showed beside the box.")
        values = submitted_values(form, {"consent": ["yes"], "consent_text_sha256": [earlier]})
        assert payload(form, values, USER_AGENT)["consent_text_sha256"] == earlier

    def test_a_page_without_the_digest_sends_none(self) -> None:
        values = submitted_values(LINES["auto"], {"consent": ["yes"]})
        assert "consent_text_sha256" not in payload(LINES["auto"], values, USER_AGENT)

    def test_without_a_user_agent_none_is_sent(self) -> None:
        assert "user_agent" not in payload(LINES["auto"], {"consent": "yes"}, None)

    @pytest.mark.parametrize("line", list(LINES))
    def test_every_input_filled_in_is_a_quote_request_the_api_takes(self, line: str) -> None:
        """Every input of the form is a field of the api's quote request (which has no notes)."""
        form = LINES[line]
        values: dict[str, str | list[str]] = {f.name: _sample(f) for f in form.fields()}
        body = payload(form, {**values, "consent": "yes", "consent_text_sha256": CONSENT_TEXT_SHA256}, USER_AGENT)
        assert "notes" not in body
        QUOTE_REQUEST.validate_python(body)

    def test_an_unticked_box_is_sent_as_false(self) -> None:
        assert payload(LINES["auto"], {"consent": ""}, USER_AGENT)["consent"] is False

    def test_household_members_are_added_only_when_given(self) -> None:
        body = payload(LINES["health"], {"details.household.0.age": "41"}, USER_AGENT)
        assert body["details"]["household"] == [{"age": "41", "relationship": "self"}]

    def test_unknown_lines_mean_auto(self) -> None:
        assert line_form("boats").line == "auto"


class TestRequired:
    def test_lists_every_empty_required_input_and_the_consent(self) -> None:
        errors = missing_required(LINES["commercial"], {"contact.first_name": "Dana", "details.coverages": []})
        assert "contact.first_name" not in errors
        assert {"contact.last_name", "details.coverages", "consent"} <= set(errors)


class TestPlaceErrors:
    def test_api_paths_land_on_their_inputs(self) -> None:
        placed, unplaced = place_errors(
            LINES["auto"],
            [
                FieldError("details.vehicles.0.year", "Input should be greater than or equal to 1950"),
                FieldError("contact", "Value error, a phone number or an e-mail address is required"),
                FieldError("contact.address.state", "Value error, state NY does not match ZIP 75201 (TX)"),
                FieldError("consent", "Value error, must be true: only a person who agreed may be contacted"),
                FieldError("details.drivers", "List should have at least 1 item"),
                FieldError("line", "Input should be 'auto', 'home', 'life', 'health' or 'commercial'"),
            ],
        )
        assert placed["details.vehicles.0.year"] == ["Input should be greater than or equal to 1950"]
        assert placed["contact.phone"] == ["a phone number or an e-mail address is required"]
        assert placed["contact.address.state"] == ["state NY does not match ZIP 75201 (TX)"]
        assert placed["consent"] == ["must be true: only a person who agreed may be contacted"]
        assert placed["details.drivers.0.age_first_licensed"] == ["List should have at least 1 item"]
        assert unplaced == ["Input should be 'auto', 'home', 'life', 'health' or 'commercial'"]


class TestTrap:
    @pytest.mark.parametrize(
        ("read", "refused"),
        [({}, False), ({TRAP_FIELD: [""]}, False), ({TRAP_FIELD: ["  "]}, False), ({TRAP_FIELD: ["x"]}, True)],
    )
    def test_only_a_filled_in_trap_refuses_the_form(self, read: dict[str, list[str]], refused: bool) -> None:
        assert trapped(read) is refused

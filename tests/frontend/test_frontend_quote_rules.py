"""The quote form's pure parts: the payload built from the inputs, and where api errors land."""

from __future__ import annotations

from datetime import UTC, datetime

from leadgen.frontend.client import FieldError
from leadgen.frontend.quote import CONSENT_TEXT, LINES, Visit, line_form, missing_required, payload, place_errors

VISIT = Visit("https://quotes.example/quote", "203.0.113.9", "Mozilla/5.0", datetime(2026, 5, 1, 12, tzinfo=UTC))


class TestPayload:
    def test_inputs_become_the_nested_lead_with_lists_and_consent(self) -> None:
        values = {
            "contact.first_name": "Dana",
            "contact.address.zip": "75201",
            "contact.email": "",
            "details.drivers.0.age_first_licensed": "17",
            "details.vehicles.0.year": "2019",
            "consent": "yes",
        }
        body = payload(LINES["auto"], values, VISIT)
        assert body["contact"] == {"first_name": "Dana", "address": {"zip": "75201"}}
        assert body["details"]["drivers"] == [{"age_first_licensed": "17", "sr22_required": False}]
        assert body["details"]["vehicles"] == [{"year": "2019"}]
        assert body["consent"] == {
            "text": CONSENT_TEXT,
            "captured_at": "2026-05-01T12:00:00+00:00",
            "page_url": "https://quotes.example/quote",
            "ip": "203.0.113.9",
        }
        assert (body["line"], body["origin"], body["ip"]) == ("auto", "web", "203.0.113.9")

    def test_no_consent_record_without_the_box_ticked(self) -> None:
        assert "consent" not in payload(LINES["auto"], {"consent": ""}, VISIT)

    def test_a_client_address_that_is_not_an_ip_is_left_out(self) -> None:
        body = payload(LINES["auto"], {"consent": "yes"}, Visit("http://x/quote", "testclient", None, VISIT.at))
        assert "ip" not in body and "ip" not in body["consent"]

    def test_household_members_are_added_only_when_given(self) -> None:
        body = payload(LINES["health"], {"details.household.0.age": "41"}, VISIT)
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
                FieldError("auto.details.vehicles.0.year", "Input should be greater than or equal to 1950"),
                FieldError("auto.contact", "Value error, a phone number or an e-mail address is required"),
                FieldError("auto.contact.address", "Value error, state NY does not match ZIP 75201 (TX)"),
                FieldError("consent", "web-form leads must include the consent record the person agreed to"),
                FieldError("auto.details.drivers", "List should have at least 1 item"),
                FieldError("auto.landing_page", "URL too long"),
            ],
        )
        assert placed["details.vehicles.0.year"] == ["Input should be greater than or equal to 1950"]
        assert placed["contact.phone"] == ["a phone number or an e-mail address is required"]
        assert placed["contact.address.zip"] == ["state NY does not match ZIP 75201 (TX)"]
        assert "consent" in placed
        assert placed["details.drivers.0.age_first_licensed"] == ["List should have at least 1 item"]
        assert unplaced == ["URL too long"]

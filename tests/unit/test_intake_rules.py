"""Intake's pure checks: which phone numbers are US ones, time-zoned consent, where errors point."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import phonenumbers
import pytest
from pydantic import TypeAdapter, ValidationError

from leadgen.leads.normalize import parsed_phone, phone_e164
from leadgen.leads.schemas import Contact, LeadCreate, QuoteRequestCreate
from tests.conftest import lead_payload

LEADS: TypeAdapter[Any] = TypeAdapter(LeadCreate)
QUOTE_REQUESTS: TypeAdapter[Any] = TypeAdapter(QuoteRequestCreate)


def errors_of(payload: dict[str, Any]) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as refused:
        LEADS.validate_python(payload)
    return [(tuple(e["loc"]), e["msg"]) for e in refused.value.errors()]


def with_phone(phone: str) -> dict[str, Any]:
    payload = lead_payload()
    payload["contact"]["phone"] = phone
    return payload


class TestUsPhoneNumbers:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("(512) 555-0147", "+15125550147"),
            ("+1 512 555 0147", "+15125550147"),
            ("(787) 555-0123", "+17875550123"),  # Puerto Rico
            ("340-555-0123", "+13405550123"),  # US Virgin Islands
            ("671-555-0123", "+16715550123"),  # Guam
            ("684-733-1234", "+16847331234"),  # American Samoa
            ("670-555-0123", "+16705550123"),  # Northern Mariana Islands
            ("+44 20 7946 0958", None),
            ("+52 55 1234 5678", None),
            ("416-555-0199", None),  # Toronto: +1, but Canada
            ("876-555-0123", None),  # Jamaica: +1, but not the US
            ("12", None),
        ],
    )
    def test_only_the_us_and_its_territories(self, raw: str, expected: str | None) -> None:
        number = parsed_phone(raw)
        assert (number.e164 if number and number.in_us else None) == expected

    def test_opt_outs_still_read_any_valid_number(self) -> None:
        """A person who asks not to be contacted is listed whatever their number (leads stored
        before intake took only US numbers may carry a foreign one)."""
        assert phone_e164("+44 20 7946 0958") == "+442079460958"
        assert phone_e164("416-555-0199") == "+14165550199"

    @pytest.mark.parametrize("foreign", ["+44 20 7946 0958", "+52 55 1234 5678", "416-555-0199"])
    def test_a_lead_with_a_foreign_number_is_refused_on_its_phone(self, foreign: str) -> None:
        assert errors_of(with_phone(foreign)) == [(("auto", "contact", "phone"), "Value error, not a US phone number")]

    def test_a_number_that_is_none_at_all_says_so(self) -> None:
        assert errors_of(with_phone("12")) == [
            (("auto", "contact", "phone"), "Value error, not a valid US phone number")
        ]

    def test_a_territory_number_is_stored_in_e164(self) -> None:
        assert LEADS.validate_python(with_phone("(787) 555-0123")).contact.phone == "+17875550123"

    def test_the_number_is_parsed_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        parse = phonenumbers.parse
        calls: list[str] = []

        def counted(raw: str, region: str) -> phonenumbers.PhoneNumber:
            calls.append(raw)
            return parse(raw, region)

        monkeypatch.setattr(phonenumbers, "parse", counted)
        for raw in ("(512) 555-0147", "416-555-0199", "12"):
            calls.clear()
            with suppress(ValidationError):
                Contact.model_validate(with_phone(raw)["contact"])
            assert calls == [raw]


class TestExternalId:
    @pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
    def test_a_blank_id_is_no_id(self, blank: str) -> None:
        assert LEADS.validate_python(lead_payload(external_id=blank)).external_id is None

    def test_an_id_is_kept_without_its_spaces(self) -> None:
        assert LEADS.validate_python(lead_payload(external_id=" vendor-42 ")).external_id == "vendor-42"


class TestConsentTime:
    @pytest.mark.parametrize("captured_at", ["2026-01-01T10:00:00", "2026-01-01 10:00"])
    def test_a_time_without_its_zone_is_refused(self, captured_at: str) -> None:
        payload = lead_payload()
        payload["consent"]["captured_at"] = captured_at
        [(loc, message)] = errors_of(payload)
        assert loc == ("auto", "consent", "captured_at") and "timezone" in message

    def test_an_offset_is_a_zone(self) -> None:
        payload = lead_payload()
        payload["consent"]["captured_at"] = "2026-01-01T10:00:00-06:00"
        assert LEADS.validate_python(payload).consent.captured_at.utcoffset() is not None


class TestStateAndZip:
    def test_a_state_the_zip_is_not_in_is_refused_on_the_state(self) -> None:
        payload = lead_payload()
        payload["contact"]["address"]["state"] = "ca"
        assert errors_of(payload) == [
            (("auto", "contact", "address", "state"), "Value error, state CA does not match ZIP 78701 (TX)")
        ]

    def test_the_state_comes_from_the_zip_when_absent_and_is_checked_when_given(self) -> None:
        assert LEADS.validate_python(lead_payload()).contact.address.state == "TX"
        payload = lead_payload()
        payload["contact"]["address"]["state"] = "tx"
        assert LEADS.validate_python(payload).contact.address.state == "TX"

    def test_a_refused_zip_is_not_compared_with_the_state(self) -> None:
        payload = lead_payload()
        payload["contact"]["address"].update(zip="ABCDE", state="CA")
        assert [loc for loc, _ in errors_of(payload)] == [("auto", "contact", "address", "zip")]


class TestLine:
    @pytest.mark.parametrize("adapter", [LEADS, QUOTE_REQUESTS])
    @pytest.mark.parametrize(
        ("line", "message"),
        [
            (None, "Field required: one of 'auto', 'home', 'life', 'health' or 'commercial'"),
            ("boat", "Input should be 'auto', 'home', 'life', 'health' or 'commercial'"),
            (["auto"], "Input should be 'auto', 'home', 'life', 'health' or 'commercial'"),
        ],
    )
    def test_a_missing_or_unknown_line_names_the_lines(
        self, adapter: TypeAdapter[Any], line: object, message: str
    ) -> None:
        payload = lead_payload() if line is None else lead_payload(line=line)
        if line is None:
            del payload["line"]
        with pytest.raises(ValidationError) as refused:
            adapter.validate_python(payload)
        [error] = refused.value.errors()
        assert (error["msg"], error["ctx"]["discriminator"]) == (message, "line")

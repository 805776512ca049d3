"""Which states a ZIP code serves, and what a consent record a source sends must say: pure rules."""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from pydantic import TypeAdapter, ValidationError

from leadgen.compliance.rules import sent_consent_problems
from leadgen.leads.geography import state_for_zip, states_for_zip
from leadgen.leads.schemas import Address

ADDRESS = TypeAdapter(Address)
REQUIRED_IP = "required for a web-form lead: the IP address the person agreed from"
REQUIRED_PAGE = "required for a web-form lead: the page the person agreed on"
NOT_A_PERSONS = "a loopback, private, link-local or reserved address cannot be the person's"


class TestAddress:
    @pytest.mark.parametrize(
        ("zip_code", "state"),
        [("97635", "CA"), ("97635", "OR"), ("42223", "TN"), ("42223", "KY"), ("73949", "TX"), ("73960", "TX")],
        ids=[
            "new-pine-creek-ca",
            "new-pine-creek-or",
            "fort-campbell-tn",
            "fort-campbell-ky",
            "texhoma-ok",
            "texhoma-tx",
        ],
    )
    def test_each_state_a_zip_serves_is_taken(self, zip_code: str, state: str) -> None:
        assert ADDRESS.validate_python({"zip": zip_code, "state": state}).state == state

    @pytest.mark.parametrize("zip_code", ["97635", "42223", "73949"])
    def test_without_the_state_a_zip_of_two_states_is_refused_on_the_state(self, zip_code: str) -> None:
        with pytest.raises(ValidationError) as refused:
            ADDRESS.validate_python({"zip": zip_code})
        [error] = refused.value.errors()
        assert error["loc"] == ("state",)
        assert f"ZIP {zip_code} serves more than one state: give the state" in error["msg"]

    def test_texhoma_texas_has_a_texas_zip_in_oklahomas_prefix(self) -> None:
        assert ADDRESS.validate_python({"zip": "73960"}).state == "TX"
        with pytest.raises(ValidationError, match=r"state OK does not match ZIP 73960 \(TX\)"):
            ADDRESS.validate_python({"zip": "73960", "state": "OK"})

    def test_a_state_the_zip_does_not_serve_is_refused_naming_those_it_does(self) -> None:
        with pytest.raises(ValidationError, match=r"state NV does not match ZIP 97635 \(OR or CA\)"):
            ADDRESS.validate_python({"zip": "97635", "state": "NV"})

    def test_a_zip_of_one_state_still_names_it(self) -> None:
        assert ADDRESS.validate_python({"zip": "78701-1234"}).state == "TX"
        assert (state_for_zip("42223"), states_for_zip("42223"), states_for_zip("78701")) == (
            "KY",
            ("KY", "TN"),
            ("TX",),
        )


class TestSentConsent:
    @pytest.mark.parametrize(
        "ip",
        ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "100.64.0.1", "169.254.1.1", "0.0.0.0", "240.0.0.1",
         "::1", "fe80::1", "fd12:3456::1", "::ffff:10.0.0.1", "ff02::1"],
    )  # fmt: skip
    def test_no_persons_address_is_refused_for_any_origin(self, ip: str) -> None:
        for origin in ("web", "phone"):
            assert sent_consent_problems(origin, ip_address(ip), "https://quotes.example.com/") == {"ip": NOT_A_PERSONS}

    @pytest.mark.parametrize("ip", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "203.0.113.7", "2001:db8::7"])
    def test_a_public_or_documentation_address_is_taken(self, ip: str) -> None:
        assert sent_consent_problems("web", ip_address(ip), "https://quotes.example.com/") == {}

    def test_only_a_web_forms_record_needs_the_address_and_the_page(self) -> None:
        assert sent_consent_problems("web", None, None) == {"ip": REQUIRED_IP, "page_url": REQUIRED_PAGE}
        assert sent_consent_problems("phone", None, None) == {}
        assert sent_consent_problems("referral", None, None) == {}

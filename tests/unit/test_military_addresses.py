"""Military post offices abroad (APO, FPO, DPO) are refused for what they are, not as unknown ZIPs:
agents are licensed by state, and no state covers a person there, so their lead could go to nobody."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from leadgen.leads.geography import MILITARY_ADDRESS_REFUSED, is_military_zip, state_for_zip
from leadgen.leads.schemas import LeadCreate
from tests.conftest import lead_payload

LEAD = TypeAdapter[Any](LeadCreate)


def refusals(address: dict[str, str]) -> dict[str, str]:
    """The reason given for each field of the address, by its path in the body."""
    payload = lead_payload()
    payload["contact"]["address"] = {"city": "APO", **address}
    with pytest.raises(ValidationError) as refused:
        LEAD.validate_python(payload)
    return {".".join(map(str, e["loc"][1:])): e["msg"] for e in refused.value.errors()}


@pytest.mark.parametrize(
    ("zip_code", "code"),
    [("09012", "AE"), ("09801-1234", "AE"), ("34035", "AA"), ("96201", "AP"), ("96698", "AP")],
)
def test_a_military_zip_and_its_code_are_refused_as_military(zip_code: str, code: str) -> None:
    reason = f"Value error, {MILITARY_ADDRESS_REFUSED}"
    assert refusals({"zip": zip_code, "state": code}) == {
        "contact.address.zip": reason,
        "contact.address.state": reason,
    }
    assert refusals({"zip": zip_code}) == {"contact.address.zip": reason}


@pytest.mark.parametrize("code", ["AE", "aa", "Ap"])
def test_a_military_code_beside_a_state_zip_is_refused_as_military(code: str) -> None:
    assert refusals({"zip": "78701", "state": code}) == {
        "contact.address.state": f"Value error, {MILITARY_ADDRESS_REFUSED}"
    }


def test_the_military_prefixes_are_exactly_those_of_no_state() -> None:
    military = {prefix for prefix in range(1000) if is_military_zip(f"{prefix:03d}00")}
    assert military == {*range(90, 99), 340, *range(962, 967)}
    assert all(state_for_zip(f"{prefix:03d}00") is None for prefix in military)


def test_other_unknown_places_are_still_no_us_zip_or_state() -> None:
    assert refusals({"zip": "00000", "state": "ZZ"}) == {
        "contact.address.zip": "Value error, not a US ZIP code",
        "contact.address.state": "Value error, not a US state code",
    }

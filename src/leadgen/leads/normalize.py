"""Pure normalisation of contact data: E.164 phones, e-mail, ZIP and address keys."""

from __future__ import annotations

import re

import phonenumbers

_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")
_SPACES = re.compile(r"\s+")
_ADDRESS_WORDS = {
    "street": "st",
    "avenue": "ave",
    "road": "rd",
    "drive": "dr",
    "lane": "ln",
    "boulevard": "blvd",
    "court": "ct",
    "place": "pl",
    "apartment": "apt",
    "suite": "ste",
}


def phone_e164(raw: str) -> str | None:
    """A US phone number in E.164 form, or None when it is not a valid number."""
    try:
        number = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_key(raw: str) -> str:
    return raw.strip().lower()


def zip5(raw: str) -> str | None:
    match = _ZIP.match(raw.strip())
    return match.group(1) if match else None


def address_key(street: str | None, zip_code: str) -> str | None:
    """The street and ZIP reduced to a comparable form ("12 Oak Street" == "12 oak st.")."""
    if not street:
        return None
    words = re.sub(r"[^\w\s]", " ", street.lower()).split()
    return " ".join(_ADDRESS_WORDS.get(w, w) for w in words) + f" {zip_code}"


def clean_text(raw: str) -> str:
    return _SPACES.sub(" ", raw).strip()

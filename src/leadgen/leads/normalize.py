"""Pure normalisation of contact data: E.164 phones and their extensions, e-mail, ZIP and address keys."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

# ASCII digits only: \d alone also takes Arabic-Indic or fullwidth ones, which no ZIP is written in.
_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$", re.ASCII)
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


# The US and the territories that share its +1 numbering plan with it (Puerto Rico, the US Virgin
# Islands, Guam, American Samoa, the Northern Mariana Islands); Canada and the Caribbean states
# share +1 but are other countries. phonenumberslite keeps the region metadata this needs.
US_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})
# The longest extension intake keeps: no switchboard's is longer (phonenumbers reads up to 20 digits).
PHONE_EXTENSION_MAX_DIGITS = 10


@dataclass(frozen=True)
class Phone:
    """A valid phone number: its E.164 form, the region it belongs to, and the extension written
    after it ("ext. 101", "x101", "#101"), in ASCII digits. E.164 has no extension: the number alone
    is what reaches the switchboard, and what opt-outs and erasures name."""

    e164: str
    region: str | None
    extension: str | None = None

    @property
    def in_us(self) -> bool:
        """Of the US or one of its territories."""
        return self.region in US_REGIONS


def parsed_phone(raw: str) -> Phone | None:
    """The number (one without a country code read as a US one), or None when it is no valid number."""
    try:
        number = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # The extension as typed may be in fullwidth or Arabic-Indic digits.
    extension = phonenumbers.normalize_digits_only(number.extension) if number.extension else None
    return Phone(e164, phonenumbers.region_code_for_number(number), extension or None)


def phone_e164(raw: str) -> str | None:
    """Any valid phone number in E.164 form, without its extension, or None when it is not one.

    What people ask of us is matched with this (opt-outs, erasure, an agency's do-not-contact
    list): a request to stop is honoured whatever the number, including one a lead stored before
    intake took only US numbers, and for every extension of it. Intake itself takes only
    ``Phone.in_us`` numbers.
    """
    number = parsed_phone(raw)
    return number.e164 if number else None


def email_key(raw: str) -> str:
    return raw.strip().lower()


def zip5(raw: str) -> str | None:
    match = _ZIP.match(raw.strip())
    return match.group(1) if match else None


def address_key(street: str | None, zip_code: str) -> str | None:
    """The street and ZIP reduced to a comparable form ("12 Oak Street" == "12 oak st."; fullwidth
    or composed letters as their plain forms). None for a street with no word in it ("-", "."):
    every such lead of a ZIP would share one key, and be linked as one household."""
    if not street:
        return None
    words = re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFKC", street).casefold()).split()
    if not words:
        return None
    return " ".join(_ADDRESS_WORDS.get(w, w) for w in words) + f" {zip_code}"


def clean_text(raw: str) -> str:
    return _SPACES.sub(" ", raw).strip()

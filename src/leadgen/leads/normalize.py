"""Pure normalisation and checks of contact data: E.164 phones, their extensions and types, e-mail, ZIP,
address keys, and the characters a person's name or text may hold."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

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
# Numbers that reach a service rather than a person (phonenumbers' types): a premium-rate line
# charges the caller, a toll-free or shared-cost one bills the business that owns it, a personal
# (500, "follow-me") number forwards to wherever its owner points it. A person asking for an
# insurance quote is reached at a fixed-line, mobile or VoIP number (or one of unknown type).
_SERVICE_NUMBERS = {
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal (follow-me) number",
    PhoneNumberType.UAN: "a universal access number",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
    PhoneNumberType.PAGER: "a pager number",
}


@dataclass(frozen=True)
class Phone:
    """A valid phone number: its E.164 form, the region it belongs to, and the extension written
    after it ("ext. 101", "x101", "#101"), in ASCII digits. E.164 has no extension: the number alone
    is what reaches the switchboard, and what opt-outs and erasures name."""

    e164: str
    region: str | None
    extension: str | None = None
    number_type: int = PhoneNumberType.UNKNOWN

    @property
    def in_us(self) -> bool:
        """Of the US or one of its territories."""
        return self.region in US_REGIONS

    @property
    def service(self) -> str | None:
        """What kind of service the number reaches ("a toll-free number"), or None for a number of a
        person. Intake takes only a person's; an opt-out or erasure is honoured for any number."""
        return _SERVICE_NUMBERS.get(self.number_type)


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
    region = phonenumbers.region_code_for_number(number)
    return Phone(e164, region, extension or None, phonenumbers.number_type(number))


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


# What nobody types into a form: the C0 and C1 control characters (DEL among them), which make a
# terminal or log viewer move, clear or recolour what it shows, and the bidirectional embeddings,
# overrides and isolates, which make text display in another order than it is stored (a name shown
# reversed, a note hiding what it says). Text written over several lines keeps its line breaks and tabs.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROLS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BIDI_CONTROLS = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def text_refusal(text: str, multiline: bool = False) -> str | None:
    """Why ``text`` is not one a person wrote (a control or bidirectional character in it), or None.
    ``multiline`` text may hold line breaks and tabs."""
    control = (_CONTROLS_BUT_LINES if multiline else _CONTROLS).search(text)
    if control is not None:
        allowed = " other than line breaks and tabs" if multiline else ""
        return f"must not contain control characters{allowed} (U+{ord(control.group()):04X})"
    bidi = _BIDI_CONTROLS.search(text)
    if bidi is not None:
        return f"must not contain bidirectional override or isolate characters (U+{ord(bidi.group()):04X})"
    return None


def name_refusal(name: str) -> str | None:
    """Why ``name`` is no person's name (it has no letter, of any script), or None."""
    if not any(unicodedata.category(c).startswith("L") for c in name):
        return "should contain a letter"
    return None
